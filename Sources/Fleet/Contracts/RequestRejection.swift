/// An order request that cannot be processed, with what is known about it: enough to publish a
/// `payfleet.request.rejected` event (when the `out_trade_no` is known) and a dead-letter record.
public struct RequestRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: RejectionReason
    /// A human sentence naming the field and what is wrong with it. Never secrets.
    public var detail: String
    /// The order the request names, when it could be read.
    public var outTradeNo: String?
    /// The merchant alias the request names, when it could be read.
    public var merchant: String?
    /// The channel the request names, when it could be read (raw, possibly unknown).
    public var channel: String?
    /// The action the request names, when it could be read.
    public var action: String?
    /// Digest of the request content (canonical JSON when it parsed, raw bytes otherwise).
    public var contentDigest: String

    public var description: String { "\(reason.rawValue): \(detail)" }
}
