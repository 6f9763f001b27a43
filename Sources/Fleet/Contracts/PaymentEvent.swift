import Foundation
import Kafka
import Payments

/// An event on `payfleet.payment-events`, CloudEvents 1.0 in Kafka binary mode: the value is the
/// JSON data, the attributes are `ce_*` headers.
///
/// ``id`` is deterministic — the lowercase hex SHA-256 of `out_trade_no|type|discriminator` — so
/// an event repeated after a crash or replay carries the same `ce_id` and consumers can dedupe on
/// `ce_source` + `ce_id`.
public struct PaymentEvent: Sendable, Hashable {
    /// The CloudEvents `type`.
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let prepared = Kind(rawValue: "payfleet.payment.prepared")
        public static let pending = Kind(rawValue: "payfleet.payment.pending")
        public static let succeeded = Kind(rawValue: "payfleet.payment.succeeded")
        public static let failed = Kind(rawValue: "payfleet.payment.failed")
        public static let closed = Kind(rawValue: "payfleet.payment.closed")
        public static let anomaly = Kind(rawValue: "payfleet.payment.anomaly")
        public static let rejected = Kind(rawValue: "payfleet.request.rejected")
        /// A refund was accepted and its outcome is not known yet (data carries `out_refund_no`).
        public static let refundPending = Kind(rawValue: "payfleet.refund.pending")
        /// A refund gave the money back; exactly one of succeeded / failed per `out_refund_no`.
        public static let refundSucceeded = Kind(rawValue: "payfleet.refund.succeeded")
        /// A refund failed for good.
        public static let refundFailed = Kind(rawValue: "payfleet.refund.failed")

        /// Every type, for consumers and tests.
        public static let all: [Kind] = [
            .prepared, .pending, .succeeded, .failed, .closed, .anomaly, .rejected, .refundPending, .refundSucceeded,
            .refundFailed,
        ]

        /// Whether this type ends a refund (refund succeeded, refund failed).
        public var isRefundTerminal: Bool { self == .refundSucceeded || self == .refundFailed }

        /// Whether this is a refund event.
        public var isRefund: Bool { rawValue.hasPrefix("payfleet.refund.") }

        /// Whether this type ends an order (succeeded, failed, closed).
        public var isTerminal: Bool { self == .succeeded || self == .failed || self == .closed }

        /// A bounded short name for metric labels (`prepared`, `rejected`, …).
        public var shortName: String {
            let last = rawValue.split(separator: ".").last.map(String.init) ?? rawValue
            return isRefund ? "refund_" + last : last
        }
    }

    /// `ce_source` of every worker event.
    public static let source = "/payfleet/worker"
    /// `ce_specversion`.
    public static let specVersion = "1.0"
    /// `ce_dataschema`: the JSON Schema of the data (kept in `topics/payfleet.payment-events.yaml`).
    public static let dataSchema = "urn:payfleet:schema:payment-event:1"

    public var kind: Kind
    /// The order (`ce_subject` and the record key).
    public var outTradeNo: String
    /// What makes this event unique within its order and type (see ``id``).
    public var discriminator: String
    /// `ce_time`.
    public var time: Date
    /// The event data (a JSON object).
    public var data: [String: JSONValue]

    public init(kind: Kind, outTradeNo: String, discriminator: String, time: Date, data: [String: JSONValue]) {
        self.kind = kind
        self.outTradeNo = outTradeNo
        self.discriminator = discriminator
        self.time = time
        self.data = data
    }

    /// `ce_id`: lowercase hex SHA-256 of `out_trade_no|type|discriminator`.
    public var id: String { Self.id(outTradeNo: outTradeNo, kind: kind, discriminator: discriminator) }

    /// The deterministic `ce_id` of an event.
    public static func id(outTradeNo: String, kind: Kind, discriminator: String) -> String {
        ContentDigest.sha256Hex("\(outTradeNo)|\(kind.rawValue)|\(discriminator)")
    }

    /// The JSON value (sorted keys, so equal data is byte-identical): written by hand
    /// (``RecordJSONWriter``), the bytes `JSONEncoder` writes (``valueWithJSONEncoder``, also used
    /// when the data holds a floating-point number).
    public var value: Data {
        RecordJSONWriter.value(.object(data), escapesSlashes: false) ?? valueWithJSONEncoder
    }

    /// The JSON value as `JSONEncoder` writes it.
    var valueWithJSONEncoder: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(JSONValue.object(data))) ?? Data("{}".utf8)
    }

    /// The CloudEvents binary-mode headers.
    public var headers: [KafkaHeader] {
        [
            KafkaHeader(key: "ce_id", string: id),
            KafkaHeader(key: "ce_source", string: Self.source),
            KafkaHeader(key: "ce_type", string: kind.rawValue),
            KafkaHeader(key: "ce_specversion", string: Self.specVersion),
            KafkaHeader(key: "ce_time", string: RFC3339.format(time)),
            KafkaHeader(key: "ce_subject", string: outTradeNo),
            KafkaHeader(key: "content-type", string: "application/json"),
            KafkaHeader(key: "ce_dataschema", string: Self.dataSchema),
        ]
    }

    /// The record to produce on `payfleet.payment-events`, keyed by `out_trade_no`.
    public func message(topic: String = FleetTopic.paymentEvents) -> KafkaProducerMessage {
        KafkaProducerMessage(topic: topic, key: outTradeNo, value: value, headers: headers)
    }
}

/// A payment event as a consumer reads it back (tests, the invariant checker, the demo).
public struct ReceivedPaymentEvent: Sendable, Hashable {
    public var id: String
    public var type: String
    public var subject: String
    public var time: Date?
    public var source: String
    public var data: [String: JSONValue]

    /// Reads the CloudEvents headers and JSON data of a record; `nil` when it is not a CloudEvent.
    public init?(headers: [KafkaHeader], value: Data?) {
        guard let id = headers.string("ce_id"), let type = headers.string("ce_type"),
            let subject = headers.string("ce_subject"), let source = headers.string("ce_source"),
            headers.string("ce_specversion") == PaymentEvent.specVersion,
            let value, case .object(let data)? = try? JSONValue.parse(value)
        else { return nil }
        self.id = id
        self.type = type
        self.subject = subject
        self.source = source
        self.time = headers.string("ce_time").flatMap(RFC3339.parse)
        self.data = data
    }
}
