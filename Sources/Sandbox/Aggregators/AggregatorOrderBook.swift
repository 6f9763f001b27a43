import Foundation
import NIOConcurrencyHelpers

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

    /// Every order, sorted by `out_trade_no` (bills).
    func all() -> [AggregatorOrder] {
        orders.withLockedValue { Array($0.values) }.sorted { $0.outTradeNo < $1.outTradeNo }
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
