import Foundation

/// A message read from Kafka.
public struct KafkaConsumerMessage: Sendable {
    /// Source topic.
    public var topic: String
    /// Source partition.
    public var partition: Int32
    /// Offset in the partition.
    public var offset: Int64
    /// Key bytes, `nil` when the record has no key.
    public var key: Data?
    /// Value bytes, `nil` for a tombstone.
    public var value: Data?
    /// Headers, in order.
    public var headers: [KafkaHeader]
    /// Record timestamp (create or log-append time), if present.
    public var timestamp: Date?

    /// Creates a message (tests, replays).
    public init(
        topic: String, partition: Int32, offset: Int64, key: Data?, value: Data?, headers: [KafkaHeader] = [],
        timestamp: Date? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// The key as UTF-8 text (e.g. `out_trade_no`).
    public var keyString: String? { key.flatMap { String(data: $0, encoding: .utf8) } }
    /// Whether this is a tombstone (null value).
    public var isTombstone: Bool { value == nil }
    /// The partition this message came from.
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }
}
