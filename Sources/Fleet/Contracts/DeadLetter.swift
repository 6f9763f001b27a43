import Foundation
import Kafka

/// A record on `payfleet.dead-letters`: the original bytes (or a JSON description when there are
/// none) with the reason in headers, so nothing is ever silently dropped.
///
/// Headers: `payfleet-dlq-reason`, `payfleet-dlq-detail`, `payfleet-dlq-source-topic`,
/// `payfleet-dlq-source-partition`, `payfleet-dlq-source-offset`, `payfleet-dlq-role`,
/// `payfleet-dlq-null-value: true` when the original had no value (the record's value is then a JSON
/// description), then the original record's headers; the key is the original key. That is all
/// `payfleet dlq replay` needs to write the original back (``DeadLetterEntry``).
public struct DeadLetter: Sendable, Hashable {
    public static let reasonHeader = "payfleet-dlq-reason"
    public static let detailHeader = "payfleet-dlq-detail"
    public static let sourceTopicHeader = "payfleet-dlq-source-topic"
    public static let sourcePartitionHeader = "payfleet-dlq-source-partition"
    public static let sourceOffsetHeader = "payfleet-dlq-source-offset"
    public static let roleHeader = "payfleet-dlq-role"
    /// Present (`true`) when the original record had no value: the dead letter's value is then a
    /// JSON description, and a replay writes the original tombstone instead.
    public static let nullValueHeader = "payfleet-dlq-null-value"

    public var reason: RejectionReason
    /// A human sentence, no secrets.
    public var detail: String
    public var sourceTopic: String
    public var sourcePartition: Int32
    public var sourceOffset: Int64
    /// The role that gave up (`worker`, `ingress`, `scheduler`).
    public var role: String
    /// The original key.
    public var key: Data?
    /// The original value; `nil` when there was none (then a JSON description is written).
    public var value: Data?
    /// The original record's headers, kept after the `payfleet-dlq-*` ones (e.g. a callback's HTTP headers).
    public var originalHeaders: [KafkaHeader]

    public init(
        reason: RejectionReason, detail: String, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64,
        role: String, key: Data?, value: Data?, originalHeaders: [KafkaHeader] = []
    ) {
        self.reason = reason
        self.detail = detail
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.role = role
        self.key = key
        self.value = value
        self.originalHeaders = originalHeaders
    }

    /// A dead letter for a consumed record.
    public init(
        reason: RejectionReason, detail: String, message: KafkaConsumerMessage, role: String,
        keepHeaders: Bool = true
    ) {
        self.init(
            reason: reason, detail: detail, sourceTopic: message.topic, sourcePartition: message.partition,
            sourceOffset: message.offset, role: role, key: message.key, value: message.value,
            originalHeaders: keepHeaders ? message.headers.filter { !$0.key.hasPrefix("payfleet-dlq-") } : [])
    }

    /// The headers of the record.
    public var headers: [KafkaHeader] {
        [
            KafkaHeader(key: Self.reasonHeader, string: reason.rawValue),
            KafkaHeader(key: Self.detailHeader, string: detail),
            KafkaHeader(key: Self.sourceTopicHeader, string: sourceTopic),
            KafkaHeader(key: Self.sourcePartitionHeader, string: String(sourcePartition)),
            KafkaHeader(key: Self.sourceOffsetHeader, string: String(sourceOffset)),
            KafkaHeader(key: Self.roleHeader, string: role),
        ] + (value == nil ? [KafkaHeader(key: Self.nullValueHeader, string: "true")] : []) + originalHeaders
    }

    /// The record value: the original bytes, or a JSON description when there were none.
    public var recordValue: Data {
        if let value { return value }
        let description: [String: String] = [
            "reason": reason.rawValue, "detail": detail, "source_topic": sourceTopic,
            "source_partition": String(sourcePartition), "source_offset": String(sourceOffset),
            "original_value": "null",
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(description)) ?? Data()
    }

    /// The record to produce on `payfleet.dead-letters`.
    public func message(topic: String = FleetTopic.deadLetters) -> KafkaProducerMessage {
        KafkaProducerMessage(topic: topic, key: key, value: recordValue, headers: headers)
    }
}
