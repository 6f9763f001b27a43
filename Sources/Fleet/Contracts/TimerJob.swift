import Foundation
import Kafka
import Payments

/// A timer: "query (or close) this order at `due_at`". The worker writes it to a delay tier; the
/// scheduler forwards the same value and headers to `payfleet.query-jobs` when it is due.
///
/// Value: `{"job","out_trade_no","merchant","channel","due_at","reason","attempt","timer_id"}` plus
/// `"out_refund_no"` for refund timers;
/// header `payfleet-due-at-ms` carries the due time as Unix milliseconds so the scheduler never
/// parses the value. Key: `out_trade_no`.
public struct TimerJob: Sendable, Hashable {
    /// What to do when due.
    public enum Job: String, Sendable, Hashable, Codable {
        case query
        case close
    }

    /// Why the timer exists (bounded; a metric label).
    public enum Reason: String, Sendable, Hashable, Codable, CaseIterable {
        /// Querying an order whose outcome is pending (NEED_QUERY, USERPAYING, unknown result).
        case pending
        /// A fallback query of a prepared order that got no callback.
        case fallback
        /// The order's expiry (close), or the retention end of a terminal order's state.
        case expiry
        /// A query after a callback that could not be accepted.
        case anomaly
        /// Repeating a vendor call that failed with a retryable error.
        case retry
        /// Querying (or re-sending) the refund named by ``TimerJob/outRefundNo``.
        case refund
    }

    /// The header with the due time in Unix milliseconds.
    public static let dueAtHeader = "payfleet-due-at-ms"

    public var job: Job
    public var outTradeNo: String
    public var merchant: String
    public var channel: String
    /// When the job is due (millisecond precision on the wire).
    public var dueAt: Date
    public var reason: Reason
    /// The attempt number within its chain (1-based).
    public var attempt: Int
    /// A unique id of this timer.
    public var timerID: String
    /// The refund a ``Reason/refund`` timer is for.
    public var outRefundNo: String?

    public init(
        job: Job, outTradeNo: String, merchant: String, channel: String, dueAt: Date, reason: Reason, attempt: Int,
        timerID: String? = nil, outRefundNo: String? = nil
    ) {
        self.job = job
        self.outTradeNo = outTradeNo
        self.merchant = merchant
        self.channel = channel
        let millis = Self.milliseconds(dueAt)
        self.dueAt = Date(timeIntervalSince1970: Double(millis) / 1000)
        self.reason = reason
        self.attempt = attempt
        self.outRefundNo = outRefundNo
        let refundPart = outRefundNo.map { "|\($0)" } ?? ""
        self.timerID =
            timerID
            ?? ContentDigest.sha256Hex(
                "\(outTradeNo)|\(job.rawValue)|\(reason.rawValue)|\(attempt)|\(millis)\(refundPart)", characters: 32)
    }

    /// The due time as Unix milliseconds.
    public var dueAtMilliseconds: Int64 { Self.milliseconds(dueAt) }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    private struct Wire: Codable {
        var job: Job
        var out_trade_no: String
        var merchant: String
        var channel: String
        var due_at: String
        var reason: Reason
        var attempt: Int
        var timer_id: String
        var out_refund_no: String?
    }

    /// The JSON value: written by hand (``RecordJSONWriter``), the bytes `JSONEncoder` writes for
    /// the wire form (``valueWithJSONEncoder``).
    public var value: Data {
        var object = RecordJSONWriter.ObjectWriter(capacity: 9)
        object.add("job", job.rawValue)
        object.add("out_trade_no", outTradeNo)
        object.add("merchant", merchant)
        object.add("channel", channel)
        object.add("due_at", RFC3339.formatMilliseconds(dueAtMilliseconds))
        object.add("reason", reason.rawValue)
        object.add("attempt", attempt)
        object.add("timer_id", timerID)
        object.add("out_refund_no", outRefundNo)
        return RecordJSONWriter.object(object, escapesSlashes: true, capacity: 256) ?? valueWithJSONEncoder
    }

    /// The JSON value as `JSONEncoder` writes it (the reference ``value`` matches).
    var valueWithJSONEncoder: Data {
        let wire = Wire(
            job: job, out_trade_no: outTradeNo, merchant: merchant, channel: channel,
            due_at: RFC3339.formatMilliseconds(dueAtMilliseconds), reason: reason, attempt: attempt, timer_id: timerID,
            out_refund_no: outRefundNo)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(wire)) ?? Data()
    }

    /// The headers (`payfleet-due-at-ms`).
    public var headers: [KafkaHeader] {
        [KafkaHeader(key: Self.dueAtHeader, string: String(dueAtMilliseconds))]
    }

    /// The record for the delay tier that fits the time left until due, seen from `now`.
    public func message(now: Date) -> KafkaProducerMessage {
        let remaining = Duration.milliseconds(dueAtMilliseconds - Self.milliseconds(now))
        return message(topic: DelayTier.forRemaining(remaining).topic)
    }

    /// The record for an explicit topic (the scheduler forwarding to `payfleet.query-jobs`).
    public func message(topic: String) -> KafkaProducerMessage {
        KafkaProducerMessage(topic: topic, key: outTradeNo, value: value, headers: headers)
    }

    /// Reads a job value.
    /// - Throws: ``RequestRejection`` with ``RejectionReason/malformedJob`` naming what is wrong.
    public static func decode(_ value: Data?) throws(RequestRejection) -> TimerJob {
        guard let value else {
            throw RequestRejection(reason: .nullValue, detail: "the timer job record has no value", contentDigest: "")
        }
        let digest = ContentDigest.sha256Hex(value)
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: value)
        } catch {
            throw RequestRejection(
                reason: .malformedJob, detail: "the timer job is not a valid job object (\(Self.describe(error)))",
                contentDigest: digest)
        }
        guard let due = RFC3339.parse(wire.due_at) else {
            throw RequestRejection(
                reason: .malformedJob, detail: "due_at must be an RFC 3339 timestamp", outTradeNo: wire.out_trade_no,
                contentDigest: digest)
        }
        guard !wire.out_trade_no.isEmpty, wire.attempt >= 0 else {
            throw RequestRejection(
                reason: .malformedJob, detail: "out_trade_no must be non-empty and attempt non-negative",
                contentDigest: digest)
        }
        return TimerJob(
            job: wire.job, outTradeNo: wire.out_trade_no, merchant: wire.merchant, channel: wire.channel, dueAt: due,
            reason: wire.reason, attempt: wire.attempt, timerID: wire.timer_id, outRefundNo: wire.out_refund_no)
    }

    /// The due time from the `payfleet-due-at-ms` header, without parsing the value.
    public static func dueAtMilliseconds(headers: [KafkaHeader]) -> Int64? {
        headers.string(dueAtHeader).flatMap { Int64($0) }
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "missing \(key.stringValue)"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            return "bad \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case .dataCorrupted(let context)?:
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "not JSON" : "bad \(path)"
        default: return "undecodable"
        }
    }
}
