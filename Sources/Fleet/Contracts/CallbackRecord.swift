import Foundation
import Kafka
import Payments

/// A raw vendor callback as the ingress writes it to `payfleet.callbacks`: the body bytes as the
/// value (byte for byte, for audit and replay) and everything else in headers.
///
/// Headers: `payfleet-channel`, `payfleet-merchant` (from the notify URL path),
/// `payfleet-received-at-ms` (Unix milliseconds), and one `payfleet-http-<name>` per HTTP request
/// header (name lowercased). Key: the `out_trade_no` the callback names.
public struct CallbackRecord: Sendable, Hashable {
    public static let channelHeader = "payfleet-channel"
    public static let merchantHeader = "payfleet-merchant"
    public static let receivedAtHeader = "payfleet-received-at-ms"
    public static let httpHeaderPrefix = "payfleet-http-"
    /// The latest `payfleet-received-at-ms` accepted: 9999-12-31T23:59:59.999Z.
    public static let maximumReceivedAtMilliseconds: Int64 = 253_402_300_799_999
    /// The topic callback records are written to.
    public static let topic = FleetTopic.callbacks

    /// The channel segment of the notify URL (raw; may be unknown).
    public var channel: String
    /// The merchant segment of the notify URL.
    public var merchant: String
    /// The order key the ingress found in the callback.
    public var outTradeNo: String
    /// The callback as received.
    public var raw: RawCallback

    public init(channel: String, merchant: String, outTradeNo: String, raw: RawCallback) {
        self.channel = channel
        self.merchant = merchant
        self.outTradeNo = outTradeNo
        self.raw = raw
    }

    /// SHA-256 hex of the body, the evidence digest of callback anomalies.
    public var bodyDigest: String { ContentDigest.sha256Hex(raw.body) }

    /// The record headers.
    public var headers: [KafkaHeader] {
        var result = [
            KafkaHeader(key: Self.channelHeader, string: channel),
            KafkaHeader(key: Self.merchantHeader, string: merchant),
            KafkaHeader(
                key: Self.receivedAtHeader,
                string: String(Int64((raw.receivedAt.timeIntervalSince1970 * 1000).rounded()))),
        ]
        for (name, value) in raw.headers.sorted(by: { $0.key < $1.key }) {
            result.append(KafkaHeader(key: Self.httpHeaderPrefix + name, string: value))
        }
        return result
    }

    /// The record to produce on `payfleet.callbacks`.
    public func message(topic: String = FleetTopic.callbacks) -> KafkaProducerMessage {
        KafkaProducerMessage(topic: topic, key: outTradeNo, value: Data(raw.body), headers: headers)
    }

    /// Reads a record written by the ingress.
    /// - Throws: ``RequestRejection`` (``RejectionReason/malformedCallbackRecord`` or ``RejectionReason/nullValue``).
    public static func decode(
        key: String?, value: Data?, headers: [KafkaHeader]
    ) throws(RequestRejection) -> CallbackRecord {
        guard let value else {
            throw RequestRejection(
                reason: .nullValue, detail: "the callback record has no value", outTradeNo: key, contentDigest: "")
        }
        let digest = ContentDigest.sha256Hex(value)
        guard let key, !key.isEmpty else {
            throw RequestRejection(
                reason: .malformedCallbackRecord, detail: "the callback record has no key", contentDigest: digest)
        }
        guard let channel = headers.string(channelHeader), let merchant = headers.string(merchantHeader) else {
            throw RequestRejection(
                reason: .malformedCallbackRecord,
                detail: "the callback record lacks the \(channelHeader) or \(merchantHeader) header", outTradeNo: key,
                contentDigest: digest)
        }
        let millis = headers.string(receivedAtHeader).flatMap { Int64($0) }
        guard let millis else {
            throw RequestRejection(
                reason: .malformedCallbackRecord, detail: "the callback record lacks the \(receivedAtHeader) header",
                outTradeNo: key, contentDigest: digest)
        }
        // 1970 … 9999: a time the record can be written back with (beyond ±2^53 ms the milliseconds
        // do not survive the Date, and near Int64.max writing them back traps).
        guard (0...maximumReceivedAtMilliseconds).contains(millis) else {
            throw RequestRejection(
                reason: .malformedCallbackRecord,
                detail: "the \(receivedAtHeader) header is not a time between 1970 and 9999",
                outTradeNo: key, contentDigest: digest)
        }
        var http: [String: String] = [:]
        for header in headers where header.key.hasPrefix(httpHeaderPrefix) {
            http[String(header.key.dropFirst(httpHeaderPrefix.count))] = header.stringValue ?? ""
        }
        let raw = RawCallback(
            body: Array(value), headers: http, receivedAt: Date(timeIntervalSince1970: Double(millis) / 1000))
        return CallbackRecord(channel: channel, merchant: merchant, outTradeNo: key, raw: raw)
    }
}
