import Foundation

/// A channel whose vendor documents refunds. The worker refunds only through channels that conform;
/// a refund request for any other channel is rejected with `refund_unsupported`.
///
/// Error contract (as ``PaymentChannel``): `.invalidRequest` is never retried (the refund is
/// rejected); retryable errors may be repeated later with the same arguments, because every vendor
/// dedupes refunds by `out_refund_no`. A refund whose outcome is unknown (timeout after sending,
/// a vendor "system error") is not an error: it returns ``RefundOutcome/pending(_:)`` and the
/// worker queries it.
public protocol RefundingChannel: PaymentChannel {
    /// When to query a refund that is processing, how long, and how fast.
    var refundPolicy: RefundPolicy { get }

    /// Checks a refund against the vendor's rules (amount, `out_refund_no` format, sub-orders)
    /// without calling the vendor.
    func validateRefund(_ refund: RefundOrder) throws(ChannelError)

    /// Asks the vendor to refund (validating first).
    func refund(_ refund: RefundOrder) async throws(ChannelError) -> RefundOutcome

    /// Asks the vendor for a refund's current state.
    func queryRefund(_ refund: RefundReference) async throws(ChannelError) -> RefundStatus
}

/// A refund as the worker hands it to a channel. Money is integer fen.
public struct RefundOrder: Sendable, Hashable {
    /// The merchant's refund number, unique per merchant; the vendor dedupes by it.
    public var outRefundNo: String
    /// What this refund gives back (the sum of `subRefunds` for a combine order).
    public var amount: Money
    public var reason: String?
    /// The URL the vendor sends its refund notification to (the ingress public base URL), for
    /// vendors that notify.
    public var notifyURL: String
    /// When PayFleet accepted the refund request.
    public var requestedAt: Date
    /// The paid order: its `order.amount` is the total paid, its memo what the create remembered.
    public var payment: OrderReference
    /// The vendor's transaction id of the payment, when known.
    public var transactionID: String?
    /// For a combine order, the sub-orders refunded and how much of each; empty for single orders.
    public var subRefunds: [SubRefund]

    public init(
        outRefundNo: String,
        amount: Money,
        reason: String? = nil,
        notifyURL: String,
        requestedAt: Date,
        payment: OrderReference,
        transactionID: String? = nil,
        subRefunds: [SubRefund] = []
    ) {
        self.outRefundNo = outRefundNo
        self.amount = amount
        self.reason = reason
        self.notifyURL = notifyURL
        self.requestedAt = requestedAt
        self.payment = payment
        self.transactionID = transactionID
        self.subRefunds = subRefunds
    }
}

/// One sub-order's part of a combine refund.
public struct SubRefund: Sendable, Hashable {
    /// The sub-order's `out_trade_no`.
    public var outTradeNo: String
    /// What is refunded from it now.
    public var amount: Money
    /// What the sub-order was paid.
    public var paid: Money
    /// The sub-order's vendor merchant id (`sub_mchid`).
    public var vendorMerchantID: String?
    /// The sub-order's vendor transaction id, when known.
    public var transactionID: String?

    public init(
        outTradeNo: String, amount: Money, paid: Money, vendorMerchantID: String? = nil, transactionID: String? = nil
    ) {
        self.outTradeNo = outTradeNo
        self.amount = amount
        self.paid = paid
        self.vendorMerchantID = vendorMerchantID
        self.transactionID = transactionID
    }
}

/// A refund that was (or may have been) sent to the vendor, for query: the refund plus whatever the
/// channel asked to remember from ``RefundOutcome``.
public struct RefundReference: Sendable, Hashable {
    public var refund: RefundOrder
    public var memo: [String: String]

    public init(refund: RefundOrder, memo: [String: String] = [:]) {
        self.refund = refund
        self.memo = memo
    }

    /// The memo key under which a channel keeps the vendor's own refund number when the vendor's
    /// refund notification names the refund by it rather than by `out_refund_no` (YunGouOS `refundNo`).
    public static let vendorRefundNoMemoKey = "vendor_refund_no"
}

/// What the vendor said to a refund request.
public enum RefundOutcome: Sendable, Hashable {
    /// The vendor took the refund; the result comes by notification or query.
    case processing(memo: [String: String])
    /// Refunded now (a vendor that answers synchronously).
    case succeeded(RefundDetails)
    /// The vendor refused the refund for good (business error).
    case failed(VendorFailure)
    /// The outcome is not known (timeout after sending, a vendor system error): query it.
    case pending(PendingReason, memo: [String: String])
}

/// The state of a refund at the vendor.
public enum RefundStatus: Sendable, Hashable {
    /// Still being processed.
    case processing
    /// Money returned to the payer.
    case succeeded(RefundDetails)
    /// Failed for good (WeChat `ABNORMAL` / `CLOSED`, storepos `FAIL`).
    case failed(VendorFailure)
    /// The vendor does not know this refund (never received).
    case notFound
}

/// A refund as the vendor reports it.
public struct RefundDetails: Sendable, Hashable {
    /// The vendor's refund id(s) (comma-free; one per sub-order for combine, in `subRefunds` order).
    public var vendorRefundIDs: [String]
    /// What the vendor says was refunded, in fen.
    public var amount: Money
    /// The vendor's refund time (GMT+8 at the vendor).
    public var refundedAt: Date?

    public init(vendorRefundIDs: [String] = [], amount: Money, refundedAt: Date? = nil) {
        self.vendorRefundIDs = vendorRefundIDs
        self.amount = amount
        self.refundedAt = refundedAt
    }
}

/// A verified refund notification (WeChat v2 `req_info`, WeChat v3 `REFUND.*`, YunGouOS refund
/// callback). ``VerifiedCallback/refund`` carries it; the callback's `outTradeNo` is the paid order.
public struct RefundNotice: Sendable, Hashable {
    public var outRefundNo: String
    public var status: RefundStatus
    /// The vendor's own refund number, for a vendor whose notification does not carry `out_refund_no`
    /// (then `outRefundNo` is empty and the refund whose memo holds this number under
    /// ``RefundReference/vendorRefundNoMemoKey`` is meant).
    public var vendorRefundNo: String?

    public init(outRefundNo: String, status: RefundStatus, vendorRefundNo: String? = nil) {
        self.outRefundNo = outRefundNo
        self.status = status
        self.vendorRefundNo = vendorRefundNo
    }
}

/// Timing of refund queries for one vendor.
public struct RefundPolicy: Sendable, Hashable {
    /// Delay before the first query of a refund that is processing or pending.
    public var firstQuery: Duration
    /// Intervals between later queries (the last repeats) — backoff.
    public var queryIntervals: [Duration]
    /// After this long without a final answer the refund is reported stuck (an anomaly) and queries stop.
    public var queryLimit: Duration

    public init(
        firstQuery: Duration = .seconds(10),
        queryIntervals: [Duration] = [.seconds(30), .seconds(60), .seconds(300), .seconds(1800)],
        queryLimit: Duration = .seconds(3 * 24 * 3600)
    ) {
        self.firstQuery = firstQuery
        self.queryIntervals = queryIntervals
        self.queryLimit = queryLimit
    }
}
