import Foundation
import Kafka
import Logging

/// Reads a topic from the beginning up to the high watermarks it had when the read started, with
/// a throw-away consumer group that commits nothing. For the invariant checker and tests.
public enum TopicSnapshot {
    /// What a snapshot read: the records, and each topic's partition count (to tell which
    /// partition owns a key).
    public struct Contents: Sendable {
        public var records: [String: [KafkaConsumerMessage]]
        public var partitionCounts: [String: Int]
    }

    /// Every record of `topics` present when the call started, per topic in partition+offset order.
    /// - Throws: ``KafkaError`` when the broker cannot be reached or the read does not finish in `timeout`.
    public static func read(
        topics: [String], kafka: KafkaConfiguration, logger: Logger, timeout: Duration = .seconds(60)
    ) async throws -> [String: [KafkaConsumerMessage]] {
        try await snapshot(topics: topics, kafka: kafka, logger: logger, timeout: timeout).records
    }

    /// Every record of `topics` present when the call started, with the topics' partition counts.
    /// - Throws: ``KafkaError`` when the broker cannot be reached or the read does not finish in `timeout`.
    public static func snapshot(
        topics: [String], kafka: KafkaConfiguration, logger: Logger, timeout: Duration = .seconds(60)
    ) async throws -> Contents {
        var configuration = kafka
        configuration.clientID = "payfleet-check"
        configuration.properties["enable.auto.commit"] = "false"
        configuration.properties["auto.offset.reset"] = "earliest"
        let consumerConfiguration = KafkaConsumerConfiguration(
            kafka: configuration, groupID: "payfleet-check-\(UUID().uuidString.lowercased())",
            messageBufferSize: 10_000,
            closeTimeout: .seconds(5))
        return try await withKafkaConsumer(configuration: consumerConfiguration, logger: logger) { consumer in
            let deadline = ContinuousClock.now + timeout
            var remaining: [KafkaTopicPartition: Int64] = [:]
            var partitionCounts: [String: Int] = [:]
            let metadata = try await consumer.metadata(timeout: .seconds(10))
            for topic in topics {
                guard let described = metadata.topic(topic) else {
                    throw KafkaError(.metadata, "topic \(topic) does not exist")
                }
                partitionCounts[topic] = described.partitionCount
                for partition in described.partitions {
                    let marks = try await consumer.watermarks(
                        topic: topic, partition: partition.id, timeout: .seconds(10))
                    if marks.high > marks.low {
                        remaining[KafkaTopicPartition(topic: topic, partition: partition.id)] = marks.high
                    }
                }
            }
            var result: [String: [KafkaConsumerMessage]] = Dictionary(uniqueKeysWithValues: topics.map { ($0, []) })
            if remaining.isEmpty {
                return Contents(records: result, partitionCounts: partitionCounts)
            }
            try consumer.subscribe(topics: topics)
            let timer = Task {
                try? await Task.sleep(until: deadline)
                await consumer.close(timeout: .seconds(5))
            }
            defer { timer.cancel() }
            for try await message in consumer.messages {
                let key = message.topicPartition
                guard let high = remaining[key] else { continue }
                if message.offset < high { result[message.topic, default: []].append(message) }
                if message.offset + 1 >= high { remaining.removeValue(forKey: key) }
                if remaining.isEmpty { break }
            }
            await consumer.close(timeout: .seconds(5))
            guard remaining.isEmpty else {
                throw KafkaError(.timedOut, "reading \(topics.joined(separator: ",")) did not finish in \(timeout)")
            }
            for topic in topics {
                result[topic]?.sort { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
            }
            return Contents(records: result, partitionCounts: partitionCounts)
        }
    }
}
