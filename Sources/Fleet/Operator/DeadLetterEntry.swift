import Foundation
import Kafka

/// A record read back from `payfleet.dead-letters`: where it sits, why it is there, and the original
/// record (key, value, headers) it preserves. Written by ``DeadLetter``.
public struct DeadLetterEntry: Sendable, Hashable {
    /// Where the dead letter itself sits on `payfleet.dead-letters`.
    public var partition: Int32
    public var offset: Int64
    /// When the dead letter was written (the record's timestamp).
    public var time: Date?
    public var reason: String
    public var detail: String
    /// The topic the original was read from, or `http:<request path>` for a callback the ingress refused.
    public var sourceTopic: String
    /// `-1` when the original was never on a topic (the ingress).
    public var sourcePartition: Int32
    public var sourceOffset: Int64
    public var role: String
    /// The original key.
    public var key: Data?
    /// The original value; `nil` when the original was a tombstone.
    public var value: Data?
    /// The original record's headers (everything after the `payfleet-dlq-*` headers).
    public var originalHeaders: [KafkaHeader]

    /// The prefix of a source that is the ingress's HTTP endpoint rather than a topic.
    public static let httpSourcePrefix = "http:"

    /// Reads a dead-letter record; `nil` when it carries no `payfleet-dlq-reason` header (not written
    /// by PayFleet).
    public init?(_ message: KafkaConsumerMessage) {
        let headers = message.headers
        guard let reason = headers.string(DeadLetter.reasonHeader) else { return nil }
        partition = message.partition
        offset = message.offset
        time = message.timestamp
        self.reason = reason
        detail = headers.string(DeadLetter.detailHeader) ?? ""
        sourceTopic = headers.string(DeadLetter.sourceTopicHeader) ?? ""
        sourcePartition = headers.string(DeadLetter.sourcePartitionHeader).flatMap { Int32($0) } ?? -1
        sourceOffset = headers.string(DeadLetter.sourceOffsetHeader).flatMap { Int64($0) } ?? -1
        role = headers.string(DeadLetter.roleHeader) ?? ""
        key = message.key
        let nullValue = headers.string(DeadLetter.nullValueHeader) == "true"
        value = nullValue ? nil : message.value
        originalHeaders = headers.filter { !$0.key.hasPrefix("payfleet-dlq-") }
    }

    /// The original key as UTF-8, if it is.
    public var keyString: String? { key.flatMap { String(data: $0, encoding: .utf8) } }

    /// Whether the original came from the ingress's HTTP endpoint (a refused callback).
    public var isIngressSourced: Bool { sourceTopic.hasPrefix(Self.httpSourcePrefix) }

    /// `payfleet.dead-letters/<partition>/<offset>`: the value of `payfleet-replayed-from`.
    public var coordinates: String { "\(FleetTopic.deadLetters)/\(partition)/\(offset)" }

    /// `<topic>/<partition>/<offset>` of the original (`http:<path>` for the ingress).
    public var source: String {
        isIngressSourced ? sourceTopic : "\(sourceTopic)/\(sourcePartition)/\(sourceOffset)"
    }
}

/// Which dead letters `payfleet dlq list` and `payfleet dlq replay` select.
public struct DeadLetterFilter: Sendable, Hashable {
    /// Only this reason (`payfleet-dlq-reason`).
    public var reason: String?
    /// Only dead letters written at or after this time.
    public var since: Date?
    /// Only dead letters written before this time.
    public var until: Date?
    /// Only originals from this source topic (or `http:` prefix for the ingress).
    public var sourceTopic: String?
    /// Only the original at this offset of ``sourceTopic`` (with ``sourcePartition`` when given).
    public var sourceOffset: Int64?
    public var sourcePartition: Int32?

    public init(
        reason: String? = nil, since: Date? = nil, until: Date? = nil, sourceTopic: String? = nil,
        sourcePartition: Int32? = nil, sourceOffset: Int64? = nil
    ) {
        self.reason = reason
        self.since = since
        self.until = until
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
    }

    /// Whether `entry` is selected.
    public func matches(_ entry: DeadLetterEntry) -> Bool {
        if let reason, entry.reason != reason { return false }
        if let since {
            guard let time = entry.time, time >= since else { return false }
        }
        if let until {
            guard let time = entry.time, time < until else { return false }
        }
        if let sourceTopic {
            if sourceTopic == DeadLetterEntry.httpSourcePrefix {
                guard entry.isIngressSourced else { return false }
            } else if entry.sourceTopic != sourceTopic {
                return false
            }
        }
        if let sourcePartition, entry.sourcePartition != sourcePartition { return false }
        if let sourceOffset, entry.sourceOffset != sourceOffset { return false }
        return true
    }

    /// The entries of `messages` that read as dead letters and match, in time order (then
    /// partition and offset).
    public func select(_ messages: [KafkaConsumerMessage]) -> [DeadLetterEntry] {
        messages.compactMap(DeadLetterEntry.init).filter(matches).sorted {
            let left = $0.time ?? .distantPast
            let right = $1.time ?? .distantPast
            if left != right { return left < right }
            return ($0.partition, $0.offset) < ($1.partition, $1.offset)
        }
    }
}
