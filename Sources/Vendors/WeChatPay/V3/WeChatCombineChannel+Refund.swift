import Foundation
import Logging
import Observability
import Payments

/// Refunds of combine (合单) orders: WeChat refunds each sub-order separately with the domestic
/// refund API (`POST /v3/refund/domestic/refunds`, `GET /v3/refund/domestic/refunds/{out_refund_no}`,
/// wechatpay-go `services/refunddomestic`), and notifies each with `REFUND.SUCCESS`,
/// `REFUND.ABNORMAL` or `REFUND.CLOSED`. A PayFleet refund of a combine order is therefore one
/// vendor refund per sub-order it touches, aggregated here: it succeeds only when every part
/// succeeds and fails as soon as one part fails for good.
///
/// ## Vendor refund numbers
/// Part `i` (the sub-order's position in the order's `sub_orders`) of a refund that touches `n`
/// sub-orders is refunded at WeChat as
///
///     <combine_out_trade_no>@<out_refund_no>-<i>_<n>
///
/// e.g. `C20240101001@R1-0_2` and `C20240101001@R1-1_2`. It is derived, never stored, so a repeated
/// request sends the same numbers and WeChat dedupes it. WeChat allows 64 characters of digits,
/// letters and `_-|*@`; `@` cannot occur in an order number, so the first `@` ends the combine
/// order number. The refund notification's resource names only the sub-order, so the combine
/// order (the worker's key) is read back from this number: the notify URL cannot carry it (WeChat
/// forbids parameters on `notify_url`, and the ingress routes by `/notify/<channel>/<merchant>`).
/// `n` tells a notification whether its part is the whole refund.
extension WeChatCombineChannel: RefundingChannel {
    public var refundPolicy: RefundPolicy { WeChatPay.refundPolicy }

    /// One sub-order's part of a refund, as sent to WeChat.
    struct RefundPart: Hashable {
        var index: Int
        var count: Int
        var outTradeNo: String
        /// The sub-order's merchant; sent as `sub_mchid` only when it is not `combine_mchid`.
        var mchID: String
        var amount: Money
        /// What the sub-order was paid (`amount.total`).
        var total: Money
        var vendorOutRefundNo: String
    }

    /// `<combine_out_trade_no>@<out_refund_no>-<i>_<n>`.
    static func vendorOutRefundNo(combine: String, outRefundNo: String, index: Int, count: Int) -> String {
        "\(combine)@\(outRefundNo)-\(index)_\(count)"
    }

    /// The parts of a vendor refund number, or nil when PayFleet did not make it.
    static func parseVendorOutRefundNo(
        _ text: String
    ) -> (combine: String, outRefundNo: String, index: Int, count: Int)? {
        guard let at = text.firstIndex(of: "@") else { return nil }
        let combine = String(text[..<at])
        let rest = text[text.index(after: at)...]
        guard let dash = rest.lastIndex(of: "-") else { return nil }
        let outRefundNo = String(rest[..<dash])
        let suffix = rest[rest.index(after: dash)...].split(separator: "_", omittingEmptySubsequences: false)
        guard suffix.count == 2, let index = Int(suffix[0]), let count = Int(suffix[1]), (1...10).contains(count),
            (0..<10).contains(index), String(index) == suffix[0], String(count) == suffix[1],
            WeChatPay.isValidOutTradeNo(combine, minimumLength: 6), !outRefundNo.isEmpty
        else { return nil }
        return (combine, outRefundNo, index, count)
    }

    /// The sub-orders a refund touches, in the order's `sub_orders` order. Without `subRefunds`
    /// the refund must be the whole order and covers every sub-order in full.
    func refundParts(_ refund: RefundOrder) throws(ChannelError) -> [RefundPart] {
        let planned: [PlannedSubOrder]
        do throws(ChannelError) {
            planned = try subOrders(of: refund.payment.order, paid: true)
        } catch {
            throw .invalidRequest("the paid order's sub_orders cannot be read: \(error.message)")
        }
        var wanted: [(index: Int, sub: PlannedSubOrder, amount: Money, mchID: String)] = []
        if refund.subRefunds.isEmpty {
            guard refund.amount == refund.payment.order.amount else {
                throw .invalidRequest(
                    "a wechat-v3-combine refund without sub_orders must refund the whole order (\(refund.payment.order.amount.fen) fen)"
                )
            }
            wanted = planned.enumerated().map {
                (index: $0.offset, sub: $0.element, amount: $0.element.amount, mchID: $0.element.mchID)
            }
        } else {
            var seen = Set<String>()
            for (position, part) in refund.subRefunds.enumerated() {
                guard let index = planned.firstIndex(where: { $0.outTradeNo == part.outTradeNo }) else {
                    throw .invalidRequest(
                        "sub_orders[\(position)].out_trade_no \(part.outTradeNo.prefix(32)) is not a sub-order of this order"
                    )
                }
                guard seen.insert(part.outTradeNo).inserted else {
                    throw .invalidRequest("sub_orders[\(position)].out_trade_no is named twice")
                }
                let sub = planned[index]
                guard part.amount.fen > 0, part.amount <= sub.amount else {
                    throw .invalidRequest(
                        "sub_orders[\(position)].amount_fen must be 1 to \(sub.amount.fen) fen (what the sub-order was paid)"
                    )
                }
                if let named = part.vendorMerchantID, !named.isEmpty, named != sub.mchID {
                    throw .invalidRequest("sub_orders[\(position)] names another mchid than the sub-order was paid to")
                }
                wanted.append((index: index, sub: sub, amount: part.amount, mchID: sub.mchID))
            }
            let sum = wanted.reduce(Int64(0)) { $0 + $1.amount.fen }
            guard sum == refund.amount.fen else {
                throw .invalidRequest("sub-order refunds add up to \(sum) fen, the refund is \(refund.amount.fen) fen")
            }
            wanted.sort { $0.index < $1.index }
        }
        return wanted.map { item in
            RefundPart(
                index: item.index, count: wanted.count, outTradeNo: item.sub.outTradeNo, mchID: item.mchID,
                amount: item.amount, total: item.sub.amount,
                vendorOutRefundNo: Self.vendorOutRefundNo(
                    combine: refund.payment.order.outTradeNo, outRefundNo: refund.outRefundNo, index: item.index,
                    count: wanted.count))
        }
    }

    // MARK: Validation

    public func validateRefund(_ refund: RefundOrder) throws(ChannelError) {
        let combine = refund.payment.order.outTradeNo
        let room = 64 - combine.utf8.count - 6
        guard WeChatPay.isValidOutRefundNo(refund.outRefundNo, maximumLength: max(1, room)) else {
            throw .invalidRequest(
                "out_refund_no must be 1-\(max(1, room)) characters of digits, letters and _-|*@ for this order (WeChat allows 64 per sub-order refund, which also carries the combine order number)"
            )
        }
        guard refund.amount.fen > 0, refund.amount <= refund.payment.order.amount else {
            throw .invalidRequest("the refund must be 1 to \(refund.payment.order.amount.fen) fen")
        }
        if let reason = refund.reason, reason.utf8.count > 80 {
            throw .invalidRequest("reason must be at most 80 bytes")
        }
        try WeChatPay.validateNotifyURL(refund.notifyURL)
        _ = try refundParts(refund)
    }

    // MARK: Refund

    /// How one part's request ended.
    enum PartOutcome {
        case accepted(WeChatCombine.RefundAnswer)
        case unknown
        case failed(VendorFailure)
    }

    public func refund(_ refund: RefundOrder) async throws(ChannelError) -> RefundOutcome {
        try validateRefund(refund)
        let parts = try refundParts(refund)
        var answers: [WeChatCombine.RefundAnswer?] = []
        var unknown = false
        for part in parts {
            let outcome: PartOutcome
            do throws(ChannelError) {
                outcome = try await refundPart(part, refund: refund)
            } catch {
                // Parts already sent stay sent; a retry repeats them with the same numbers (deduped by
                // WeChat). An error that a retry cannot fix after money has moved is a failure.
                if answers.isEmpty || error.isRetryable { throw error }
                return .failed(
                    partFailure(
                        parts, failedAt: part,
                        VendorFailure(code: error.vendorCode ?? error.code.rawValue, message: error.message)))
            }
            switch outcome {
            case .accepted(let answer):
                answers.append(answer)
            case .unknown:
                unknown = true
                answers.append(nil)
            case .failed(let failure):
                return .failed(partFailure(parts, failedAt: part, failure))
            }
        }
        let memo = ["vendor_out_refund_nos": parts.map(\.vendorOutRefundNo).joined(separator: ",")]
        if unknown { return .pending(.unknownResult, memo: memo) }
        let accepted = answers.compactMap { $0 }
        if let failed = zip(parts, accepted).first(where: { $0.1.status == "ABNORMAL" || $0.1.status == "CLOSED" }) {
            return .failed(
                partFailure(
                    parts, failedAt: failed.0,
                    VendorFailure(code: failed.1.status, message: "refund \(failed.1.status)")))
        }
        if accepted.allSatisfy({ $0.status == "SUCCESS" }) {
            return .succeeded(try Self.details(parts: parts, answers: accepted))
        }
        return .processing(memo: memo)
    }

    /// "sub-order X (part i of n) failed: …; sent before it: …" — which part failed and which had been sent.
    func partFailure(_ parts: [RefundPart], failedAt part: RefundPart, _ failure: VendorFailure) -> VendorFailure {
        let sent = parts.filter { $0.index < part.index }.map(\.outTradeNo)
        var message = "sub-order \(part.outTradeNo) (\(part.vendorOutRefundNo)): \(failure.message)"
        if !sent.isEmpty { message += "; refunds already accepted for sub-orders \(sent.joined(separator: ", "))" }
        return VendorFailure(code: failure.code, message: message)
    }

    func refundPart(_ part: RefundPart, refund: RefundOrder) async throws(ChannelError) -> PartOutcome {
        let request = WeChatCombine.RefundRequest(
            sub_mchid: part.mchID == mchID ? nil : part.mchID,
            out_trade_no: part.outTradeNo,
            out_refund_no: part.vendorOutRefundNo,
            reason: refund.reason.flatMap { $0.isEmpty ? nil : $0 },
            notify_url: refund.notifyURL,
            amount: .init(refund: part.amount.fen, total: part.total.fen, currency: "CNY")
        )
        let response: VerifiedResponse
        do throws(ChannelError) {
            response = try await call(
                method: "POST", path: "/v3/refund/domestic/refunds", body: try WeChatCombine.encode(request))
        } catch  where error.code == .timeout {
            logger.debug(
                "wechat v3 refund timed out", metadata: [LogKey.outTradeNo: "\(refund.payment.order.outTradeNo)"])
            return .unknown
        }
        if response.status == 200 {
            let answer = try Self.refundAnswer(response.body, part: part, operation: "refund")
            return .accepted(answer)
        }
        let failure = vendorError(response)
        switch failure.code {
        case "SYSTEM_ERROR", "SYSTEMERROR":
            return .unknown
        case "NOT_ENOUGH", "USER_ACCOUNT_ABNORMAL", "INVALID_REQUEST", "RESOURCE_NOT_EXISTS", "NO_AUTH",
            "REFUND_FEE_INVALID", "TRADE_OVERDUE":
            return .failed(failure)
        default:
            if response.status >= 500 { return .unknown }
            try rethrowTransportLike(response, failure, operation: "refund")
            throw ChannelError(.vendorRejected, "refund refused: \(failure.message)", vendorCode: failure.code)
        }
    }

    /// A verified refund answer (create or query) about `part`.
    static func refundAnswer(
        _ body: [UInt8], part: RefundPart, operation: String
    ) throws(ChannelError) -> WeChatCombine.RefundAnswer {
        let answer: WeChatCombine.RefundAnswer
        do throws(WeChatCombine.AnswerError) {
            answer = try WeChatCombine.decodeAnswer(WeChatCombine.RefundAnswer.self, body)
        } catch {
            throw .badResponse("\(operation) answer: \(error)")
        }
        guard answer.out_refund_no == part.vendorOutRefundNo else {
            throw .badResponse("\(operation) answer is about another out_refund_no")
        }
        guard ["SUCCESS", "PROCESSING", "ABNORMAL", "CLOSED"].contains(answer.status) else {
            throw .badResponse("\(operation) answer: field status has an unknown value \(answer.status.prefix(32))")
        }
        if let refunded = answer.amount?.refund, refunded != part.amount.fen {
            throw .badResponse("\(operation) answer: amount.refund differs from the refund asked for")
        }
        return answer
    }

    static func details(
        parts: [RefundPart], answers: [WeChatCombine.RefundAnswer]
    ) throws(ChannelError) -> RefundDetails {
        var at: Date?
        var ids: [String] = []
        for answer in answers {
            guard let id = answer.refund_id, !id.isEmpty else {
                throw .badResponse("refund answer: field refund_id is missing for a refunded sub-order")
            }
            ids.append(id)
            if let time = answer.success_time.flatMap(ChinaTime.parseRFC3339) { at = max(at ?? time, time) }
        }
        let total = parts.reduce(Int64(0)) { $0 + $1.amount.fen }
        return RefundDetails(vendorRefundIDs: ids, amount: Money(fen: total), refundedAt: at)
    }

    // MARK: Query

    public func queryRefund(_ reference: RefundReference) async throws(ChannelError) -> RefundStatus {
        let parts = try refundParts(reference.refund)
        var answers: [WeChatCombine.RefundAnswer] = []
        var missing = false
        for part in parts {
            var path = "/v3/refund/domestic/refunds/" + Self.pathEscaped(part.vendorOutRefundNo)
            if part.mchID != mchID { path += "?sub_mchid=" + part.mchID }
            let response = try await call(method: "GET", path: path, body: [])
            guard response.status == 200 else {
                let failure = vendorError(response)
                if response.status == 404 || failure.code == "RESOURCE_NOT_EXISTS" {
                    missing = true
                    continue
                }
                if response.status >= 500 {
                    throw ChannelError(.vendorUnavailable, "refund query: \(failure.message)", vendorCode: failure.code)
                }
                try rethrowTransportLike(response, failure, operation: "refund query")
                throw ChannelError(
                    .vendorRejected, "refund query refused: \(failure.message)", vendorCode: failure.code)
            }
            let answer = try Self.refundAnswer(response.body, part: part, operation: "refund query")
            if answer.status == "ABNORMAL" || answer.status == "CLOSED" {
                return .failed(
                    partFailure(
                        parts, failedAt: part, VendorFailure(code: answer.status, message: "refund \(answer.status)")))
            }
            answers.append(answer)
        }
        // A part WeChat does not know was never received: the refund is sent again (idempotent).
        if missing { return .notFound }
        if answers.allSatisfy({ $0.status == "SUCCESS" }) {
            return .succeeded(try Self.details(parts: parts, answers: answers))
        }
        return .processing
    }

    /// A path segment with everything but unreserved characters percent-encoded (`@` → `%40`).
    static func pathEscaped(_ text: String) -> String { FormEncoding.escape(text) }

    // MARK: Notification

    /// A verified `REFUND.*` notification (signature already checked): its resource names the
    /// sub-order and the vendor refund number, from which the combine order and the client's
    /// `out_refund_no` are read back.
    func verifyRefundNotification(
        _ notification: WeChatCombine.Notification, plaintext: [UInt8]
    ) throws(CallbackError) -> VerifiedCallback {
        let resource = try Self.refundResource(plaintext)
        guard let parsed = Self.parseVendorOutRefundNo(resource.out_refund_no) else {
            throw .malformed("refund notification: out_refund_no was not made by PayFleet")
        }
        let merchantID = resource.sub_mchid ?? resource.mchid
        if let merchantID, !allowedSubOrderMchIDs.contains(merchantID) {
            throw CallbackError(.wrongMerchant, "refund notification names another mchid")
        }
        if let event = notification.event_type, event != "REFUND.\(resource.refund_status)" {
            throw .malformed("refund notification: event_type does not match refund_status")
        }
        let status: RefundStatus
        switch resource.refund_status {
        case "SUCCESS":
            if parsed.count == 1 {
                guard let refunded = resource.amount?.refund else {
                    throw .malformed("refund notification: field amount.refund is missing")
                }
                status = .succeeded(
                    RefundDetails(
                        vendorRefundIDs: resource.refund_id.map { [$0] } ?? [], amount: Money(fen: refunded),
                        refundedAt: resource.success_time.flatMap(ChinaTime.parseRFC3339)))
            } else {
                // One part of several: only a query can tell that every part is refunded.
                status = .processing
            }
        case "ABNORMAL", "CLOSED":
            let sub = resource.out_trade_no ?? "?"
            status = .failed(
                VendorFailure(
                    code: resource.refund_status,
                    message: "sub-order \(sub) (\(resource.out_refund_no)): refund \(resource.refund_status)"))
        case "PROCESSING":
            status = .processing
        default:
            throw .malformed("refund notification: unknown refund_status \(resource.refund_status.prefix(32))")
        }
        var fields = [
            "combine_out_trade_no": parsed.combine, "out_refund_no": resource.out_refund_no,
            "refund_status": resource.refund_status, "resource": String(decoding: plaintext, as: UTF8.self),
        ]
        if let id = notification.id { fields["id"] = id }
        if let type = notification.event_type { fields["event_type"] = type }
        if let sub = resource.out_trade_no { fields["out_trade_no"] = sub }
        return VerifiedCallback(
            outTradeNo: parsed.combine,
            status: .refunded(
                PaymentDetails(
                    transactionID: resource.transaction_id ?? "", amount: Money(fen: resource.amount?.total ?? 0),
                    vendorMerchantID: merchantID)),
            vendorMerchantID: mchID, amount: nil, notificationID: notification.id, fields: fields,
            refund: RefundNotice(outRefundNo: parsed.outRefundNo, status: status)
        )
    }

    static func refundResource(_ plaintext: [UInt8]) throws(CallbackError) -> WeChatCombine.RefundResource {
        do throws(WeChatCombine.AnswerError) {
            return try WeChatCombine.decodeAnswer(WeChatCombine.RefundResource.self, plaintext)
        } catch {
            throw .malformed("decrypted refund resource: \(error)")
        }
    }

    /// Whether a notification envelope is a refund notification.
    static func isRefund(_ notification: WeChatCombine.Notification) -> Bool {
        if let type = notification.event_type { return type.hasPrefix("REFUND.") }
        return notification.resource.original_type == "refund"
    }
}

extension WeChatCombine {
    /// `POST /v3/refund/domestic/refunds` (wechatpay-go `refunddomestic.CreateRequest`).
    struct RefundRequest: Encodable {
        var sub_mchid: String?
        var out_trade_no: String
        var out_refund_no: String
        var reason: String?
        var notify_url: String
        var amount: RefundRequestAmount
    }

    struct RefundRequestAmount: Encodable {
        var refund: Int64
        var total: Int64
        var currency: String
    }

    /// The refund answer of create and query (`refunddomestic.Refund`): only what PayFleet reads is
    /// required (`out_refund_no`, `status`); `refund_id` is required once a part is refunded.
    struct RefundAnswer: Decodable {
        var refund_id: String?
        var out_refund_no: String
        var status: String
        var success_time: String?
        var amount: RefundAnswerAmount?
    }

    struct RefundAnswerAmount: Decodable {
        var refund: Int64?
        var total: Int64?
    }

    /// The decrypted resource of a `REFUND.*` notification.
    struct RefundResource: Decodable {
        var mchid: String?
        var sub_mchid: String?
        var out_trade_no: String?
        var transaction_id: String?
        var out_refund_no: String
        var refund_id: String?
        var refund_status: String
        var success_time: String?
        var amount: RefundAnswerAmount?
    }
}
