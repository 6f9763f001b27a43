import CRdKafka

/// Owned `rd_kafka_topic_partition_list_t` with conversions from and to Swift values.
///
/// Not thread-safe; used only within a single call. The C list is reachable only inside
/// ``withPointer(_:)``, which keeps this owner alive until the C call returns: handing out the bare
/// pointer would let ARC free the list after its last Swift use, before librdkafka reads it.
final class RDKafkaTopicPartitionList {
    private let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// Calls `body` with the list; the list lives at least until `body` returns.
    func withPointer<Result, Failure: Error>(
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        defer { withExtendedLifetime(self) {} }
        return try body(pointer)
    }

    init(capacity: Int = 1) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(capacity, 1)))
    }

    convenience init(_ partitions: [KafkaTopicPartition], offset: Int64? = nil) {
        self.init(capacity: partitions.count)
        for item in partitions {
            let element = rd_kafka_topic_partition_list_add(pointer, item.topic, item.partition)
            if let offset { element?.pointee.offset = offset }
        }
    }

    convenience init(_ offsets: [KafkaTopicPartitionOffset]) {
        self.init(capacity: offsets.count)
        for item in offsets {
            let element = rd_kafka_topic_partition_list_add(
                pointer, item.topicPartition.topic, item.topicPartition.partition)
            element?.pointee.offset = item.offset
        }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    /// The partitions of a borrowed list.
    static func partitions(of list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        elements(of: list).map(\.topicPartition)
    }

    /// The partitions and offsets of a borrowed list.
    static func elements(of list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartitionOffset] {
        guard let list, let elems = list.pointee.elems else { return [] }
        var result: [KafkaTopicPartitionOffset] = []
        result.reserveCapacity(Int(list.pointee.cnt))
        for index in 0..<Int(list.pointee.cnt) {
            let element = elems[index]
            result.append(
                KafkaTopicPartitionOffset(
                    topic: String(cString: element.topic), partition: element.partition, offset: element.offset))
        }
        return result
    }

    /// Per-partition errors of a borrowed list, as readable strings.
    static func errors(
        of list: UnsafePointer<rd_kafka_topic_partition_list_t>?
    ) -> [(KafkaTopicPartition, rd_kafka_resp_err_t)] {
        guard let list, let elems = list.pointee.elems else { return [] }
        var result: [(KafkaTopicPartition, rd_kafka_resp_err_t)] = []
        for index in 0..<Int(list.pointee.cnt) where elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let element = elems[index]
            result.append(
                (KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition), element.err))
        }
        return result
    }
}
