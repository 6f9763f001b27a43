import Foundation
import Kafka
import Testing

@Suite("Transactions on the embedded cluster", .timeLimit(.minutes(2)))
struct TransactionTests {
    /// The newer producer takes over the transactional id; the coordinator then answers the older one's
    /// EndTxn with PRODUCER_FENCED. librdkafka 2.0.2's mock cluster gives every InitProducerId a new
    /// producer id instead of bumping the epoch of the transactional id, so it never sends that answer
    /// by itself: the test injects exactly the answer a real coordinator sends.
    @Test func aNewerProducerWithTheSameTransactionalIDFencesTheOlderOne() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("tx", partitions: 1)
        let configuration = KafkaProducerConfiguration(kafka: cluster.configuration(), transactionalID: "worker-p0")

        try await withKafkaProducer(configuration: configuration, logger: logger) { older in
            try await older.initTransactions()
            try older.beginTransaction()
            try await older.send(KafkaProducerMessage(topic: "tx", key: "o1", value: Data("late write".utf8)))

            try await withKafkaProducer(configuration: configuration, logger: logger) { newer in
                try await newer.initTransactions()
                try cluster.pushRequestErrors(apiKey: KafkaAPIKey.endTxn, errors: [KafkaErrorCodes.producerFenced])

                let error = await #expect(throws: KafkaError.self) { try await older.commitTransaction() }
                #expect(error?.code == .fatal)
                #expect(error?.isFenced == true)
                // Fenced is final: the older producer cannot start another transaction.
                #expect(throws: KafkaError.self) { try older.beginTransaction() }

                try newer.beginTransaction()
                try await newer.send(KafkaProducerMessage(topic: "tx", key: "o1", value: Data("owner write".utf8)))
                try await newer.commitTransaction()
            }
        }
    }

    @Test func aTransactionCarriesMessagesAndTheConsumersOffsets() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("tx-in", partitions: 1)
        try cluster.createTopic("tx-out", partitions: 1)
        try await withKafkaProducer(configuration: producerConfiguration(cluster), logger: logger) { producer in
            try await producer.sendAll(
                (0..<3).map { KafkaProducerMessage(topic: "tx-in", key: "k\($0)", value: Data("v\($0)".utf8)) })
        }
        let transactional = KafkaProducerConfiguration(
            kafka: cluster.configuration(), transactionalID: uniqueName("txid"))

        try await withKafkaConsumer(
            configuration: consumerConfiguration(cluster, group: uniqueName("tx")), logger: logger
        ) { consumer in
            try consumer.subscribe(topics: ["tx-in"])
            let consumed = try await collect(consumer, count: 3, store: false)
            try await withKafkaProducer(configuration: transactional, logger: logger) { producer in
                try await producer.initTransactions()
                try producer.beginTransaction()
                try await producer.sendAll(
                    consumed.map { KafkaProducerMessage(topic: "tx-out", key: $0.key, value: $0.value) })
                // (The 2.0.2 mock acknowledges TxnOffsetCommit without storing the offsets.)
                try await producer.sendOffsetsToTransaction(
                    [KafkaTopicPartitionOffset(topic: "tx-in", partition: 0, offset: 3)],
                    group: try consumer.groupMetadata())
                try await producer.commitTransaction()
            }
        }
        let written = try await withKafkaPartitionReader(configuration: cluster.configuration(), logger: logger) {
            reader in
            var values: [String] = []
            for try await message in reader.readToEnd(topic: "tx-out", partitions: [0]) {
                values.append(String(decoding: message.value ?? Data(), as: UTF8.self))
            }
            return values
        }
        #expect(written == ["v0", "v1", "v2"])
    }

    @Test func commitWithoutATransactionIsRefusedButNotFatal() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("tx-state", partitions: 1)
        let configuration = KafkaProducerConfiguration(
            kafka: cluster.configuration(), transactionalID: uniqueName("txid"))
        try await withKafkaProducer(configuration: configuration, logger: logger) { producer in
            try await producer.initTransactions()
            let error = await #expect(throws: KafkaError.self) { try await producer.commitTransaction() }
            #expect(error?.code == .transaction)
            #expect(error?.isFenced == false)
            // The producer stays usable.
            try producer.beginTransaction()
            try await producer.send(KafkaProducerMessage(topic: "tx-state", key: "a", value: Data("a".utf8)))
            try await producer.abortTransaction()
        }
    }

    /// The worker's commit path: records enqueued, then offsets and commit in one call, the commit
    /// flushing them; every record is reported delivered once it returns.
    @Test func sendAndCommitWritesEveryRecordOfTheGroup() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("tx-group", partitions: 3)
        let configuration = KafkaProducerConfiguration(
            kafka: cluster.configuration(), transactionalID: uniqueName("txid"))
        let messages = (0..<12).map {
            KafkaProducerMessage(topic: "tx-group", partition: Int32($0 % 3), key: "k\($0)", value: Data("v\($0)".utf8))
        }
        try await withKafkaProducer(configuration: configuration, logger: logger) { producer in
            try await producer.initTransactions()
            for _ in 0..<2 {
                try producer.beginTransaction()
                let results = try await producer.sendAndCommitTransaction(messages, offsets: [], group: nil)
                #expect(results.count == messages.count)
                for (index, result) in results.enumerated() {
                    let report = try result.get()
                    #expect(report.partition == Int32(index % 3))
                    #expect(report.offset >= 0)
                }
            }
        }
        let written = try await withKafkaPartitionReader(configuration: cluster.configuration(), logger: logger) {
            reader in
            var count = 0
            for try await _ in reader.readToEnd(topic: "tx-group", partitions: [0, 1, 2]) { count += 1 }
            return count
        }
        #expect(written == 24)
    }

    /// A record librdkafka refuses at once (larger than `message.max.bytes`) must not let the rest
    /// of its group commit: the call fails abortable before committing, and the producer goes on
    /// after the abort.
    @Test func aRecordThatCannotBeEnqueuedAbortsInsteadOfCommitting() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("tx-refused", partitions: 1)
        let configuration = KafkaProducerConfiguration(
            kafka: cluster.configuration(), transactionalID: uniqueName("txid"))
        try await withKafkaProducer(configuration: configuration, logger: logger) { producer in
            try await producer.initTransactions()
            try producer.beginTransaction()
            let group = [
                KafkaProducerMessage(topic: "tx-refused", key: "a", value: Data("fits".utf8)),
                KafkaProducerMessage(topic: "tx-refused", key: "b", value: Data(count: 2_000_000)),
            ]
            let error = await #expect(throws: KafkaError.self) {
                try await producer.sendAndCommitTransaction(group, offsets: [], group: nil)
            }
            #expect(error?.code == .transactionAbortable)
            try await producer.abortTransaction()
            try producer.beginTransaction()
            let results = try await producer.sendAndCommitTransaction(
                [KafkaProducerMessage(topic: "tx-refused", key: "c", value: Data("after".utf8))], offsets: [],
                group: nil)
            #expect(try results[0].get().offset >= 0)
        }
    }
}
