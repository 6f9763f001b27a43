import Payments

/// The HTTP answer to one callback and what happened to it.
public struct IngressResult: Sendable, Hashable {
    public var reply: CallbackReply
    public var outcome: IngressOutcome
    /// The dead-letter reason word when ``outcome`` is ``IngressOutcome/unroutable``.
    public var reason: String?
    /// The order key, when one was found.
    public var outTradeNo: String?

    public init(reply: CallbackReply, outcome: IngressOutcome, reason: String? = nil, outTradeNo: String? = nil) {
        self.reply = reply
        self.outcome = outcome
        self.reason = reason
        self.outTradeNo = outTradeNo
    }
}
