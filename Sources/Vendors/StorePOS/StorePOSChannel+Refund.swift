import Foundation
import Observability
import Payments

/// storepos refunds: `method=refund` (交易退款) and `method=refundquery` (退款查询) on the same v2
/// gateway, signed like every v2 call (CY-UnifiedPay-New `api/micropay.md`, sections 交易退款 and
/// 退款查询).
///
/// - The refund answers synchronously ("操作结果在同一会话中同步返回"): `state`, `code` and
///   `trade_state` both SUCCESS with a `refund_id` is a refund done; `trade_state=FAIL` a refusal;
///   anything else (NEED_QUERY, no `trade_state`, a system error 20006 / 30001, a timeout) is queried.
/// - `refundquery` reports each refund in `refund_list` (a JSON text) with `refund_status`:
///   SUCCESS, FAIL, PROCESSING, NOTSURE ("需要商户原退款单号重新发起": reported not found, so the
///   refund is sent again with the same `out_refund_no`) and CHANGE (转入代发: the money went back
///   to the merchant's account and must be refunded by hand; reported failed with code CHANGE).
/// - "同个退款单号多次请求，平台当一个单处理，只会退一次款": repeating a refund with its
///   `out_refund_no` is safe.
extension StorePOSChannel: RefundingChannel {
    /// First query after 5 s (the vendor's polling rule for unknown outcomes), then slower: bank card
    /// refunds take "1-3个工作日"; after 5 days without a final answer the refund is reported stuck.
    public static let defaultRefundPolicy = RefundPolicy(
        firstQuery: .seconds(5),
        queryIntervals: [.seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(1800), .seconds(3600)],
        queryLimit: .seconds(5 * 24 * 3600))

    public var refundPolicy: RefundPolicy { Self.defaultRefundPolicy }

    /// `out_refund_no`: "32个字符内、可包含字母" — here 1–32 letters, digits, `-` and `_` (the doc's
    /// sample is `TK-1497769914931-01`).
    public static func isValidOutRefundNo(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return (1...32).contains(bytes.count)
            && bytes.allSatisfy { byte in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }

    public func validateRefund(_ refund: RefundOrder) throws(ChannelError) {
        guard Self.isValidOutRefundNo(refund.outRefundNo) else {
            throw .invalidRequest("storepos out_refund_no must be 1–32 letters, digits, '-' or '_'")
        }
        guard refund.amount.fen >= 1, refund.amount.fen <= refund.payment.order.amount.fen else {
            throw .invalidRequest("storepos refund_fee must be 1 fen up to the order's total_fee")
        }
        guard refund.subRefunds.isEmpty else { throw .invalidRequest("storepos orders have no sub-orders") }
        _ = try payType(for: refund.payment)
    }

    public func refund(_ refund: RefundOrder) async throws(ChannelError) -> RefundOutcome {
        try validateRefund(refund)
        let payType = try payType(for: refund.payment)
        let memo = ["paytype": payType.rawValue]
        let answer: StorePOSAnswer
        do {
            answer = try await call([
                "method": "refund",
                "paytype": payType.rawValue,
                "mch_id": configuration.mchID,
                "out_trade_no": refund.payment.order.outTradeNo,
                "out_refund_no": refund.outRefundNo,
                "total_fee": String(refund.payment.order.amount.fen),
                "refund_fee": String(refund.amount.fen),
                "op_user_id": configuration.opUserID,
            ])
        } catch  where error.code == .timeout || error.code == .unreachable || error.code == .vendorUnavailable {
            return .pending(.unknownResult, memo: memo)
        }
        return try answer.refundOutcome(
            outRefundNo: refund.outRefundNo, memo: memo, requireSign: configuration.requireResponseSign)
    }

    public func queryRefund(_ reference: RefundReference) async throws(ChannelError) -> RefundStatus {
        let payType: PayType
        if let remembered = reference.memo["paytype"].flatMap(PayType.init(rawValue:)) {
            payType = remembered
        } else {
            payType = try self.payType(for: reference.refund.payment)
        }
        let answer = try await call([
            "method": "refundquery",
            "paytype": payType.rawValue,
            "mch_id": configuration.mchID,
            "out_refund_no": reference.refund.outRefundNo,
        ])
        return try answer.refundStatus(
            outRefundNo: reference.refund.outRefundNo, requireSign: configuration.requireResponseSign)
    }
}

extension StorePOSAnswer {
    /// What a `refund` answer says.
    public func refundOutcome(
        outRefundNo: String, memo: [String: String], requireSign: Bool = true
    ) throws(ChannelError) -> RefundOutcome {
        guard state == "SUCCESS" else {
            if code == "20006" || code == "30001" { return .pending(.unknownResult, memo: memo) }
            throw rejection()
        }
        if let echoed = fields["out_refund_no"], echoed != outRefundNo {
            throw .badResponse("\(fields.context) answered for another out_refund_no")
        }
        switch tradeState {
        case "SUCCESS" where code == "10000" && fields["refund_id"] != nil:
            try requireSigned(requireSign)
            return .succeeded(try refundDetails())
        case "FAIL":
            if code == "20006" || code == "30001" { return .pending(.unknownResult, memo: memo) }
            return .failed(VendorFailure(code: code, message: message))
        case "NEED_QUERY":
            return .pending(.needQuery, memo: memo)
        default:
            return .processing(memo: memo)
        }
    }

    /// The refund id and amount of a refund answer: `base_refund_fee` (申请退款金额) when present,
    /// else `refund_fee` (实际退款金额, after vouchers) — as `base_fee` is preferred for payments.
    func refundDetails() throws(ChannelError) -> RefundDetails {
        RefundDetails(
            vendorRefundIDs: [try fields.required("refund_id")],
            amount: fields["base_refund_fee"] != nil ? try fields.fen("base_refund_fee") : try fields.fen("refund_fee"),
            refundedAt: nil)
    }

    /// What a `refundquery` answer says about `outRefundNo` (its entry of `refund_list`).
    public func refundStatus(outRefundNo: String, requireSign: Bool = true) throws(ChannelError) -> RefundStatus {
        guard state == "SUCCESS" else {
            if code == "20007" { return .notFound }
            throw rejection()
        }
        guard code == "10000" || code.isEmpty else {
            if code == "20007" { return .notFound }
            if code == "20006" || code == "30001" {
                throw ChannelError(.vendorUnavailable, "\(fields.context): \(message)", vendorCode: code)
            }
            throw rejection()
        }
        try requireSigned(requireSign)
        guard let listText = fields["refund_list"] else {
            throw .badResponse("\(fields.context) answer lacks required field 'refund_list'")
        }
        guard let data = listText.data(using: .utf8),
            let list = try? JSONDecoder().decode(JSONValue.self, from: data), case .array(let items) = list
        else {
            throw .badResponse("\(fields.context) field 'refund_list' is not a JSON array")
        }
        guard
            let entry = items.compactMap({ $0.objectValue }).map({
                AnswerFields(json: $0, context: "\(fields.context) refund_list")
            }).first(where: { $0["out_refund_no"] == outRefundNo })
        else { return .notFound }
        switch entry["refund_status"] ?? "" {
        case "SUCCESS":
            let time = entry["refund_time"].flatMap {
                ChinaTime.parse($0, "yyyy-MM-dd HH:mm:ss") ?? ChinaTime.parse($0, "yyyyMMddHHmmss")
            }
            return .succeeded(
                RefundDetails(
                    vendorRefundIDs: [try entry.required("refund_id")],
                    amount: entry["base_refund_fee"] != nil
                        ? try entry.fen("base_refund_fee") : try entry.fen("refund_fee"),
                    refundedAt: time))
        case "FAIL":
            return .failed(VendorFailure(code: "FAIL", message: message.isEmpty ? "退款失败" : message))
        case "PROCESSING":
            return .processing
        case "NOTSURE":
            // "未确定，需要商户原退款单号重新发起": send it again with the same out_refund_no.
            return .notFound
        case "CHANGE":
            return .failed(
                VendorFailure(
                    code: "CHANGE", message: "转入代发: the refund went back to the merchant's account; refund by hand"))
        case let other:
            throw ChannelError(
                .vendorUnavailable, "\(fields.context) refund_status '\(other.prefix(12))' is not documented")
        }
    }
}
