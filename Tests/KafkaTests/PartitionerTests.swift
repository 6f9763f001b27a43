import Foundation
import Kafka
import Testing

/// Expected values computed with Kafka's published Java algorithm (`Utils.murmur2`, then
/// `toPositive(h) % n`) in a Python one-off that first reproduced Kafka's own `UtilsTest` vectors.
@Suite("murmur2 partitioning matches Java's default producer", .timeLimit(.minutes(1)))
struct PartitionerTests {
    @Test(arguments: [
        ("21", Int32(-973_932_308)),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
    ])
    func kafkaUtilsTestVectors(key: String, hash: Int32) {
        #expect(KafkaPartitioner.murmur2(Data(key.utf8)) == hash)
    }

    static let pinned: [(key: String, p3: Int32, p12: Int32, p16: Int32)] = [
        ("order-1", 1, 10, 6),
        ("20261122000001", 1, 10, 2),
        ("PF202611220001", 0, 9, 9),
        ("wx-demo-42", 0, 6, 14),
        ("a", 1, 4, 12),
        ("订单-001", 2, 11, 11),
    ]

    @Test func pinnedJavaPartitions() {
        for entry in Self.pinned {
            #expect(KafkaPartitioner.partition(forKey: entry.key, partitionCount: 3) == entry.p3, "\(entry.key)")
            #expect(KafkaPartitioner.partition(forKey: entry.key, partitionCount: 12) == entry.p12, "\(entry.key)")
            #expect(KafkaPartitioner.partition(forKey: entry.key, partitionCount: 16) == entry.p16, "\(entry.key)")
        }
    }

    @Test func producerPutsKeysWhereJavaWould() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("p12", partitions: 12)
        try cluster.createTopic("p16", partitions: 16)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        for entry in Self.pinned {
            for _ in 0..<3 {
                let r12 = try await producer.send(
                    KafkaProducerMessage(topic: "p12", key: entry.key, value: Data("v".utf8)))
                #expect(r12.partition == entry.p12, "\(entry.key) on 12 partitions")
                let r16 = try await producer.send(
                    KafkaProducerMessage(topic: "p16", key: entry.key, value: Data("v".utf8)))
                #expect(r16.partition == entry.p16, "\(entry.key) on 16 partitions")
            }
        }
        await producer.close(timeout: .seconds(5))
    }
}
