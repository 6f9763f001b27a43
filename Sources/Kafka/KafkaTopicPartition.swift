/// A partition of a topic.
public struct KafkaTopicPartition: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The topic name.
    public var topic: String
    /// The partition number.
    public var partition: Int32

    /// Creates a topic-partition.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    public static func < (lhs: KafkaTopicPartition, rhs: KafkaTopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// A partition together with an offset (the *next* offset to consume, as Kafka commits it).
public struct KafkaTopicPartitionOffset: Hashable, Sendable, CustomStringConvertible {
    /// The partition.
    public var topicPartition: KafkaTopicPartition
    /// The offset.
    public var offset: Int64

    /// Creates a partition offset.
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topicPartition = KafkaTopicPartition(topic: topic, partition: partition)
        self.offset = offset
    }

    public var description: String { "\(topicPartition)@\(offset)" }
}
