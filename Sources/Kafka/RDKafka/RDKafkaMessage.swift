import CRdKafka
import Foundation

/// A borrowed view of one `rd_kafka_message_t`, valid only inside the closure it is handed to
/// (consumer poll, batch read, delivery report). Everything the caller keeps is copied out into Swift
/// values (``KafkaConsumerMessage``, ``KafkaDeliveryReport``, ``RDKafkaMessageError``) before the
/// message is destroyed; the view itself must not be stored.
struct RDKafkaMessage: ~Copyable {
    private let pointer: UnsafePointer<rd_kafka_message_t>

    init(borrowing pointer: UnsafePointer<rd_kafka_message_t>) {
        self.pointer = pointer
    }

    var topic: String { pointer.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "" }
    var partition: Int32 { pointer.pointee.partition }
    var offset: Int64 { pointer.pointee.offset }

    /// The message's error, `nil` for a good message.
    var error: RDKafkaMessageError? {
        let err = pointer.pointee.err
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        let reason = rd_kafka_message_errstr(pointer).map { String(cString: $0) } ?? ""
        return RDKafkaMessageError(code: err.rawValue, reason: reason, topic: topic, partition: partition)
    }

    /// The opaque the message was produced with (delivery reports; see
    /// ``RDKafkaClient/produce(_:topics:cursor:opaque:)``).
    var opaque: UnsafeMutableRawPointer? { pointer.pointee._private }

    /// The record timestamp in milliseconds since the epoch, if present.
    var timestampMilliseconds: Int64? {
        var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(pointer, &tsType)
        return tsType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? nil : ts
    }

    /// The record timestamp, if present.
    var timestamp: Date? {
        var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(pointer, &tsType)
        return tsType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0
            ? nil : Date(timeIntervalSince1970: Double(ts) / 1000)
    }

    /// Copies of key, value and headers (`nil` key/value when absent: tombstones are data too).
    var key: Data? { pointer.pointee.key.map { Data(bytes: $0, count: pointer.pointee.key_len) } }
    var value: Data? { pointer.pointee.payload.map { Data(bytes: $0, count: pointer.pointee.len) } }

    var headers: [KafkaHeader] {
        var names = RDKafkaNames(capacity: 0)
        return headers(names: &names)
    }

    /// The headers, their names shared through `names`.
    func headers(names: inout RDKafkaNames) -> [KafkaHeader] {
        var hdrs: OpaquePointer?
        guard rd_kafka_message_headers(pointer, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs else { return [] }
        var result: [KafkaHeader] = []
        result.reserveCapacity(rd_kafka_header_cnt(hdrs))
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(hdrs, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else {
                break
            }
            let key = name.map { names.name($0) } ?? ""
            result.append(KafkaHeader(key: key, value: value.map { Data(bytes: $0, count: size) }))
            index += 1
        }
        return result
    }

    /// A Swift copy of a good message.
    var consumerMessage: KafkaConsumerMessage {
        KafkaConsumerMessage(
            topic: topic, partition: partition, offset: offset, key: key, value: value, headers: headers,
            timestamp: timestamp)
    }

    /// A Swift copy of a good message, its topic and header names shared through `names`.
    func consumerMessage(names: inout RDKafkaNames.Consumed) -> KafkaConsumerMessage {
        let topic = pointer.pointee.rkt.map { names.topics.name(rd_kafka_topic_name($0)) } ?? ""
        return KafkaConsumerMessage(
            topic: topic, partition: partition, offset: offset, key: key, value: value,
            headers: headers(names: &names.headers), timestamp: timestamp)
    }
}

/// The names (topics, header names) one reader of messages has seen, so the messages it copies
/// share one `String` per name instead of allocating again each name longer than a small string
/// (15 bytes: `payfleet.delay.30s`, `payfleet-due-at-ms`). Owned by one thread, such as a poll loop;
/// at most `capacity` names are kept, later ones are copied each time.
struct RDKafkaNames {
    private var names: [String] = []
    /// Where the last name was found: messages come in runs of one topic.
    private var last = 0
    private let capacity: Int

    /// Keeps up to `capacity` names (0: copies every name, for a one-off read).
    init(capacity: Int = 64) {
        self.capacity = capacity
    }

    /// A consumer's topic names and header names.
    struct Consumed {
        var topics = RDKafkaNames()
        var headers = RDKafkaNames()
    }

    /// The `String` of a NUL-terminated name.
    mutating func name(_ cString: UnsafePointer<CChar>) -> String {
        let length = strlen(cString)
        if last < names.count, Self.name(names[last], is: cString, length: length) { return names[last] }
        for index in names.indices where Self.name(names[index], is: cString, length: length) {
            last = index
            return names[index]
        }
        let name = String(cString: cString)
        if names.count < capacity {
            names.append(name)
            last = names.count - 1
        }
        return name
    }

    private static func name(_ name: String, is cString: UnsafePointer<CChar>, length: Int) -> Bool {
        // A name that was not valid UTF-8 was repaired when copied: it never matches and is copied again.
        name.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.count == length && (length == 0 || memcmp(bytes.baseAddress!, cString, length) == 0)
        } ?? false
    }
}

/// A borrowed run of delivery reports (messages of one delivery-report event), valid only inside
/// the closure it is handed to, like ``RDKafkaMessage``.
struct RDKafkaDeliveries: ~Copyable {
    /// Most messages of one run.
    static let capacity = 512

    private let messages: UnsafeBufferPointer<UnsafePointer<rd_kafka_message_t>?>

    init(_ messages: UnsafeBufferPointer<UnsafePointer<rd_kafka_message_t>?>) {
        self.messages = messages
    }

    var count: Int { messages.count }

    /// The opaque message `index` was produced with.
    func opaque(_ index: Int) -> UnsafeMutableRawPointer? { messages[index]?.pointee._private }

    /// Calls `body` with a view of message `index`.
    func withMessage<R>(_ index: Int, _ body: (borrowing RDKafkaMessage) -> R) -> R {
        body(RDKafkaMessage(borrowing: messages[index]!))
    }
}

/// The error of a consumed or delivered message, copied out of librdkafka.
struct RDKafkaMessageError: Error, Sendable {
    let code: Int32
    let reason: String
    let topic: String
    let partition: Int32

    /// librdkafka's symbolic name, e.g. `_PARTITION_EOF`.
    var name: String { RDKafkaErrorCode.name(code) }
    /// The end of a partition was reached (`enable.partition.eof`): an event, not a failure.
    var isPartitionEOF: Bool { code == RD_KAFKA_RESP_ERR__PARTITION_EOF.rawValue }
    /// Broker connection trouble librdkafka recovers from by itself.
    var isConnectionTrouble: Bool {
        code == RD_KAFKA_RESP_ERR__TRANSPORT.rawValue || code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue
    }
    /// The partition or the requested offset does not exist: reading it again cannot succeed.
    var isMissingPartitionOrOffset: Bool {
        code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue
            || code == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION.rawValue
            || code == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE.rawValue
    }

    func kafkaError(_ kind: KafkaError.Code, _ context: String) -> KafkaError {
        KafkaError(kind, "\(context): \(RDKafkaErrorCode.text(code))", rdKafkaErrorCode: code)
    }
}
