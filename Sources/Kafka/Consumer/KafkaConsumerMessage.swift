import CRdKafka
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

    /// Copies a librdkafka message (which must have no error) into Swift values.
    init(_ message: UnsafePointer<rd_kafka_message_t>) {
        let m = message.pointee
        topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        partition = m.partition
        offset = m.offset
        key = m.key.map { Data(bytes: $0, count: m.key_len) }
        value = m.payload.map { Data(bytes: $0, count: m.len) }
        var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(message, &tsType)
        timestamp = tsType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? nil : Date(timeIntervalSince1970: Double(ts) / 1000)
        headers = Self.headers(of: message)
    }

    static func headers(of message: UnsafePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var hdrs: OpaquePointer?
        guard rd_kafka_message_headers(message, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs else { return [] }
        var result: [KafkaHeader] = []
        result.reserveCapacity(rd_kafka_header_cnt(hdrs))
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(hdrs, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { break }
            let key = name.map { String(cString: $0) } ?? ""
            result.append(KafkaHeader(key: key, value: value.map { Data(bytes: $0, count: size) }))
            index += 1
        }
        return result
    }
}
