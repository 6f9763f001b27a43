import Foundation
import Kafka
import Logging
import Testing

@testable import Fleet

/// Without transactions, a crash can leave any part of a group of outputs durable. The sender
/// writes a write's order-state records only after its other records were acknowledged, so the
/// state is never ahead of the events it implies: a replayed input then repeats them.
@Suite("Output sender without transactions: state last", .serialized)
struct OutputSenderStateLastTests {
    static let events = "state-last-events"

    static func values(_ cluster: EmbeddedKafkaCluster, topic: String, logger: Logger) async throws -> [String] {
        try await withKafkaPartitionReader(configuration: cluster.configuration(), logger: logger) { reader in
            var values: [String] = []
            for try await message in reader.readToEnd(topic: topic, partitions: [0]) {
                values.append(String(decoding: message.value ?? Data(), as: UTF8.self))
            }
            return values
        }
    }

    /// Runs `body` with an output sender without transactions on a fresh embedded broker; returns
    /// the values then in the order-state topic and in the events topic.
    static func withPlainSender(
        groupInterval: Duration = .zero, _ body: (OutputSender) async throws -> Void
    ) async throws -> (states: [String], events: [String]) {
        let logger = FleetWorkerEndToEndTests.logger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic(FleetTopic.orderState, partitions: 1)
        try cluster.createTopic(Self.events, partitions: 1)
        try await withKafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: cluster.configuration()), logger: logger
        ) { producer in
            try await body(
                OutputSender(
                    producer: producer, mode: .plain, metrics: nil, logger: logger, groupInterval: groupInterval))
        }
        return (
            try await values(cluster, topic: FleetTopic.orderState, logger: logger),
            try await values(cluster, topic: Self.events, logger: logger)
        )
    }

    static func succeeded(_ result: Result<KafkaDeliveryReport, KafkaError>) -> Bool {
        if case .success = result { true } else { false }
    }

    @Test("with a group interval, the next group starts no sooner and the writes that arrived meanwhile go in it")
    func groupInterval() async throws {
        let interval = Duration.milliseconds(400)
        let clock = ContinuousClock()
        let written = try await Self.withPlainSender(groupInterval: interval) { sender in
            let first = clock.now
            let alone = try await sender.send(
                [KafkaProducerMessage(topic: Self.events, key: "A", value: Data("event-A".utf8))], scope: nil)
            #expect(alone.allSatisfy(Self.succeeded))
            // Three writes while the next group waits for its turn: all durable, none before the interval.
            try await withThrowingTaskGroup(of: Duration.self) { group in
                for key in ["B", "C", "D"] {
                    group.addTask {
                        let results = try await sender.send(
                            [
                                KafkaProducerMessage(topic: Self.events, key: key, value: Data("event-\(key)".utf8)),
                                KafkaProducerMessage(
                                    topic: FleetTopic.orderState, key: key, value: Data("state-\(key)".utf8)),
                            ], scope: nil)
                        #expect(results.allSatisfy(Self.succeeded), "\(results)")
                        return first.duration(to: clock.now)
                    }
                }
                for try await elapsed in group {
                    #expect(elapsed >= interval, "a write was durable \(elapsed) after the first group started")
                }
            }
        }
        #expect(written.events.first == "event-A")
        #expect(Set(written.events.dropFirst()) == ["event-B", "event-C", "event-D"])
        #expect(Set(written.states) == ["state-B", "state-C", "state-D"])
    }

    @Test("a write whose event is refused does not write its state; a write whose event is durable does")
    func stateIsWrittenOnlyAfterTheOtherRecords() async throws {
        let written = try await Self.withPlainSender { sender in
            // The event is larger than the producer's message.max.bytes (1,000,000): refused for good.
            let refused = try await sender.send(
                [
                    KafkaProducerMessage(topic: FleetTopic.orderState, key: "A", value: Data("state-A".utf8)),
                    KafkaProducerMessage(topic: Self.events, key: "A", value: Data(repeating: 0x41, count: 1_100_000)),
                ], scope: nil)
            #expect(refused.count == 2)
            #expect(!refused.contains(where: Self.succeeded), "\(refused)")
            // The state record failed with the event's error, without being sent.
            if case .failure(let state) = refused[0], case .failure(let event) = refused[1] {
                #expect(state.message == event.message)
            }

            let durable = try await sender.send(
                [
                    KafkaProducerMessage(topic: FleetTopic.orderState, key: "B", value: Data("state-B".utf8)),
                    KafkaProducerMessage(topic: Self.events, key: "B", value: Data("event-B".utf8)),
                ], scope: nil)
            #expect(durable.allSatisfy(Self.succeeded), "\(durable)")
            // State records only: one batch, written as they are.
            let alone = try await sender.send(
                [KafkaProducerMessage(topic: FleetTopic.orderState, key: "C", value: Data("state-C".utf8))], scope: nil)
            #expect(alone.allSatisfy(Self.succeeded))
        }
        #expect(written.states == ["state-B", "state-C"])
        #expect(written.events == ["event-B"])
    }

    @Test("writes grouped together: each write's state waits for its own records only")
    func groupedWritesKeepTheirOwnState() async throws {
        let written = try await Self.withPlainSender { sender in
            // Many writes at once: they share groups, some with a refused event.
            try await withThrowingTaskGroup(of: (Int, [Result<KafkaDeliveryReport, KafkaError>]).self) { group in
                for index in 0..<20 {
                    group.addTask {
                        let size = index % 4 == 0 ? 1_100_000 : 8
                        let results = try await sender.send(
                            [
                                KafkaProducerMessage(
                                    topic: Self.events, key: "K\(index)", value: Data(repeating: 0x41, count: size)),
                                KafkaProducerMessage(
                                    topic: FleetTopic.orderState, key: "K\(index)", value: Data("state-\(index)".utf8)),
                            ], scope: nil)
                        return (index, results)
                    }
                }
                for try await (index, results) in group {
                    #expect(results.allSatisfy(Self.succeeded) == (index % 4 != 0), "write \(index): \(results)")
                }
            }
        }
        let states = written.states
        #expect(Set(states) == Set((0..<20).filter { $0 % 4 != 0 }.map { "state-\($0)" }))
        #expect(states.count == 15)
    }
}
