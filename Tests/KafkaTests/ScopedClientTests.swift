import Foundation
import Kafka
import Testing

/// The scoped forms close their client on every exit path, and the long-lived forms run as services.
@Suite("Scoped and service clients", .timeLimit(.minutes(2)))
struct ScopedClientTests {
    struct Stop: Error {}

    @Test func scopedProducerClosesWhenTheBodyThrowsAndKeepsWhatWasAcknowledged() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("sp", partitions: 2)
        let escaped = Locked<KafkaProducer?>(nil)

        await #expect(throws: Stop.self) {
            try await withKafkaProducer(configuration: producerConfiguration(cluster), logger: logger) { producer in
                escaped.withLockedValue { $0 = producer }
                try await producer.sendAll(
                    (0..<20).map { KafkaProducerMessage(topic: "sp", key: "k\($0)", value: Data("v\($0)".utf8)) })
                throw Stop()
            }
        }

        let producer = try #require(escaped.withLockedValue { $0 })
        let error = await #expect(throws: KafkaError.self) {
            try await producer.send(KafkaProducerMessage(topic: "sp", key: "late", value: Data("late".utf8)))
        }
        #expect(error?.code == .closed)
        let count = try await withKafkaPartitionReader(configuration: cluster.configuration(), logger: logger) {
            reader in
            var count = 0
            for try await _ in reader.readToEnd(topic: "sp", partitions: [0, 1]) { count += 1 }
            return count
        }
        #expect(count == 20)
    }

    @Test func scopedConsumerCommitsAndClosesWhenTheBodyThrows() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("sc", partitions: 2)
        try await withKafkaProducer(configuration: producerConfiguration(cluster), logger: logger) { producer in
            try await producer.sendAll(
                (0..<6).map { KafkaProducerMessage(topic: "sc", key: "k\($0)", value: Data("v\($0)".utf8)) })
        }
        let group = uniqueName("sc")
        let escaped = Locked<KafkaConsumer?>(nil)

        await #expect(throws: Stop.self) {
            try await withKafkaConsumer(configuration: consumerConfiguration(cluster, group: group), logger: logger) {
                consumer in
                escaped.withLockedValue { $0 = consumer }
                try consumer.subscribe(topics: ["sc"])
                _ = try await collect(consumer, count: 6)  // stores every offset
                throw Stop()
            }
        }

        let consumer = try #require(escaped.withLockedValue { $0 })
        let error = #expect(throws: KafkaError.self) { try consumer.subscribe(topics: ["sc"]) }
        #expect(error?.code == .closed)
        // The close committed the stored offsets: the group resumes after all six messages.
        let committed = try await withKafkaConsumer(
            configuration: consumerConfiguration(cluster, group: group), logger: logger
        ) {
            try await $0.committedOffsets([
                KafkaTopicPartition(topic: "sc", partition: 0), KafkaTopicPartition(topic: "sc", partition: 1),
            ])
        }
        #expect(committed.map(\.offset).reduce(0) { $0 + max($1, 0) } == 6)
    }

    @Test func producerRunsAsAServiceUntilCancelled() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("svc", partitions: 1)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        let service = Task { try await producer.run() }

        let report = try await producer.send(KafkaProducerMessage(topic: "svc", key: "a", value: Data("a".utf8)))
        #expect(report.offset == 0)
        service.cancel()
        try await service.value

        let error = await #expect(throws: KafkaError.self) {
            try await producer.send(KafkaProducerMessage(topic: "svc", key: "b", value: Data("b".utf8)))
        }
        #expect(error?.code == .closed)
    }

    @Test func consumerRunsAsAServiceUntilCancelledAndEndsItsMessages() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("svc-c", partitions: 1)
        try await withKafkaProducer(configuration: producerConfiguration(cluster), logger: logger) { producer in
            try await producer.send(KafkaProducerMessage(topic: "svc-c", key: "a", value: Data("a".utf8)))
        }
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(cluster, group: uniqueName("svc")), logger: logger)
        let service = Task { try await consumer.run() }
        try consumer.subscribe(topics: ["svc-c"])
        let first = try await collect(consumer, count: 1)
        #expect(first.first?.keyString == "a")

        service.cancel()
        try await service.value
        var after = 0
        for try await _ in consumer.messages { after += 1 }
        #expect(after == 0)
        #expect(throws: KafkaError.self) { try consumer.subscribe(topics: ["svc-c"]) }
    }
}
