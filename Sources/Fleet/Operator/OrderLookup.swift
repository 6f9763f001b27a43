import Foundation
import Kafka
import Logging

/// Reads the records of one order for ``OrderTimeline``: only the partition that owns its key in each
/// topic (murmur2 of `out_trade_no` modulo the topic's partition count, ``KafkaPartitioner``), up to
/// the high watermark at the time of the read, outside any consumer group.
///
/// Every PayFleet producer keys by `out_trade_no` with that partitioner: order-requests, callbacks,
/// query-jobs, order-state, payment-events, the delay tiers (the worker writes timers keyed by the
/// order; the scheduler forwards and hops them with the same key) and the dead letters of the worker
/// and the scheduler (keyed by the original record's key). Two kinds of record of the order can sit
/// elsewhere and are not shown: a refused callback the ingress sampled to dead-letters (it has no key,
/// because an unverified callback's order is not trusted; `payfleet dlq list --source http:` shows
/// them), and a request an upstream producer put on the wrong partition before the worker forwarded it
/// (the forwarded copy, on the owning partition, is shown).
public enum OrderLookup {
    /// The topics read, in this order.
    public static let topics: [String] =
        [
            FleetTopic.orderState, FleetTopic.orderRequests, FleetTopic.paymentEvents, FleetTopic.callbacks,
            FleetTopic.queryJobs, FleetTopic.deadLetters,
        ] + DelayTier.all.map(\.topic)

    /// What was read: the order's records per topic, and the partition read in each.
    public struct Result: Sendable {
        public var records: [String: [KafkaConsumerMessage]]
        /// topic → partition read.
        public var partitions: [String: Int32]
        /// Topics that do not exist on the cluster (skipped).
        public var missingTopics: [String]
    }

    /// The partition of `topic` that holds `outTradeNo`, for a topic of `partitionCount` partitions.
    public static func partition(of outTradeNo: String, partitionCount: Int) -> Int32 {
        KafkaPartitioner.partition(forKey: outTradeNo, partitionCount: partitionCount)
    }

    /// Reads the order's partition of every topic of ``topics`` and keeps the records keyed by it.
    /// - Throws: ``KafkaError`` when the broker cannot be reached or a read stalls.
    public static func read(
        outTradeNo: String, kafka: KafkaConfiguration, logger: Logger, idleTimeout: Duration = .seconds(30)
    ) async throws -> Result {
        let key = Data(outTradeNo.utf8)
        return try await withKafkaPartitionReader(configuration: kafka, logger: logger, idleTimeout: idleTimeout) {
            reader in
            var result = Result(records: [:], partitions: [:], missingTopics: [])
            let metadata = try await reader.metadata()
            for topic in topics {
                guard let described = metadata.topic(topic), described.partitionCount > 0 else {
                    result.missingTopics.append(topic)
                    continue
                }
                let partition = KafkaPartitioner.partition(forKey: key, partitionCount: described.partitionCount)
                result.partitions[topic] = partition
                var records: [KafkaConsumerMessage] = []
                for try await message in reader.readToEnd(topic: topic, partitions: [partition])
                where message.key == key {
                    records.append(message)
                }
                result.records[topic] = records
            }
            return result
        }
    }
}

/// Reads `payfleet.dead-letters` (every partition) up to its current end, for `payfleet dlq`.
public enum DeadLetterReader {
    /// Every dead letter written before the call, selected by `filter`, in time order.
    /// - Throws: ``KafkaError`` when the broker cannot be reached, the topic does not exist or a read stalls.
    public static func read(
        filter: DeadLetterFilter, kafka: KafkaConfiguration, logger: Logger, topic: String = FleetTopic.deadLetters,
        idleTimeout: Duration = .seconds(30)
    ) async throws -> [DeadLetterEntry] {
        try await withKafkaPartitionReader(configuration: kafka, logger: logger, idleTimeout: idleTimeout) { reader in
            let count = try await reader.partitionCount(topic: topic)
            var messages: [KafkaConsumerMessage] = []
            for try await message in reader.readToEnd(topic: topic, partitions: (0..<Int32(count)).map { $0 }) {
                messages.append(message)
            }
            return filter.select(messages)
        }
    }
}
