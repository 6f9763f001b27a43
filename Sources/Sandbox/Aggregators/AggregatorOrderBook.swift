import Foundation
import NIOConcurrencyHelpers

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
    /// Vendor-specific values (pay_time, pay_type, paytype, trade_type, time_expire, body, …).
    var extra: [String: String] = [:]
}

/// The simulator's orders, keyed by `out_trade_no`, under a lock.
final class AggregatorOrderBook: Sendable {
    private let orders = NIOLockedValueBox<[String: AggregatorOrder]>([:])

    /// Adds an order; `false` when the number is taken.
    func insert(_ order: AggregatorOrder) -> Bool {
        orders.withLockedValue { orders in
            guard orders[order.outTradeNo] == nil else { return false }
            orders[order.outTradeNo] = order
            return true
        }
    }

    func get(_ outTradeNo: String) -> AggregatorOrder? {
        orders.withLockedValue { $0[outTradeNo] }
    }

    /// Finds the first order matching `predicate`.
    func first(where predicate: (AggregatorOrder) -> Bool) -> AggregatorOrder? {
        orders.withLockedValue { $0.values.first(where: predicate) }
    }

    /// Changes an order under the lock and returns what `body` returns; `nil` when there is no such order.
    func update<T>(_ outTradeNo: String, _ body: (inout AggregatorOrder) -> T) -> T? {
        orders.withLockedValue { orders in
            guard var order = orders[outTradeNo] else { return nil }
            let result = body(&order)
            orders[outTradeNo] = order
            return result
        }
    }

    /// Marks an unpaid order paid. Returns the order and whether this call paid it.
    func markPaid(_ outTradeNo: String, transactionID: String) -> (order: AggregatorOrder, newlyPaid: Bool)? {
        update(outTradeNo) { order in
            guard order.state == .notPaid else { return (order, false) }
            order.state = .paid
            order.transactionID = transactionID
            order.paidAt = Date()
            return (order, true)
        }
    }

    func view(channel: String, _ order: AggregatorOrder) -> SandboxOrderView {
        SandboxOrderView(
            channel: channel, outTradeNo: order.outTradeNo, amountFen: order.amountFen, state: order.state.rawValue,
            scenario: order.scenario.rawValue, transactionID: order.transactionID, queries: order.queries,
            callbacksSent: order.callbacksSent
        )
    }
}

/// Callback retry schedules (delays after the first, immediate, attempt).
enum AggregatorRetrySchedules {
    /// storepos, from its docs: 0/15s/15s/15s/30s/3m/3m/30m/30m/30m/30m/1h.
    static let storepos: [Duration] = [
        .seconds(15), .seconds(15), .seconds(15), .seconds(30), .seconds(180), .seconds(180),
        .seconds(1800), .seconds(1800), .seconds(1800), .seconds(1800), .seconds(3600),
    ]
    /// YunGouOS: "retries up to 15 times" (unverified third-party doc); the intervals are an
    /// assumption borrowed from WeChat Pay v2, whose notifications YunGouOS relays:
    /// 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h.
    static let yungouos: [Duration] = [
        .seconds(15), .seconds(15), .seconds(30), .seconds(180), .seconds(600), .seconds(1200), .seconds(1800),
        .seconds(1800), .seconds(1800), .seconds(3600), .seconds(10800), .seconds(10800), .seconds(10800),
        .seconds(21600), .seconds(21600),
    ]
    /// 乐收赢 only says it keeps notifying until acknowledged ("否则乐收赢会一直通知"); assumed to
    /// follow the same 15-retry schedule as YunGouOS.
    static let leshouying: [Duration] = yungouos
}
