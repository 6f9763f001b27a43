import Fleet
import FleetDev
import Foundation
import Kafka
import Logging
import Payments
import Testing

/// Upstream producers that do not partition by murmur2: librdkafka's default partitioner
/// (`consistent_random`, CRC32 of the key) in kcat, confluent-kafka, Go and Node clients. The orders
/// are written by kcat with its defaults, a client PayFleet did not write.
@Suite("Requests from a producer with another partitioner (payfleet binary, kcat)", .serialized)
struct ReroutingTests {
    @Test(
        "kcat with its default partitioner, two workers: every order succeeds once, no anomaly, check lists the forwarded records",
        .timeLimit(.minutes(4)))
    func consistentRandomProducer() async throws {
        let kcat = "/usr/bin/kcat"
        try #require(FileManager.default.isExecutableFile(atPath: kcat), "kcat is installed by scripts/bootstrap.sh")
        let fleet = try await ProcessFleet(name: "reroute")
        defer { fleet.stop() }
        _ = try await fleet.startScheduler("scheduler")
        _ = try await fleet.startWorker("worker-a")
        _ = try await fleet.startWorker("worker-b")
        let collector = try EventCollector(kafka: fleet.kafka, logger: fleet.logger)
        let collecting = Task { try await collector.run() }
        defer { collecting.cancel() }

        let run = UUID().uuidString.prefix(5).uppercased()
        let orders = (0..<60).map { index in
            DemoOrder.sample(
                channel: .storepos, outTradeNo: "RR\(run)\(String(format: "%03d", index))", amountFen: 1200,
                description: "rerouted")
        }
        var input = ""
        for order in orders {
            let json = String(decoding: order.requestJSON, as: UTF8.self)
            try #require(!json.contains("|") && !json.contains("\n"))
            input += "\(order.outTradeNo)|\(json)\n"
        }
        // kcat's defaults: no partitioner property, so librdkafka's consistent_random.
        let producer = Process()
        producer.executableURL = URL(fileURLWithPath: kcat)
        producer.arguments = [
            "-b", fleet.servers, "-P", "-t", FleetTopic.orderRequests, "-K", "|", "-H", "client.id=kcat-upstream",
        ]
        let stdin = Pipe()
        let stderr = Pipe()
        producer.standardInput = stdin
        producer.standardError = stderr
        producer.standardOutput = FileHandle.nullDevice
        try producer.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        producer.waitUntilExit()
        let kcatErrors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(producer.terminationStatus == 0, "kcat -P: \(kcatErrors)")

        let expected = Set(orders.map(\.outTradeNo))
        let events = try await collector.waitUntil(timeout: .seconds(120)) { events in
            Set(
                events.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue && expected.contains($0.subject) }.map(
                    \.subject)
            )
            .count == expected.count
        }
        // Late duplicates (callback retries) have a moment to show up before the check.
        try await Task.sleep(for: .seconds(3))
        let all = collector.snapshot().filter { expected.contains($0.subject) }
        let succeeded = Set(all.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject)).count
        let anomalies = all.filter { $0.type == PaymentEvent.Kind.anomaly.rawValue }.count
        print(
            "consistent_random producer, 2 workers: \(orders.count) orders, \(succeeded) succeeded, \(anomalies) anomalies"
        )
        for order in orders {
            let types = all.filter { $0.subject == order.outTradeNo }.map(\.type)
            #expect(
                types.filter { $0 == PaymentEvent.Kind.succeeded.rawValue }.count == 1, "\(order.outTradeNo): \(types)")
        }
        #expect(
            all.filter { $0.type == PaymentEvent.Kind.anomaly.rawValue }.isEmpty,
            "anomalies: \(all.filter { $0.type == PaymentEvent.Kind.anomaly.rawValue }.map { "\($0.subject) \($0.data["anomaly"] ?? .null)" })"
        )
        #expect(events.count >= orders.count)

        let topics = [FleetTopic.orderRequests, FleetTopic.paymentEvents, FleetTopic.callbacks, FleetTopic.queryJobs]
        let snapshot = try await TopicSnapshot.snapshot(topics: topics, kafka: fleet.kafka, logger: fleet.logger)
        let acknowledged = try await SandboxCallbackHistory.acknowledged(sandboxURL: fleet.sandboxURL)
        let report = InvariantChecker(requireTerminal: true, only: expected).check(
            requests: snapshot.records[FleetTopic.orderRequests] ?? [],
            events: snapshot.records[FleetTopic.paymentEvents] ?? [],
            callbacks: snapshot.records[FleetTopic.callbacks] ?? [], acknowledged: acknowledged,
            queryJobs: snapshot.records[FleetTopic.queryJobs] ?? [], partitionCounts: snapshot.partitionCounts)
        #expect(report.violations.isEmpty, "\(report.violations)")
        #expect(report.acceptedOrders == orders.count)
        // With 12 partitions CRC32 and murmur2 agree for about one key in twelve: most were moved.
        #expect(report.misplaced.count >= orders.count / 2, "misplaced: \(report.misplaced.count)")
        let unforwarded = report.misplaced.filter { !$0.forwarded }
        #expect(unforwarded.isEmpty, "\(unforwarded)")
        #expect(report.misplaced.allSatisfy { $0.topic == FleetTopic.orderRequests })
        await collector.close()
    }
}
