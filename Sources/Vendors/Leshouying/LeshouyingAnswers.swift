import Foundation
import Logging
import Observability
import Payments

/// A 乐收赢 answer to `/v3/minipay`, `/v3/queryorder` or `/v3/closeorder`, decoded the way the
/// vendor documents it: a flat JSON object whose members may arrive as strings or numbers
/// (the seed's own request example sends `inst_no` as the number `900075`), `return_code`
/// (communication), `return_msg`, `result_code` (only with `return_code=SUCCESS`) and `sign`
/// over every non-null member. Members PayFleet does not use are ignored (they still take part
/// in the signature, as the rule says).
public struct LeshouyingAnswer: Sendable, Hashable {
    public let fields: AnswerFields

    public init(fields: AnswerFields) {
        self.fields = fields
    }

    /// Decodes an answer body (HTTP 2xx) and verifies its `sign` with the 机构密钥: required when
    /// `return_code` is SUCCESS, checked whenever present, compared without regard to hex case.
    public static func decode(_ body: [UInt8], api: String, key: Secret) throws(ChannelError) -> LeshouyingAnswer {
        guard let object = AnswerFields.object(body) else {
            throw .badResponse("leshouying answer to \(api) is not a JSON object")
        }
        let fields = AnswerFields(json: object, context: "leshouying \(api)")
        let returnCode = try fields.required("return_code")
        if let signature = fields["sign"] {
            guard LeshouyingSigning.verify(fields.values, signature: signature, key: key) else {
                throw .badResponse("leshouying answer to \(api) has a wrong signature")
            }
        } else if returnCode == "SUCCESS" {
            throw .badResponse("leshouying \(api) answer lacks required field 'sign'")
        }
        return LeshouyingAnswer(fields: fields)
    }

    public var succeeded: Bool { fields["return_code"] == "SUCCESS" }
    public var message: String { fields["return_msg"] ?? "" }
    public var resultCode: String? { fields["result_code"] }

    func checkEcho(_ outTradeNo: String) throws(ChannelError) {
        if let echoed = fields["pay_trace_no"], echoed != outTradeNo {
            throw .badResponse("\(fields.context) answered for another pay_trace_no")
        }
    }

    /// A `return_code=FAIL` answer as an error, by its message (the only signal it carries).
    func failure(_ meaning: MessageMeaning?) -> ChannelError {
        let code = fields["return_code"]
        switch meaning {
        case .rateLimited: return ChannelError(.rateLimited, "\(fields.context): \(message)", vendorCode: code)
        case .signatureError, .rejected:
            return ChannelError(.vendorRejected, "\(fields.context) rejected: \(message)", vendorCode: code)
        case .systemBusy, .duplicate, .alreadyPaid, .closed, .notFound, nil:
            return ChannelError(.vendorUnavailable, "\(fields.context): \(message); try again later", vendorCode: code)
        }
    }

    // MARK: minipay

    /// The outcome of a `minipay` answer.
    /// - Parameters:
    ///   - payType: `400` (WeChat) or `300` (Alipay), as sent.
    ///   - pluginMode: the order was sent with `attach=assPost` (乐收赢 mini-program plug-in), so
    ///     `miniapp_data` alone makes it payable.
    ///   - memo: the create memo; `trade_no` is added when the answer has it.
    ///   - truncateMilliseconds: merchant setting `timestamp_ms`.
    public func createOutcome(
        outTradeNo: String, payType: String, pluginMode: Bool, memo: [String: String],
        truncateMilliseconds: Bool = true, logger: Logger
    ) throws(ChannelError) -> CreateOutcome {
        var memo = memo
        guard succeeded else {
            let meaning = LeshouyingMessages.classify(message, api: "minipay", logger: logger)
            switch meaning {
            case .duplicate, .alreadyPaid, .closed: return .duplicate
            case nil: return .pending(.unknownResult, memo: memo)
            default: throw failure(meaning)
            }
        }
        try checkEcho(outTradeNo)
        if let tradeNo = fields["trade_no"] { memo["trade_no"] = tradeNo }
        if resultCode == "PAY_FAIL" {
            return .failed(VendorFailure(code: "PAY_FAIL", message: message))
        }
        if let parameters = try payParameters(
            payType: payType, pluginMode: pluginMode, truncateMilliseconds: truncateMilliseconds)
        {
            return .prepared(Prepared(payParameters: parameters, vendorOrderID: memo["trade_no"], memo: memo))
        }
        switch resultCode {
        case "PAY_IN_PROCESS": return .pending(.userPaying, memo: memo)
        default:
            // PAY_SUCCESS without pay parameters, or a result code the documents do not list: the query decides.
            return .pending(.needQuery, memo: memo)
        }
    }

    /// The mini-program pay parameters, `nil` when the answer carries none.
    ///
    /// WeChat: `appId`, `timeStamp`, `nonceStr`, `packages` (handed out as `package`),
    /// `signType`, `paySign`; in plug-in mode `miniapp_data` is enough and the WeChat members are
    /// added when present. Alipay: `ali_trade_no` (handed out as `tradeNO`).
    func payParameters(
        payType: String, pluginMode: Bool, truncateMilliseconds: Bool
    ) throws(ChannelError) -> [String: String]? {
        if payType == "300" {
            guard let tradeNo = fields["ali_trade_no"] else { return nil }
            var result = ["tradeNO": tradeNo]
            if let miniapp = fields["miniapp_data"] { result["miniapp_data"] = miniapp }
            return result
        }
        var result: [String: String] = [:]
        if let miniapp = fields["miniapp_data"] { result["miniapp_data"] = miniapp }
        if fields["paySign"] != nil {
            result["paySign"] = fields["paySign"]
            for (vendorName, name) in [
                ("appId", "appId"), ("nonceStr", "nonceStr"), ("packages", "package"), ("signType", "signType"),
            ] {
                result[name] = try fields.required(vendorName)
            }
            result["timeStamp"] = try LeshouyingChannel.normalisedTimeStamp(
                try fields.required("timeStamp"), truncateMilliseconds: truncateMilliseconds)
            return result
        }
        if pluginMode, result["miniapp_data"] != nil {
            for name in ["appId", "nonceStr", "signType"] { if let value = fields[name] { result[name] = value } }
            if let packages = fields["packages"] { result["package"] = packages }
            return result
        }
        return nil
    }

    // MARK: queryorder

    /// The order state a `queryorder` answer reports.
    ///
    /// Used: `result_code` (`PAY_SUCCESS` / `PAY_IN_PROCESS` / `PAY_FAIL`); for a payment
    /// `trade_no` and `total_amount` (fen), and `end_time` / `mch_no` when present.
    public func tradeStatus(outTradeNo: String, logger: Logger) throws(ChannelError) -> TradeStatus {
        guard succeeded else {
            let meaning = LeshouyingMessages.classify(message, api: "queryorder", logger: logger)
            if meaning == .notFound { return .notFound }
            throw failure(meaning)
        }
        try checkEcho(outTradeNo)
        switch try fields.required("result_code") {
        case "PAY_SUCCESS":
            return .succeeded(
                PaymentDetails(
                    transactionID: try fields.required("trade_no"),
                    amount: try fields.fen("total_amount"),
                    paidAt: fields["end_time"].flatMap { ChinaTime.parse($0, "yyyyMMddHHmmss") },
                    vendorMerchantID: fields["mch_no"]
                ))
        case "PAY_IN_PROCESS":
            return .paying
        case "PAY_FAIL":
            // The code says "not paid, for good"; only the message tells a close from a failure.
            if LeshouyingMessages.table.meaning(of: message) == .closed { return .closed }
            return .failed(VendorFailure(code: "PAY_FAIL", message: message))
        default:
            throw ChannelError(
                .vendorUnavailable, "leshouying queryorder result_code is not documented; query again later")
        }
    }

    // MARK: closeorder

    /// What a `closeorder` answer says; `nil` when it must be confirmed with a query.
    /// - Parameter successMeansClosed: merchant setting `close_success` (`closed` → true).
    public func closeOutcome(successMeansClosed: Bool = true, logger: Logger) throws(ChannelError) -> CloseOutcome? {
        let meaning = message.isEmpty ? nil : LeshouyingMessages.table.meaning(of: message)
        guard succeeded else {
            switch LeshouyingMessages.classify(message, api: "closeorder", logger: logger) {
            case .notFound: return .notFound
            case .alreadyPaid: return .alreadyPaid
            case .closed: return .alreadyClosed
            case .duplicate, nil: return nil
            case let other: throw failure(other)
            }
        }
        switch resultCode {
        case "PAY_SUCCESS", "PAY_SUCEESS":
            // "PAY_SUCEESS" is how the close page spells it; a third-party note verified against
            // TEST reads PAY_SUCCESS as "closed". `close_success: query` confirms it first.
            return successMeansClosed ? .closed : nil
        case "PAY_FAIL":
            switch meaning {
            case .alreadyPaid: return .alreadyPaid
            case .closed: return .alreadyClosed
            case .notFound: return .notFound
            default:
                if meaning == nil { _ = LeshouyingMessages.classify(message, api: "closeorder", logger: logger) }
                return nil
            }
        default:
            return nil
        }
    }
}

/// 乐收赢's `return_msg` phrases PayFleet acts on (the only signal of a `return_code=FAIL`
/// answer, and what tells a closed order from a failed one under `PAY_FAIL`), tried in order.
public enum LeshouyingMessages {
    public static let table = MessageTable([
        .init(
            "签名", .signatureError,
            source:
                "seed 001 minipay: sign 字段 / 接入指引 (signature is the documented request check); assumption on wording"),
        .init("参数不合法", .rejected, source: "seed 001 minipay return_msg: “支付成功”,“支付中”,“参数不合法”"),
        .init("不合法", .rejected, source: "seed 001 minipay return_msg “参数不合法”"),
        .init("不能为空", .rejected, source: "assumption: missing-parameter wording"),
        .init("机构号", .rejected, source: "assumption: institution/merchant refusal, must not read as 'order not found'"),
        .init("商户号", .rejected, source: "assumption: institution/merchant refusal, must not read as 'order not found'"),
        .init("已支付", .alreadyPaid, source: "assumption: closeorder on a paid order"),
        .init("支付成功", .alreadyPaid, source: "seed 001 minipay return_msg “支付成功”"),
        .init("已关闭", .closed, source: "assumption: closed-order wording"),
        .init("关闭", .closed, source: "showdoc 10788375917862433 (订单关闭接口) wording"),
        .init("撤销", .closed, source: "assumption: revoked-order wording"),
        .init("重复", .duplicate, source: "seed 001 minipay: pay_trace_no 必须在商户系统内唯一"),
        .init("已存在", .duplicate, source: "assumption: synonym of 重复"),
        .init("不存在", .notFound, source: "assumption: common wording; no sample published"),
        .init("未找到", .notFound, source: "assumption: synonym of 不存在"),
        .init("频繁", .rateLimited, source: "assumption: common wording"),
        .init("繁忙", .systemBusy, source: "assumption: common wording"),
        .init("超时", .systemBusy, source: "assumption: common wording"),
        .init("系统", .systemBusy, source: "assumption: 系统错误/系统异常"),
    ])

    /// The meaning of `message`; an unmatched one is logged and counted, and `nil` is returned.
    static func classify(_ message: String, api: String, logger: Logger) -> MessageMeaning? {
        if let meaning = table.meaning(of: message) { return meaning }
        VendorInstruments.shared.unmatchedMessage(channel: .leshouying)
        logger.warning(
            "vendor message matches no known phrase; the order will be queried",
            metadata: [
                LogKey.channel: "leshouying", LogKey.api: "\(api)", LogKey.vendorMessage: "\(message.prefix(200))",
            ])
        return nil
    }
}
