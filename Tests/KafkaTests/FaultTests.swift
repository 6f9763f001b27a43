import Foundation
import Kafka
import Testing

@Suite("Broker faults", .timeLimit(.minutes(2)))
struct FaultTests {
    @Test func acknowledgedMessagesSurviveBrokerFaultsAndTheConsumerRecovers() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 3, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("ft", partitions: 6, replicationFactor: 3)
        let producer = try KafkaProducer(
            configuration: producerConfiguration(cluster, ["message.timeout.ms": "45000", "retry.backoff.ms": "50"]),
            logger: logger)
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(cluster, group: uniqueName("ft")), logger: logger)
        try consumer.subscribe(topics: ["ft"])
        let seen = Locked<Set<String>>([])
        let reader = Task {
            for try await message in consumer.messages {
                if let value = message.value {
                    seen.withLockedValue { _ = $0.insert(String(decoding: value, as: UTF8.self)) }
                }
                try consumer.storeOffset(message)
            }
        }
        var acknowledged: [String] = []
        func publish(_ phase: String, count: Int) async throws -> [String] {
            let values = (0..<count).map { "\(phase)-\($0)" }
            let results = try await producer.sendAllSettled(
                values.map { KafkaProducerMessage(topic: "ft", key: $0, value: Data($0.utf8)) })
            return zip(values, results).compactMap { value, result in (try? result.get()) != nil ? value : nil }
        }

        acknowledged += try await publish("calm", count: 200)

        // Retriable produce errors injected by the broker: idempotent retries deliver everything once.
        try cluster.pushRequestErrors(
            apiKey: KafkaAPIKey.produce,
            errors: [
                KafkaErrorCodes.notEnoughReplicas, KafkaErrorCodes.notEnoughReplicas,
                KafkaErrorCodes.notLeaderForPartition,
                KafkaErrorCodes.requestTimedOut,
            ])
        let injected = try await publish("injected", count: 200)
        #expect(injected.count == 200)
        acknowledged += injected

        // A broker goes down while we publish, and comes back.
        try cluster.setBrokerDown(2)
        let during = Task { try await publish("down", count: 300) }
        try await Task.sleep(for: .seconds(2))
        try cluster.setBrokerUp(2)
        let downAcknowledged = try await during.value
        #expect(downAcknowledged.count == 300, "every message sent during the outage is acknowledged after recovery")
        acknowledged += downAcknowledged

        acknowledged += try await publish("after", count: 100)

        let complete = try await eventually(timeout: .seconds(45)) {
            seen.withLockedValue { Set(acknowledged).isSubset(of: $0) }
        }
        let missing = seen.withLockedValue { Set(acknowledged).subtracting($0) }
        #expect(
            complete,
            "the consumer saw every acknowledged message; missing \(missing.count): \(missing.sorted().prefix(5))")
        reader.cancel()
        await consumer.close(timeout: .seconds(10))
        await producer.close(timeout: .seconds(10))
    }
}
