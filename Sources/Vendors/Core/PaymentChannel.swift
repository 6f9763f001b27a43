import Foundation

/// One merchant account on one vendor: what the worker calls to create, query and close orders and
/// to verify and parse that vendor's callbacks.
///
/// Every vendor folder implements this protocol and exposes nothing vendor-specific beyond it (apart
/// from its operator tools), so the worker handles all five channels with one state machine.
///
/// Error contract:
/// - `create`, `query` and `close` throw ``ChannelError``. `.invalidRequest` is the caller's fault
///   and is never retried (the order is rejected). `isRetryable` errors may be repeated later with
///   the same arguments: creates are idempotent by `out_trade_no`, and a vendor that answers
///   "duplicate order number" makes `create` return ``CreateOutcome/duplicate`` so the caller
///   switches to `query`.
/// - A create whose outcome is unknown (timeout after the request was sent, NEED_QUERY, USERPAYING)
///   is not an error: it returns ``CreateOutcome/pending(_:memo:)`` and the caller queries later.
/// - A response whose signature does not verify is `.badResponse`, never a success.
public protocol PaymentChannel: Sendable {
    /// The channel this account belongs to.
    var channel: ChannelID { get }
    /// The merchant alias from configuration.
    var merchant: String { get }
    /// Timing rules of this vendor: when to query, how long, when a close is allowed.
    var policy: ChannelPolicy { get }

    /// Checks an order against the vendor's rules (amount range, `out_trade_no` format, required
    /// options) without calling the vendor.
    func validate(_ order: PaymentOrder) throws(ChannelError)

    /// Creates the order at the vendor (validating it first).
    func create(_ order: PaymentOrder) async throws(ChannelError) -> CreateOutcome

    /// Asks the vendor for the order's current state.
    func query(_ order: OrderReference) async throws(ChannelError) -> TradeStatus

    /// Closes (or for storepos, cancels) an unpaid order at the vendor.
    func close(_ order: OrderReference) async throws(ChannelError) -> CloseOutcome

    /// Verifies a raw callback (signature, timestamp, decryption) and parses it.
    func verifyCallback(_ callback: RawCallback) async throws(CallbackError) -> VerifiedCallback

    /// The order key a callback names, found without verifying it (the ingress needs it to
    /// partition the raw callback; a WeChat APIv3 resource is decrypted only to find it).
    func callbackOrderKey(_ callback: RawCallback) throws(CallbackError) -> String

    /// The exact HTTP answers this vendor expects to a callback.
    var acknowledgement: CallbackAcknowledgement { get }
}

/// An order as the worker hands it to a channel. Money is integer fen.
public struct PaymentOrder: Sendable, Hashable {
    public var outTradeNo: String
    public var amount: Money
    public var description: String
    public var attach: String?
    /// When PayFleet accepted the order; vendor minimum ages (WeChat's 5-minute close rule) count from here.
    public var createdAt: Date
    /// When the order should be closed if unpaid.
    public var expiresAt: Date?
    public var clientIP: String?
    /// The URL the vendor sends its callback to (built from the ingress public base URL).
    public var notifyURL: String
    /// Channel-specific options from the request (`trade_type`, `openid`, `pay_type`, `sub_orders`, …).
    public var options: [String: JSONValue]

    public init(
        outTradeNo: String,
        amount: Money,
        description: String,
        attach: String? = nil,
        createdAt: Date,
        expiresAt: Date? = nil,
        clientIP: String? = nil,
        notifyURL: String,
        options: [String: JSONValue] = [:]
    ) {
        self.outTradeNo = outTradeNo
        self.amount = amount
        self.description = description
        self.attach = attach
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.clientIP = clientIP
        self.notifyURL = notifyURL
        self.options = options
    }
}

/// An order that was (or may have been) created at the vendor, for query and close: the original
/// order plus whatever the channel asked to remember from the create (its ``CreateOutcome`` memo,
/// e.g. 乐收赢's `trade_no` / `pay_trace_no` / `pay_time`).
public struct OrderReference: Sendable, Hashable {
    public var order: PaymentOrder
    public var memo: [String: String]

    public init(order: PaymentOrder, memo: [String: String] = [:]) {
        self.order = order
        self.memo = memo
    }
}

/// What the vendor said to a create.
public enum CreateOutcome: Sendable, Hashable {
    /// The order exists at the vendor and can be paid with what ``Prepared`` holds.
    case prepared(Prepared)
    /// The outcome is not known yet (NEED_QUERY, USERPAYING, a timeout after sending): query later.
    case pending(PendingReason, memo: [String: String])
    /// The vendor refused the order for good (business error).
    case failed(VendorFailure)
    /// The vendor already has an order with this `out_trade_no`: query it instead of creating again.
    case duplicate
}

/// What a payer needs to pay a prepared order.
public struct Prepared: Sendable, Hashable {
    /// A `weixin://` link (WeChat Native) to render as a QR code.
    public var codeURL: String?
    /// A QR code image URL (YunGouOS `type=2`, storepos `code_img_url`).
    public var qrImageURL: String?
    /// Mini-program / JSAPI pay parameters (`appId`, `timeStamp`, `nonceStr`, `package`, `signType`, `paySign`, …).
    public var payParameters: [String: String]
    /// The vendor's own order id, when it gives one at creation.
    public var vendorOrderID: String?
    /// Values the channel needs again for query and close; kept in the order state.
    public var memo: [String: String]

    public init(
        codeURL: String? = nil,
        qrImageURL: String? = nil,
        payParameters: [String: String] = [:],
        vendorOrderID: String? = nil,
        memo: [String: String] = [:]
    ) {
        self.codeURL = codeURL
        self.qrImageURL = qrImageURL
        self.payParameters = payParameters
        self.vendorOrderID = vendorOrderID
        self.memo = memo
    }
}

/// Why an outcome is not known yet.
public enum PendingReason: String, Sendable, Hashable, Codable {
    /// The vendor said to query (storepos `trade_state=NEED_QUERY`, WeChat SYSTEMERROR on create).
    case needQuery = "need_query"
    /// The payer is entering a password or confirming (WeChat USERPAYING, 乐收赢 PAY_IN_PROCESS).
    case userPaying = "user_paying"
    /// The request may have reached the vendor but no answer came (timeout, connection reset).
    case unknownResult = "unknown_result"
}

/// A vendor's business refusal: its code and message, verbatim.
public struct VendorFailure: Sendable, Hashable, Codable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// The state of an order at the vendor.
public enum TradeStatus: Sendable, Hashable {
    /// Not paid yet (WeChat NOTPAY, YunGouOS payStatus 0, storepos 10003).
    case notPaid
    /// The payer is paying right now (USERPAYING, PAY_IN_PROCESS, storepos 10001).
    case paying
    /// Paid.
    case succeeded(PaymentDetails)
    /// Closed or revoked at the vendor without payment.
    case closed
    /// Payment failed for good (PAYERROR, PAY_FAIL).
    case failed(VendorFailure)
    /// Paid and then refunded (fully or partly); the payment did happen.
    case refunded(PaymentDetails)
    /// The vendor does not know the order (never created, or created and expired away).
    case notFound
}

/// A payment as the vendor reports it.
public struct PaymentDetails: Sendable, Hashable {
    public var transactionID: String
    /// The total the vendor says was paid for the order, in fen.
    public var amount: Money
    /// The vendor's payment time (vendor timestamps are GMT+8).
    public var paidAt: Date?
    /// The vendor merchant id the payment went to, when the vendor reports it.
    public var vendorMerchantID: String?
    /// Per sub-order results (WeChat combine); empty for single orders.
    public var subPayments: [SubPayment]

    public init(
        transactionID: String,
        amount: Money,
        paidAt: Date? = nil,
        vendorMerchantID: String? = nil,
        subPayments: [SubPayment] = []
    ) {
        self.transactionID = transactionID
        self.amount = amount
        self.paidAt = paidAt
        self.vendorMerchantID = vendorMerchantID
        self.subPayments = subPayments
    }
}

/// One sub-order of a combine payment.
public struct SubPayment: Sendable, Hashable {
    public var outTradeNo: String
    public var vendorMerchantID: String
    public var transactionID: String?
    public var amount: Money
    public var tradeState: String

    public init(outTradeNo: String, vendorMerchantID: String, transactionID: String?, amount: Money, tradeState: String)
    {
        self.outTradeNo = outTradeNo
        self.vendorMerchantID = vendorMerchantID
        self.transactionID = transactionID
        self.amount = amount
        self.tradeState = tradeState
    }
}

/// What the vendor said to a close.
public enum CloseOutcome: Sendable, Hashable {
    /// Closed now.
    case closed
    /// It was already closed (or revoked / expired) at the vendor.
    case alreadyClosed
    /// It cannot be closed: it was paid. Query it for the payment.
    case alreadyPaid
    /// Too young to close (WeChat's 5-minute minimum age); try again after the given time.
    case tooEarly(retryAfter: Duration)
    /// The vendor does not know the order.
    case notFound
}
