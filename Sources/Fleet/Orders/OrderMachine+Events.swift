import Foundation
import Payments

/// The events an order publishes, built from its state so that a repeat is identical.
extension OrderMachine {
    /// Fields every event of an order carries.
    static func baseData(_ state: OrderState) -> [String: JSONValue] {
        var data: [String: JSONValue] = [
            "out_trade_no": .string(state.outTradeNo),
            "merchant": .string(state.merchant),
            "channel": .string(state.channel.rawValue),
            "amount_fen": .integer(state.amountFen),
            "status": .string(state.status.rawValue),
        ]
        if let attach = state.attach { data["attach"] = .string(attach) }
        return data
    }

    static func preparedEvent(_ state: OrderState, now: Date) -> PaymentEvent {
        var data = baseData(state)
        if let prepared = state.prepared {
            if let value = prepared.codeURL { data["code_url"] = .string(value) }
            if let value = prepared.qrImageURL { data["qr_image_url"] = .string(value) }
            if !prepared.payParameters.isEmpty {
                data["pay_params"] = .object(prepared.payParameters.mapValues { .string($0) })
            }
            if let value = prepared.vendorOrderID { data["vendor_order_id"] = .string(value) }
        }
        data["expires_at"] = .string(RFC3339.format(state.expiresAt))
        return PaymentEvent(
            kind: .prepared, outTradeNo: state.outTradeNo, discriminator: state.requestDigest, time: now, data: data)
    }

    static func pendingEvent(_ state: OrderState, now: Date, vendor error: ChannelError? = nil) -> PaymentEvent {
        var data = baseData(state)
        data["reason"] = .string(state.pendingReason ?? PendingReason.unknownResult.rawValue)
        data["expires_at"] = .string(RFC3339.format(state.expiresAt))
        if let error {
            // What kept the create from being answered: the error's code, and the vendor's own code
            // and message when it sent them (never secrets: ChannelError messages carry none).
            data["vendor_code"] = .string(error.vendorCode ?? error.code.rawValue)
            data["vendor_message"] = .string(String(error.message.prefix(200)))
        }
        return PaymentEvent(
            kind: .pending, outTradeNo: state.outTradeNo, discriminator: state.requestDigest, time: now, data: data)
    }

    /// The terminal event of a terminal order (time = when it became terminal, so a repeat is byte-identical).
    static func terminalEvent(_ state: OrderState) -> PaymentEvent? {
        let time = state.terminalAt ?? state.createdAt
        var data = baseData(state)
        switch state.status {
        case .succeeded:
            guard let payment = state.payment else { return nil }
            data["transaction_id"] = .string(payment.transactionID)
            data["paid_amount_fen"] = .integer(payment.amountFen)
            if let paidAt = payment.paidAt { data["paid_at"] = .string(RFC3339.format(paidAt)) }
            if let id = payment.vendorMerchantID { data["vendor_merchant_id"] = .string(id) }
            if !payment.subPayments.isEmpty {
                data["sub_payments"] = .array(
                    payment.subPayments.map { sub in
                        var object: [String: JSONValue] = [
                            "out_trade_no": .string(sub.outTradeNo),
                            "vendor_merchant_id": .string(sub.vendorMerchantID),
                            "amount_fen": .integer(sub.amountFen), "trade_state": .string(sub.tradeState),
                        ]
                        if let id = sub.transactionID { object["transaction_id"] = .string(id) }
                        return .object(object)
                    })
            }
            return PaymentEvent(
                kind: .succeeded, outTradeNo: state.outTradeNo, discriminator: payment.transactionID, time: time,
                data: data)
        case .failed:
            let failure = state.failure ?? VendorFailure(code: "unknown", message: "")
            data["vendor_code"] = .string(failure.code)
            data["vendor_message"] = .string(failure.message)
            return PaymentEvent(
                kind: .failed, outTradeNo: state.outTradeNo, discriminator: state.requestDigest, time: time, data: data)
        case .closed:
            data["reason"] = .string(state.closeReason ?? "expired")
            data["closed_at_vendor"] = .bool(state.closedAtVendor ?? true)
            if let closedAt = state.closedAt { data["closed_at"] = .string(RFC3339.format(closedAt)) }
            return PaymentEvent(
                kind: .closed, outTradeNo: state.outTradeNo, discriminator: state.requestDigest, time: time, data: data)
        case .creating, .prepared, .pending:
            return nil
        }
    }

    /// An anomaly: `kind` is a bounded word, `evidence` a digest of what proves it (callback body, transaction id).
    static func anomalyEvent(
        outTradeNo: String, state: OrderState?, kind: String, detail: String, evidence: String, now: Date,
        extra: [String: JSONValue] = [:]
    ) -> PaymentEvent {
        var data = state.map(baseData) ?? ["out_trade_no": .string(outTradeNo)]
        data["anomaly"] = .string(kind)
        data["detail"] = .string(detail)
        data["evidence_digest"] = .string(evidence)
        for (key, value) in extra { data[key] = value }
        return PaymentEvent(
            kind: .anomaly, outTradeNo: outTradeNo, discriminator: "\(kind)|\(evidence)", time: now, data: data)
    }

    /// A `request.rejected` event.
    static func rejectedEvent(_ rejection: RequestRejection, outTradeNo: String, now: Date) -> PaymentEvent {
        var data: [String: JSONValue] = [
            "out_trade_no": .string(outTradeNo),
            "reason": .string(rejection.reason.rawValue),
            "detail": .string(rejection.detail),
        ]
        if let merchant = rejection.merchant { data["merchant"] = .string(merchant) }
        if let channel = rejection.channel { data["channel"] = .string(channel) }
        if let action = rejection.action { data["action"] = .string(action) }
        return PaymentEvent(
            kind: .rejected, outTradeNo: outTradeNo, discriminator: rejection.contentDigest, time: now, data: data)
    }

    /// The outputs of a rejected request: a `request.rejected` event when the order is named, and a dead letter.
    public static func rejection(_ rejection: RequestRejection, now: Date) -> [OrderOutput] {
        var outputs: [OrderOutput] = []
        if let outTradeNo = rejection.outTradeNo, !outTradeNo.isEmpty {
            outputs.append(.publish(rejectedEvent(rejection, outTradeNo: outTradeNo, now: now)))
        }
        outputs.append(.deadLetter(reason: rejection.reason, detail: rejection.detail))
        return outputs
    }
}
