import Foundation
import Kafka
import Testing

@Suite("Producer and consumer round trips", .timeLimit(.minutes(2)))
struct ProducerConsumerTests {
    @Test func roundTripWithKeysHeadersAndTombstones() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("rt", partitions: 4)

        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        let messages = [
            KafkaProducerMessage(
                topic: "rt", key: "order-1", value: Data("{\"a\":1}".utf8),
                headers: [
                    KafkaHeader(key: "ce_type", string: "payfleet.payment.prepared"),
                    KafkaHeader(key: "empty", value: nil),
                ]),
            KafkaProducerMessage(
                topic: "rt", key: "order-1", value: nil, headers: [KafkaHeader(key: "x", string: "tomb")]),
            KafkaProducerMessage(topic: "rt", key: "order-1", value: Data()),
            KafkaProducerMessage(topic: "rt", key: nil as Data?, value: Data("no key".utf8)),
        ]
        var reports: [KafkaDeliveryReport] = []
        for message in messages { reports.append(try await producer.send(message)) }
        #expect(reports[0].partition == reports[1].partition)
        #expect(reports[1].partition == reports[2].partition)
        #expect(reports[1].offset == reports[0].offset + 1)

        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(cluster, group: uniqueName("rt")), logger: logger)
        try consumer.subscribe(topics: ["rt"])
        let received = try await collect(consumer, count: 4)
        let byKey = received.filter { $0.keyString == "order-1" }.sorted { $0.offset < $1.offset }
        try #require(byKey.count == 3)
        #expect(byKey[0].value == Data("{\"a\":1}".utf8))
        #expect(byKey[0].headers == messages[0].headers)
        #expect(byKey[0].headers.string("ce_type") == "payfleet.payment.prepared")
        #expect(byKey[1].value == nil)
        #expect(byKey[1].isTombstone)
        #expect(byKey[1].headers.string("x") == "tomb")
        #expect(byKey[2].value == Data())
        #expect(!byKey[2].isTombstone)
        let unkeyed = try #require(received.first { $0.key == nil })
        #expect(unkeyed.value == Data("no key".utf8))
        #expect(byKey[0].timestamp != nil)
        await consumer.close(timeout: .seconds(10))
        await producer.close(timeout: .seconds(5))
    }

    @Test func sendAllAwaitsEveryAcknowledgement() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("many", partitions: 3)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        let batch = (0..<2000).map { KafkaProducerMessage(topic: "many", key: "k\($0 % 50)", value: Data(count: 200)) }
        let reports = try await producer.sendAll(batch)
        #expect(reports.count == 2000)
        // Same key, same partition; offsets increase in send order per partition.
        var partitionOfKey: [String: Int32] = [:]
        for (index, report) in reports.enumerated() {
            let key = "k\(index % 50)"
            if let known = partitionOfKey[key] {
                #expect(known == report.partition)
            } else {
                partitionOfKey[key] = report.partition
            }
        }
        #expect(try await recordCount(cluster, topic: "many", partitions: 3, logger: logger) == 2000)
        await producer.close(timeout: .seconds(5))
    }

    @Test func aFullLocalQueueMeansWaitingNotFailing() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("full", partitions: 2)
        let producer = try KafkaProducer(
            configuration: producerConfiguration(cluster, ["queue.buffering.max.messages": "5"]), logger: logger)
        let reports = try await producer.sendAll(
            (0..<300).map { KafkaProducerMessage(topic: "full", key: "k\($0)", value: Data(count: 200)) })
        #expect(reports.count == 300)
        await producer.close(timeout: .seconds(5))
    }

    @Test func sendAfterCloseFailsClearly() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("c", partitions: 1)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        try await producer.send(KafkaProducerMessage(topic: "c", key: "a", value: Data("1".utf8)))
        await producer.close(timeout: .seconds(5))
        await #expect(throws: KafkaError.self) {
            try await producer.send(KafkaProducerMessage(topic: "c", key: "a", value: Data("2".utf8)))
        }
    }

    @Test func wrongPropertyIsAClearStartupError() throws {
        let logger = testLogger()
        do {
            _ = try KafkaProducer(
                configuration: KafkaProducerConfiguration(kafka: KafkaConfiguration(properties: ["linger.mss": "5"])),
                logger: logger)
            Issue.record("an unknown property must be rejected")
        } catch let error as KafkaError {
            #expect(error.code == .configuration)
            #expect(error.message.contains("linger.mss"))
        }
        do {
            _ = try KafkaProducer(
                configuration: KafkaProducerConfiguration(kafka: KafkaConfiguration(properties: ["acks": "sometimes"])),
                logger: logger)
            Issue.record("an invalid value must be rejected")
        } catch let error as KafkaError {
            #expect(error.code == .configuration)
            #expect(error.message.contains("acks"))
        }
        // Rejected when the client is created (not by rd_kafka_conf_set); the password never shows.
        do {
            _ = try KafkaProducer(
                configuration: KafkaProducerConfiguration(
                    kafka: KafkaConfiguration(properties: [
                        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "NOPE", "sasl.password": "hunter2",
                    ])),
                logger: logger)
            Issue.record("an unsupported SASL mechanism must be rejected")
        } catch let error as KafkaError {
            #expect(error.code == .configuration)
            #expect(error.message.contains("NOPE"), "\(error.message)")
            #expect(!error.description.contains("hunter2"))
        }
    }
}
