/// What the three aggregator simulators (YunGouOS, 乐收赢, storepos) share: an order book, paying an
/// order from the control endpoint or a scenario, and starting the vendor's callbacks once it is paid.
/// Each simulator keeps its own wire format (answers, callback fields, signing).
protocol AggregatorSimulator: VendorSimulator {
    static var channel: String { get }
    var context: SandboxContext { get }
    var book: AggregatorOrderBook { get }
    /// A new vendor-side transaction id in the vendor's format.
    func newTransactionID() -> String
    /// Closes the order first if the vendor would have expired it by now (storepos does; default: nothing).
    func expireIfDue(_ outTradeNo: String)
    /// Starts the vendor's payment callbacks for a newly paid order, as its scenario says.
    func sendCallbacks(_ order: AggregatorOrder)
}

extension AggregatorSimulator {
    var channels: [String] { [Self.channel] }

    func expireIfDue(_ outTradeNo: String) {}

    func pay(channel: String, outTradeNo: String) async throws(SandboxError) -> SandboxOrderView {
        expireIfDue(outTradeNo)
        guard let existing = book.get(outTradeNo) else { throw .notFound("order \(outTradeNo)") }
        if existing.state == .closed { throw SandboxError(status: 409, message: "order \(outTradeNo) is closed") }
        guard let order = payNow(outTradeNo) else { throw .notFound("order \(outTradeNo)") }
        return book.view(channel: Self.channel, order)
    }

    func order(channel: String, outTradeNo: String) async -> SandboxOrderView? {
        book.get(outTradeNo).map { book.view(channel: Self.channel, $0) }
    }

    /// Pays the order (if unpaid) and starts its callbacks; returns the order as it now stands.
    @discardableResult
    func payNow(_ outTradeNo: String) -> AggregatorOrder? {
        guard let (order, newlyPaid) = book.markPaid(outTradeNo, transactionID: newTransactionID()) else { return nil }
        guard newlyPaid, order.state == .paid else { return order }
        sendCallbacks(order)
        return book.get(outTradeNo)
    }

    /// Sends a paid order's callback as its scenario says: twice for `duplicateCallback`, once and
    /// never retried for `forgedCallback`, else once with the vendor's `retrySchedule`.
    func dispatchCallback(
        _ order: AggregatorOrder, url: String, contentType: String, body: [UInt8], retrySchedule: [Duration],
        isAcknowledged: @escaping @Sendable (_ status: Int, _ body: String) -> Bool
    ) {
        let copies = order.scenario == .duplicateCallback ? 2 : 1
        let schedule = order.scenario == .forgedCallback ? [] : retrySchedule
        for _ in 0..<copies {
            book.update(order.outTradeNo) { $0.callbacksSent += 1 }
            context.dispatcher.dispatch(
                .init(
                    channel: Self.channel, outTradeNo: order.outTradeNo, url: url,
                    headers: [("Content-Type", contentType)],
                    body: body, retrySchedule: schedule, isAcknowledged: isAcknowledged
                ))
        }
    }
}
