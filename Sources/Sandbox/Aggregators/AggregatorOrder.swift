import Foundation

/// One order held by an aggregator simulator.
struct AggregatorOrder: Sendable {
    enum State: String, Sendable {
        case notPaid = "NOTPAY"
        case paid = "SUCCESS"
        case closed = "CLOSED"
        /// Paid, then reversed by storepos `cancel`.
        case revoked = "REVOKED"
    }

    var merchantID: String
    var outTradeNo: String
    var amountFen: Int64
    var scenario: SandboxScenario
    var state: State = .notPaid
    /// The vendor's own order number.
    var vendorOrderNo: String
    /// The payment's transaction id, once paid.
    var transactionID: String?
    var paidAt: Date?
    var createdAt: Date = Date()
    var notifyURL: String?
    var attach: String?
    var queries = 0
    var callbacksSent = 0
    /// Refunds of the paid order, in the order they were asked for.
    var refunds: [SandboxRefund] = []
    /// Vendor-specific values (pay_time, pay_type, paytype, trade_type, time_expire, body, …).
    var extra: [String: String] = [:]
}
