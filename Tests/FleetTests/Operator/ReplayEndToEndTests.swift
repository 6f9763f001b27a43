import Foundation
import Kafka
import Logging
import Payments
import Testing

@testable import Fleet

/// Dead letters replayed into a running worker (embedded broker, real sandbox, real ingress logic):
/// replaying the same record twice is harmless, and `payfleet order show` tells the order's story.
@Suite("Dead-letter replay into a running worker", .serialized)
struct ReplayEndToEndTests {
    /// Waits until the worker group committed every record of `partitions` written so far.
    static func waitUntilCommitted(
        _ partitions: [KafkaTopicPartition], group: String, kafka: KafkaConfiguration, logger: Logger
    ) async throws {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(kafka: kafka, groupID: group), logger: logger)
        defer { Task { await consumer.close(timeout: .seconds(5)) } }
        var targets: [KafkaTopicPartition: Int64] = [:]
        for partition in partitions {
            targets[partition] = try await consumer.watermarks(topic: partition.topic, partition: partition.partition)
                .high
        }
        while true {
            let committed = try await consumer.committedOffsets(partitions)
            let done = committed.allSatisfy { offset in
                let target = targets[offset.topicPartition] ?? 0
                return target <= 0 || offset.offset >= target
            }
            if done { return }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    @Test(
        "a create and a refused callback each replayed twice: one order, one succeeded, no anomaly; order show tells it",
        .timeLimit(.minutes(4)))
    func replayTwiceIsHarmless() async throws {
        let stack = try await EndToEndStack(
            partitions: 2, autopay: .milliseconds(300), logger: FleetWorkerEndToEndTests.logger())
        let logger = stack.logger
        let settings = stack.workerSettings()
        let worker = FleetWorker(settings: settings, channels: stack.registry, logger: logger, health: stack.health)
        let workerTask = Task { try await worker.run() }
        let kafka = stack.cluster.configuration()
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        let registry = stack.registry
        let ingress = CallbackIngress(settings: IngressSettings(), publisher: producer, logger: logger) {
            registry.channel(for: $0)
        }
        let replayer = DeadLetterReplayer(publisher: producer, ingress: ingress)
        let order = "RP\(Int.random(in: 100_000...999_999))"
        let merchant = try #require(EndToEndStack.demoAliases[.storepos])

        // A create that was dead-lettered while its merchant was not configured; the cause is fixed now.
        let create = EndToEndStack.create(.storepos, outTradeNo: order, amount: 1500)
        let original = KafkaConsumerMessage(
            topic: create.topic, partition: 1, offset: 7, key: create.key, value: create.value,
            headers: [KafkaHeader(key: "client.id", string: "upstream")])
        _ = try await producer.send(
            DeadLetter(reason: .unknownMerchant, detail: "not configured then", message: original, role: "worker")
                .message())
        let creates = try await DeadLetterReader.read(
            filter: DeadLetterFilter(reason: "unknown_merchant", sourceTopic: FleetTopic.orderRequests), kafka: kafka,
            logger: logger)
        #expect(creates.count == 1)
        #expect(await replayer.replay(creates, dryRun: false).map(\.result) == ["written"])
        #expect(await replayer.replay(creates, dryRun: false).map(\.result) == ["written"])

        _ = try await FleetWorkerEndToEndTests.collectEvents(stack.cluster, logger: logger, timeout: .seconds(90)) {
            events in events.contains { $0.subject == order && $0.type == PaymentEvent.Kind.succeeded.rawValue }
        }

        // The genuine callback, as if the ingress had refused it (e.g. keys rotated late), replayed twice.
        let found = try await OrderLookup.read(outTradeNo: order, kafka: kafka, logger: logger)
        let genuine = try #require(found.records[FleetTopic.callbacks]?.first)
        let letter = DeadLetter(
            reason: .badSignature, detail: "did not verify then", sourceTopic: "http:/notify/storepos/\(merchant)",
            sourcePartition: -1, sourceOffset: -1, role: "ingress", key: nil, value: genuine.value,
            originalHeaders: genuine.headers)
        _ = try await producer.send(letter.message())
        let refused = try await DeadLetterReader.read(
            filter: DeadLetterFilter(reason: "bad_signature", sourceTopic: "http:"), kafka: kafka, logger: logger)
        #expect(refused.count == 1)
        #expect(await replayer.replay(refused, dryRun: false).map(\.result) == ["accepted"])
        #expect(await replayer.replay(refused, dryRun: false).map(\.result) == ["accepted"])

        let partition = KafkaPartitioner.partition(forKey: order, partitionCount: 2)
        try await Self.waitUntilCommitted(
            FleetTopic.workerInputs.map { KafkaTopicPartition(topic: $0, partition: partition) },
            group: settings.groupID, kafka: kafka, logger: logger)

        let story = OrderTimeline(
            outTradeNo: order,
            records: try await OrderLookup.read(outTradeNo: order, kafka: kafka, logger: logger).records)
        let events = story.entries.filter { $0.kind == .event }.map(\.summary)
        #expect(events.filter { $0.hasPrefix("succeeded") }.count == 1, "\(events)")
        #expect(!events.contains { $0.hasPrefix("anomaly") || $0.hasPrefix("rejected") }, "\(events)")
        #expect(events.first?.hasPrefix("prepared") == true, "\(events)")
        #expect(story.current?.state?.status == .succeeded)
        #expect(story.current?.state?.payment?.amountFen == 1500)
        let requests = story.entries.filter { $0.kind == .request }
        #expect(requests.count == 2)
        #expect(
            requests.allSatisfy { $0.details[DeadLetterReplayer.replayedFromHeader] == .string(creates[0].coordinates) }
        )
        #expect(story.entries.filter { $0.kind == .callback }.count >= 3)
        #expect(story.text().contains("state: succeeded"))

        worker.triggerGracefulShutdown()
        try await workerTask.value
        await producer.close(timeout: .seconds(5))
        await stack.stop()
    }
}
