import Foundation
import Kafka
import Testing

@Suite("Partition reader", .timeLimit(.minutes(1)))
struct ReaderTests {
    @Test func restoresPartitionsUpToTheHighWatermark() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("state", partitions: 3)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        let reports = try await producer.sendAll(
            (0..<90).map {
                KafkaProducerMessage(topic: "state", key: "o\($0 % 30)", value: $0 >= 60 ? nil : Data("\($0)".utf8))
            })
        let reader = try KafkaPartitionReader(configuration: cluster.configuration(), logger: logger)
        #expect(try await reader.partitionCount(topic: "state") == 3)
        let target = reports[0].partition
        var restored: [String: Data?] = [:]
        var offsets: [Int64] = []
        for try await message in reader.readToEnd(topic: "state", partitions: [target]) {
            #expect(message.partition == target)
            restored[message.keyString ?? ""] = .some(message.value)
            offsets.append(message.offset)
        }
        let expectedCount = reports.filter { $0.partition == target }.count
        #expect(offsets == Array(0..<Int64(expectedCount)))
        #expect(restored.values.allSatisfy { $0 == nil }, "the last record of every key is its tombstone")

        // All partitions at once, and an empty topic ends immediately.
        var all = 0
        for try await _ in reader.readToEnd(topic: "state", partitions: [0, 1, 2]) { all += 1 }
        #expect(all == 90)
        try cluster.createTopic("empty", partitions: 1)
        var none = 0
        for try await _ in reader.readToEnd(topic: "empty", partitions: [0]) { none += 1 }
        #expect(none == 0)
        await reader.close()
        await producer.close(timeout: .seconds(5))
    }
}
