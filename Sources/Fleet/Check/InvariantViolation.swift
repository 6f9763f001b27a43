/// One broken guarantee found by ``InvariantChecker``.
public struct InvariantViolation: Sendable, Hashable, CustomStringConvertible {
    /// A short machine word.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// An accepted order (it has payment events) without a terminal event.
        case missingTerminal = "missing_terminal"
        /// More than one distinct terminal event for one order.
        case multipleTerminal = "multiple_terminal"
        /// Terminal events of different types (e.g. succeeded and closed) for one order.
        case conflictingTerminal = "conflicting_terminal"
        /// A non-terminal payment event after a terminal one.
        case regression
        /// Events of one order whose times go backwards.
        case outOfOrder = "out_of_order"
        /// A create request that produced neither payment events nor a rejection.
        case unansweredCreate = "unanswered_create"
        /// A vendor callback the ingress acknowledged that is not in the callbacks topic.
        case missingCallback = "missing_callback"
        /// A record on a partition that does not own its key (murmur2), not forwarded to the owner.
        case misPartitioned = "mis_partitioned"
        /// More than one distinct terminal refund event (succeeded / failed) for one `out_refund_no`.
        case multipleRefundTerminal = "multiple_refund_terminal"
        /// The succeeded refunds of an order add up to more than was paid (or a refund succeeded on an
        /// order that never succeeded).
        case refundExceedsPaid = "refund_exceeds_paid"
    }

    public var kind: Kind
    /// The order concerned.
    public var outTradeNo: String
    /// What was seen.
    public var detail: String

    public var description: String { "\(kind.rawValue) \(outTradeNo): \(detail)" }
}
