import Foundation
import Payments

/// The state changes themselves; every one checks that a terminal order never moves.
extension OrderMachine {
    /// `creating`/`pending` → `prepared`.
    mutating func prepare(_ prepared: Prepared, now: Date) -> [OrderOutput] {
        guard var current = state, current.status == .creating || current.status == .pending else { return [] }
        current.status = .prepared
        current.prepared = OrderState.PreparedPayload(prepared)
        current.memo.merge(prepared.memo) { _, new in new }
        current.pendingReason = nil
        current.retryAttempt = 0
        state = current
        var outputs = [persist(), .publish(Self.preparedEvent(current, now: now))].compactMap { $0 }
        if let next = nextFallback(after: current.fallbackQueries, now: now) {
            outputs += [job(.query, .fallback, attempt: next.attempt, due: next.due)].compactMap { $0 }
        }
        return outputs
    }

    /// `creating`/`prepared` → `pending` (publishes `payment.pending` once and starts the query chain).
    /// An order already pending just continues its chain.
    mutating func enterPending(_ reason: String, memo: [String: String] = [:], now: Date) -> [OrderOutput] {
        guard var current = state, !current.status.isTerminal else { return [] }
        current.memo.merge(memo) { _, new in new }
        current.retryAttempt = 0
        if current.status == .pending {
            state = current
            return [persist()].compactMap { $0 } + schedulePendingQuery(now: now, first: false)
        }
        // A create whose answer could not be read already told upstream `pending` (one pending
        // event per order: its ce_id is the order's request digest).
        let announced = current.status == .creating && current.pendingReason != nil
        current.status = .pending
        current.pendingReason = reason
        current.pendingSince = now
        state = current
        return [persist(), announced ? nil : .publish(Self.pendingEvent(current, now: now))].compactMap { $0 }
            + schedulePendingQuery(now: now, first: true)
    }

    /// A payment the vendor confirmed (callback or query): `succeeded` once, or an anomaly.
    ///
    /// - Returns: the outputs, and whether the payment was an anomaly (for dead-lettering a callback).
    mutating func paid(_ details: PaymentDetails, now: Date) -> (outputs: [OrderOutput], anomaly: RejectionReason?) {
        guard var current = state else { return ([], nil) }
        let evidence = ContentDigest.sha256Hex("\(details.transactionID)|\(details.amount.fen)")
        if details.amount.fen != current.amountFen {
            let event = Self.anomalyEvent(
                outTradeNo: current.outTradeNo, state: current, kind: RejectionReason.amountMismatch.rawValue,
                detail: "the vendor reports \(details.amount.fen) fen paid for an order of \(current.amountFen) fen",
                evidence: evidence, now: now,
                extra: [
                    "transaction_id": .string(details.transactionID),
                    "reported_amount_fen": .integer(details.amount.fen),
                ])
            return ([.publish(event)] + scheduleAnomalyQuery(now: now), .amountMismatch)
        }
        if let expected = context.vendorMerchantID, let reported = details.vendorMerchantID, expected != reported {
            let event = Self.anomalyEvent(
                outTradeNo: current.outTradeNo, state: current, kind: RejectionReason.merchantMismatch.rawValue,
                detail: "the payment went to another vendor merchant id than the order's account",
                evidence: evidence, now: now, extra: ["transaction_id": .string(details.transactionID)])
            return ([.publish(event)] + scheduleAnomalyQuery(now: now), .merchantMismatch)
        }
        if let mismatch = Self.subOrderMismatch(details, order: current, accountMerchantID: context.vendorMerchantID) {
            let event = Self.anomalyEvent(
                outTradeNo: current.outTradeNo, state: current, kind: mismatch.reason.rawValue, detail: mismatch.detail,
                evidence: evidence, now: now, extra: ["transaction_id": .string(details.transactionID)])
            return ([.publish(event)] + scheduleAnomalyQuery(now: now), mismatch.reason)
        }
        switch current.status {
        case .creating, .prepared, .pending:
            current.status = .succeeded
            current.payment = OrderState.PaymentRecord(details)
            current.terminalAt = now
            current.pendingReason = nil
            return (finish(current), nil)
        case .succeeded:
            if current.payment?.transactionID == details.transactionID { return ([], nil) }
            let event = Self.anomalyEvent(
                outTradeNo: current.outTradeNo, state: current, kind: "conflicting_transaction",
                detail: "a second vendor transaction for an order that already succeeded",
                evidence: evidence, now: now,
                extra: [
                    "transaction_id": .string(details.transactionID),
                    "recorded_transaction_id": .string(current.payment?.transactionID ?? ""),
                ])
            return ([.publish(event)], nil)
        case .closed, .failed:
            let kind = current.status == .closed ? "paid_after_close" : "paid_after_failure"
            let event = Self.anomalyEvent(
                outTradeNo: current.outTradeNo, state: current, kind: kind,
                detail: "the vendor reports a payment for an order already \(current.status.rawValue)",
                evidence: evidence, now: now,
                extra: [
                    "transaction_id": .string(details.transactionID), "paid_amount_fen": .integer(details.amount.fen),
                ])
            return ([.publish(event)], nil)
        }
    }

    /// → `failed` (terminal).
    mutating func fail(_ failure: VendorFailure, now: Date) -> [OrderOutput] {
        guard var current = state, !current.status.isTerminal else { return [] }
        current.status = .failed
        current.failure = failure
        current.terminalAt = now
        return finish(current)
    }

    /// → `closed` (terminal).
    mutating func close(reason: String, atVendor: Bool, now: Date) -> [OrderOutput] {
        guard var current = state, !current.status.isTerminal else { return [] }
        current.status = .closed
        current.closeReason = reason
        current.closedAtVendor = atVendor
        current.closedAt = now
        current.terminalAt = now
        return finish(current)
    }

    /// Makes `terminal` the order's state: its record, its terminal event and the retention timer.
    private mutating func finish(_ terminal: OrderState) -> [OrderOutput] {
        state = terminal
        var outputs = [persist()].compactMap { $0 }
        if let event = Self.terminalEvent(terminal) { outputs.append(.publish(event)) }
        if let retention = retentionJob() { outputs.append(retention) }
        return outputs
    }
}
