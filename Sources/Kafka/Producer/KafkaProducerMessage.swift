import Foundation

/// A message to publish.
public struct KafkaProducerMessage: Sendable {
    /// Destination topic.
    public var topic: String
    /// Explicit partition, or `nil` to let the partitioner (murmur2 of the key) choose.
    public var partition: Int32?
    /// Key bytes (`nil` for no key).
    public var key: Data?
    /// Value bytes; `nil` is a tombstone (deletes the key in a compacted topic).
    public var value: Data?
    /// Headers, in order.
    public var headers: [KafkaHeader]
    /// Record timestamp; `nil` lets librdkafka use the current time.
    public var timestamp: Date?

    /// Creates a message with raw key bytes.
    public init(
        topic: String, partition: Int32? = nil, key: Data?, value: Data?, headers: [KafkaHeader] = [],
        timestamp: Date? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// Creates a message with a UTF-8 string key (e.g. `out_trade_no`).
    public init(
        topic: String, partition: Int32? = nil, key: String, value: Data?, headers: [KafkaHeader] = [],
        timestamp: Date? = nil
    ) {
        var key = key
        // From the string's contiguous UTF-8 bytes at once, not byte by byte through a sequence.
        let keyBytes = key.withUTF8 { Data(buffer: $0) }
        self.init(
            topic: topic, partition: partition, key: keyBytes, value: value, headers: headers,
            timestamp: timestamp)
    }
}

/// The broker's acknowledgement of one message.
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// Topic written.
    public var topic: String
    /// Partition written.
    public var partition: Int32
    /// Offset the message got.
    public var offset: Int64
    /// Record timestamp, if known.
    public var timestamp: Date?
}
