import Foundation
import Payments

extension OrderMachine {
    /// An upstream command (already structurally valid, its merchant resolved to this machine's context).
    ///
    /// - Parameters:
    ///   - request: the decoded request.
    ///   - receivedAt: the request record's timestamp; it becomes the order's creation time, so a
    ///     replayed create sends the vendor identical parameters.
    ///   - now: the current time.
    public mutating func requestReceived(_ request: OrderRequest, receivedAt: Date, now: Date) -> OrderStep {
        switch request.action {
        case .create: return create(request, receivedAt: receivedAt, now: now)
        case .close: return closeRequested(request, now: now)
        case .query: return queryRequested(request, now: now)
        case .refund: return refundRequested(request, receivedAt: receivedAt, now: now)
        }
    }

    private mutating func create(_ request: OrderRequest, receivedAt: Date, now: Date) -> OrderStep {
        if let existing = state {
            guard existing.requestDigest == request.contentDigest else {
                return reject(
                    request, .duplicateOutTradeNo,
                    "out_trade_no already names an order with different content (status \(existing.status.rawValue))",
                    now: now)
            }
            // The same create again (upstream retry, or a replay after a crash).
            guard existing.status == .creating else { return OrderStep() }
            return recreate(now: now)
        }
        guard let amount = request.amount, let description = request.description else {
            return reject(request, .missingField, "amount_fen and description are required for create", now: now)
        }
        let expiresAt = request.expiresAt ?? receivedAt + configuration.defaultTTL.timeInterval
        guard expiresAt > receivedAt, expiresAt > now else {
            return reject(request, .badExpiry, "expires_at \(RFC3339.format(expiresAt)) has already passed", now: now)
        }
        let fresh = OrderState(
            outTradeNo: request.outTradeNo, merchant: request.merchant, channel: request.channel, amount: amount,
            description: description, attach: request.attach, clientIP: request.clientIP, options: request.options,
            createdAt: receivedAt, expiresAt: expiresAt, requestDigest: request.contentDigest)
        do throws(ChannelError) {
            try context.validate(fresh.paymentOrder(notifyURL: context.notifyURL))
        } catch {
            let reason: RejectionReason = error.code == .invalidRequest ? .invalidRequest : .invalidField
            return reject(request, reason, error.message, now: now)
        }
        state = fresh
        state?.createAttempts = 1
        awaiting = .create
        let outputs = [persist(), job(.close, .expiry, attempt: 1, due: closeDue(fresh))].compactMap { $0 }
        return OrderStep(outputs: outputs, call: .create(fresh.paymentOrder(notifyURL: context.notifyURL)))
    }

    /// Calls create again for an order whose create outcome is unknown (same parameters).
    mutating func recreate(now: Date) -> OrderStep {
        guard var current = state else { return OrderStep() }
        current.createAttempts += 1
        state = current
        awaiting = .create
        return OrderStep(
            outputs: [persist()].compactMap { $0 }, call: .create(current.paymentOrder(notifyURL: context.notifyURL)))
    }

    private mutating func closeRequested(_ request: OrderRequest, now: Date) -> OrderStep {
        guard var current = state else {
            return reject(request, .unknownOrder, "close for an order this worker does not know", now: now)
        }
        if let problem = mismatch(request, current) { return reject(request, .invalidField, problem, now: now) }
        guard !current.status.isTerminal else { return OrderStep() }
        current.closeRequested = true
        state = current
        let persisted = [persist()].compactMap { $0 }
        var step = beginClose(now: now)
        step.outputs.insert(contentsOf: persisted, at: 0)
        return step
    }

    private mutating func queryRequested(_ request: OrderRequest, now: Date) -> OrderStep {
        guard let current = state else {
            return reject(request, .unknownOrder, "query for an order this worker does not know", now: now)
        }
        if let problem = mismatch(request, current) { return reject(request, .invalidField, problem, now: now) }
        if current.status.isTerminal {
            // No vendor call: repeat the terminal event (same ce_id, byte-identical data).
            return OrderStep(outputs: [Self.terminalEvent(current).map(OrderOutput.publish)].compactMap { $0 })
        }
        return startQuery(.upstream, now: now)
    }

    /// A close or query must name the order as it was created.
    private func mismatch(_ request: OrderRequest, _ state: OrderState) -> String? {
        if request.merchant != state.merchant { return "merchant does not match the order's merchant" }
        if request.channel != state.channel { return "channel does not match the order's channel" }
        if let amount = request.amount, amount.fen != state.amountFen {
            return "amount_fen \(amount.fen) does not match the order's \(state.amountFen)"
        }
        return nil
    }

    func reject(_ request: OrderRequest, _ reason: RejectionReason, _ detail: String, now: Date) -> OrderStep {
        let rejection = RequestRejection(
            reason: reason, detail: detail, outTradeNo: request.outTradeNo, merchant: request.merchant,
            channel: request.channel.rawValue, action: request.action.rawValue, contentDigest: request.contentDigest)
        return OrderStep(outputs: Self.rejection(rejection, now: now))
    }
}
