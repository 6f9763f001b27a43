import NIOConcurrencyHelpers

/// Where an order stands for the control endpoint's pay.
enum SandboxPayability: Sendable {
    case payable, alreadyPaid, closed
}

/// A simulator that keeps its orders in one locked dictionary (the two WeChat simulators): paying
/// from the control endpoint and showing an order are the same for both.
protocol LockedOrderSimulator: VendorSimulator {
    associatedtype Order: Sendable
    var orders: NIOLockedValueBox<[String: Order]> { get }
    static func payability(of order: Order) -> SandboxPayability
    /// Marks the order paid the way the vendor records a payment.
    static func markPaid(_ order: inout Order)
    /// Starts the vendor's payment notifications for a newly paid order, as its scenario says.
    func sendCallbacks(for order: Order)
    func view(_ order: Order) -> SandboxOrderView
}

private enum PayOutcome<Order> {
    case missing, closed, alreadyPaid(Order), paid(Order)
}

extension LockedOrderSimulator {
    func pay(channel: String, outTradeNo: String) async throws(SandboxError) -> SandboxOrderView {
        let outcome: PayOutcome<Order> = orders.withLockedValue { orders in
            guard var order = orders[outTradeNo] else { return .missing }
            switch Self.payability(of: order) {
            case .alreadyPaid: return .alreadyPaid(order)
            case .closed: return .closed
            case .payable:
                Self.markPaid(&order)
                orders[outTradeNo] = order
                return .paid(order)
            }
        }
        switch outcome {
        case .missing: throw .notFound("order \(outTradeNo)")
        case .closed: throw SandboxError(status: 409, message: "order \(outTradeNo) is closed")
        case .alreadyPaid(let order): return view(order)
        case .paid(let order):
            sendCallbacks(for: order)
            return await self.order(channel: channel, outTradeNo: outTradeNo) ?? view(order)
        }
    }

    func order(channel: String, outTradeNo: String) async -> SandboxOrderView? {
        orders.withLockedValue { $0[outTradeNo] }.map { self.view($0) }
    }
}
