import Foundation
import Payments

extension OrderMachine {
    /// A vendor callback, already verified (or refused) by the merchant's channel.
    ///
    /// Accepted only when it verified and its out_trade_no, merchant (notify URL and vendor merchant
    /// id) and amount match the order. Anything else becomes `payment.anomaly` + a dead letter + a
    /// rate-limited query — never `succeeded`. A genuine callback for an order this partition never
    /// saw is reported as an anomaly too, not dropped. A duplicate produces nothing.
    public mutating func callbackReceived(_ callback: CallbackInput, now: Date) -> OrderStep {
        switch callback.check {
        case .rejected(let error):
            let reason: RejectionReason
            switch error.kind {
            case .malformed: reason = .malformedCallback
            case .wrongMerchant: reason = .merchantMismatch
            case .badSignature, .staleTimestamp, .unknownSerial, .decryptionFailed: reason = .badSignature
            }
            return anomaly(
                callback, kind: error.kind.rawValue, reason: reason,
                detail: "callback not accepted: \(error.message)", now: now)
        case .verified(let verified):
            return verifiedCallback(verified, callback, now: now)
        }
    }

    private mutating func verifiedCallback(
        _ verified: VerifiedCallback, _ callback: CallbackInput, now: Date
    ) -> OrderStep {
        var extra: [String: JSONValue] = [:]
        if let amount = verified.amount { extra["reported_amount_fen"] = .integer(amount.fen) }
        if case .succeeded(let details) = verified.status { extra["transaction_id"] = .string(details.transactionID) }

        guard verified.outTradeNo == callback.outTradeNo else {
            return anomaly(
                callback, kind: RejectionReason.outTradeNoMismatch.rawValue, reason: .outTradeNoMismatch,
                detail: "the verified callback names another out_trade_no than its record key", now: now, extra: extra)
        }
        guard let current = state else {
            return anomaly(
                callback, kind: RejectionReason.unknownOrderCallback.rawValue, reason: .unknownOrderCallback,
                detail: "a verified callback for an order this partition has never seen", now: now,
                extra: extra.merging(["reported_status": .string(Self.statusWord(verified.status))]) { a, _ in a })
        }
        if callback.merchant != current.merchant {
            return anomaly(
                callback, kind: RejectionReason.merchantMismatch.rawValue, reason: .merchantMismatch,
                detail:
                    "the callback arrived for merchant \(callback.merchant) but the order belongs to \(current.merchant)",
                now: now, extra: extra)
        }
        if let expected = context.vendorMerchantID, let reported = verified.vendorMerchantID, expected != reported {
            return anomaly(
                callback, kind: RejectionReason.merchantMismatch.rawValue, reason: .merchantMismatch,
                detail: "the callback names another vendor merchant id than the order's account", now: now, extra: extra
            )
        }
        if let notice = verified.refund {
            // A refund notification: its amounts are the refund's, checked against the refund it names.
            return refundNoticeReceived(notice, callback, now: now)
        }
        if let amount = verified.amount, amount.fen != current.amountFen {
            return anomaly(
                callback, kind: RejectionReason.amountMismatch.rawValue, reason: .amountMismatch,
                detail: "the callback reports \(amount.fen) fen for an order of \(current.amountFen) fen", now: now,
                extra: extra)
        }
        switch verified.status {
        case .succeeded(let details), .refunded(let details):
            let (outputs, anomalyReason) = paid(details, now: now)
            var step = OrderStep(outputs: outputs)
            if let anomalyReason {
                step.outputs.append(
                    .deadLetter(reason: anomalyReason, detail: "callback payment does not match the order"))
            }
            return step
        case .notPaid, .paying, .closed, .failed, .notFound:
            // Not a payment: the query is the source of truth.
            return OrderStep(outputs: scheduleAnomalyQuery(now: now))
        }
    }

    /// Anomaly event + dead letter + (rate-limited) query for a callback that cannot be accepted.
    private mutating func anomaly(
        _ callback: CallbackInput, kind: String, reason: RejectionReason, detail: String, now: Date,
        extra: [String: JSONValue] = [:]
    ) -> OrderStep {
        var withMerchant = extra
        withMerchant["callback_merchant"] = .string(callback.merchant)
        let event = Self.anomalyEvent(
            outTradeNo: callback.outTradeNo, state: state, kind: kind, detail: detail, evidence: callback.evidence,
            now: now, extra: withMerchant)
        return OrderStep(
            outputs: [.publish(event), .deadLetter(reason: reason, detail: detail)] + scheduleAnomalyQuery(now: now))
    }

    static func statusWord(_ status: TradeStatus) -> String {
        switch status {
        case .notPaid: "not_paid"
        case .paying: "paying"
        case .succeeded: "succeeded"
        case .closed: "closed"
        case .failed: "failed"
        case .refunded: "refunded"
        case .notFound: "not_found"
        }
    }
}
