import Foundation
import Logging
import Observability
import Payments

/// YunGouOS refunds (YunGouOS-PAY-SDK `YunGouOS-JAVA-SDK/.../wxpay/WxPay.java` `orderRefund` and
/// `getRefundResult`, `util/PaySignUtil.java` `checkRefundNotifySign`, entities `RefundOrder` /
/// `RefundSearch`):
///
/// - `POST /api/pay/wxpay/refundOrder`, form: `out_trade_no`, `mch_id`, `money` (yuan) signed;
///   `out_trade_refund_no` (the merchant's refund number: "传递该参数情况下，查询退款接口可以通过该参数查询"),
///   `refund_desc` and `notify_url` sent unsigned. `data` is a `RefundOrder`: `refundNo` (YunGouOS's
///   refund number), `refundMoney`, `refundStatus` (0 待处理, 1 已退款), `payRefundNo`, `apiRefundTime`.
/// - `GET /api/pay/wxpay/getRefundResult`: `refund_no`, `mch_id` signed; `data` is a `RefundSearch`
///   with the same members.
/// - The refund callback (form POST to `notify_url`) signs `code`, `refundNo`, `orderNo`,
///   `outTradeNo`, `payNo`, `mchId`, `payName`, `refundMoney`, `channel`, `refundTime`,
///   `payRefundNo`, `applyTime`; it names the refund by YunGouOS's `refundNo` (kept in the memo as
///   ``RefundReference/vendorRefundNoMemoKey``), `code` 1 is a refund done.
///
/// The SDK's status has no failure value (0 pending, 1 refunded): a refund YunGouOS refuses is
/// refused by `refundOrder` (`code` 1 with a `msg`), which is a failed refund.
extension YunGouOSChannel: RefundingChannel {
    /// Refunds are asynchronous and notified; the query is the fallback: first after 10 s, then
    /// 30 s, 1 min, 5 min, 30 min; reported stuck after 3 days.
    public static let defaultRefundPolicy = RefundPolicy(
        firstQuery: .seconds(10), queryIntervals: [.seconds(30), .seconds(60), .seconds(300), .seconds(1800)],
        queryLimit: .seconds(3 * 24 * 3600))

    public var refundPolicy: RefundPolicy { Self.defaultRefundPolicy }

    public func validateRefund(_ refund: RefundOrder) throws(ChannelError) {
        guard Self.amountRange.contains(refund.amount), refund.amount <= refund.payment.order.amount else {
            throw .invalidRequest("yungouos refund money must be 0.01 yuan up to the order's amount")
        }
        let number = refund.outRefundNo
        guard !number.isEmpty, number.utf8.count <= 64,
            number.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F })
        else { throw .invalidRequest("out_refund_no must be 1–64 printable ASCII characters") }
        guard refund.subRefunds.isEmpty else { throw .invalidRequest("yungouos orders have no sub-orders") }
    }

    public func refund(_ refund: RefundOrder) async throws(ChannelError) -> RefundOutcome {
        try validateRefund(refund)
        var parameters: [String: String] = [
            "out_trade_no": refund.payment.order.outTradeNo,
            "mch_id": configuration.mchID,
            "money": refund.amount.yuanString,
        ]
        parameters["sign"] = YunGouOSSigning.sign(parameters, api: .refund, key: configuration.apiKey)
        parameters["out_trade_refund_no"] = refund.outRefundNo
        if let reason = refund.reason, !reason.isEmpty { parameters["refund_desc"] = reason }
        parameters["notify_url"] = refund.notifyURL
        let answer: YunGouOSAnswer
        do {
            answer = try await post("/api/pay/wxpay/refundOrder", parameters)
        } catch  where error.code == .timeout {
            return .pending(.unknownResult, memo: [:])
        }
        return try answer.refundOutcome(outRefundNo: refund.outRefundNo, logger: logger)
    }

    public func queryRefund(_ reference: RefundReference) async throws(ChannelError) -> RefundStatus {
        // YunGouOS's own refund number when the refund answer gave one, else the merchant's.
        let number = reference.memo[RefundReference.vendorRefundNoMemoKey] ?? reference.refund.outRefundNo
        var parameters = ["refund_no": number, "mch_id": configuration.mchID]
        parameters["sign"] = YunGouOSSigning.sign(parameters, api: .refundQuery, key: configuration.apiKey)
        let answer = try await get("/api/pay/wxpay/getRefundResult", parameters)
        return try answer.refundStatus(logger: logger)
    }
}

extension YunGouOSAnswer {
    /// What a `refundOrder` answer says.
    public func refundOutcome(outRefundNo: String, logger: Logger) throws(ChannelError) -> RefundOutcome {
        guard succeeded else {
            switch YunGouOSMessages.classify(message, api: "refundOrder", logger: logger) {
            case .rateLimited: throw ChannelError(.rateLimited, "yungouos: \(message)", vendorCode: code)
            case .systemBusy, nil: return .pending(.unknownResult, memo: [:])
            case .signatureError:
                throw ChannelError(.vendorRejected, "yungouos rejected the refund: \(message)", vendorCode: code)
            case .duplicate:
                // The refund number is known already: the query tells its state.
                return .pending(.needQuery, memo: [:])
            case .rejected, .notFound, .alreadyPaid, .closed:
                return .failed(VendorFailure(code: code, message: message))
            }
        }
        guard let object = data?.objectValue else {
            throw .badResponse("yungouos refundOrder answer lacks the refund object 'data'")
        }
        let fields = AnswerFields(json: object, context: "yungouos refundOrder data")
        if let echoed = fields["outTradeRefundNo"], echoed != outRefundNo {
            throw .badResponse("yungouos refundOrder answered for another out_trade_refund_no")
        }
        var memo: [String: String] = [:]
        if let number = fields["refundNo"] { memo[RefundReference.vendorRefundNoMemoKey] = number }
        switch fields["refundStatus"] ?? "0" {
        case "1": return .succeeded(try Self.refundDetails(fields))
        default: return .processing(memo: memo)
        }
    }

    /// What a `getRefundResult` answer says.
    public func refundStatus(logger: Logger) throws(ChannelError) -> RefundStatus {
        guard succeeded else {
            switch YunGouOSMessages.classify(message, api: "getRefundResult", logger: logger) {
            case .notFound: return .notFound
            case .rateLimited: throw ChannelError(.rateLimited, "yungouos: \(message)", vendorCode: code)
            case .signatureError, .rejected:
                throw ChannelError(.vendorRejected, "yungouos getRefundResult failed: \(message)", vendorCode: code)
            case .systemBusy, .duplicate, .alreadyPaid, .closed, nil:
                throw ChannelError(
                    .vendorUnavailable, "yungouos getRefundResult: \(message); query again later", vendorCode: code)
            }
        }
        guard let object = data?.objectValue else { return .notFound }
        let fields = AnswerFields(json: object, context: "yungouos getRefundResult data")
        switch try fields.required("refundStatus") {
        case "1": return .succeeded(try Self.refundDetails(fields))
        case "0": return .processing
        default:
            throw .badResponse("yungouos getRefundResult field 'refundStatus' is neither 0 nor 1")
        }
    }

    /// `refundNo` / `payRefundNo`, `refundMoney` (yuan), `apiRefundTime` (GMT+8) when present.
    static func refundDetails(_ fields: AnswerFields) throws(ChannelError) -> RefundDetails {
        var ids: [String] = [try fields.required("refundNo")]
        if let payRefundNo = fields["payRefundNo"] { ids.append(payRefundNo) }
        return RefundDetails(
            vendorRefundIDs: ids, amount: try fields.yuan("refundMoney"),
            refundedAt: fields["apiRefundTime"].flatMap { ChinaTime.parse($0, "yyyy-MM-dd HH:mm:ss") })
    }
}
