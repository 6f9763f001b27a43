import Foundation
import Logging
import Observability
import Payments

/// A YunGouOS answer, `{code, msg, data}`, decoded the way the vendor documents it.
///
/// `code` is documented as `Int` (`0` success / `1` failure, seed `nativePay` page) and arrives
/// as a JSON number in the vendor's own sample; a string `"0"` is accepted as the same value.
/// `msg` is optional (PayFleet only reads it for failures). `data` is a string for `nativePay`
/// and `closeOrder` and an object for `getPayOrderInfo` (Java SDK `PayOrder`); members PayFleet
/// does not use are ignored.
public struct YunGouOSAnswer: Sendable, Hashable {
    public var code: String
    public var message: String
    public var data: JSONValue?

    /// Decodes an answer body (HTTP 2xx). `api` names the call in errors.
    public static func decode(_ body: [UInt8], api: String) throws(ChannelError) -> YunGouOSAnswer {
        guard let object = AnswerFields.object(body) else {
            throw .badResponse("yungouos answer to \(api) is not a JSON object")
        }
        let envelope = AnswerFields(json: object, context: "yungouos \(api)")
        let code = try envelope.required("code")
        let data = object["data"].flatMap { $0 == .null ? nil : $0 }
        return YunGouOSAnswer(code: code, message: envelope["msg"] ?? "", data: data)
    }

    public var succeeded: Bool { code == "0" }

    // MARK: nativePay

    /// The outcome of a `nativePay` answer. `qrType` is the `type` that was sent; `memo` is kept.
    public func createOutcome(
        qrType: String, memo: [String: String], logger: Logger
    ) throws(ChannelError) -> CreateOutcome {
        guard succeeded else {
            switch YunGouOSMessages.classify(message, api: "nativePay", logger: logger) {
            case .duplicate, .alreadyPaid, .closed: return .duplicate
            case .rateLimited: throw ChannelError(.rateLimited, "yungouos: \(message)", vendorCode: code)
            case .systemBusy: throw ChannelError(.vendorUnavailable, "yungouos: \(message)", vendorCode: code)
            case .signatureError:
                throw ChannelError(.vendorRejected, "yungouos rejected the request: \(message)", vendorCode: code)
            case .rejected, .notFound: return .failed(VendorFailure(code: code, message: message))
            case nil: return .pending(.unknownResult, memo: memo)
            }
        }
        guard let link = data.flatMap(AnswerFields.text), !link.isEmpty else {
            throw .badResponse("yungouos nativePay answer lacks required field 'data'")
        }
        if qrType == "1" {
            guard link.hasPrefix("weixin://") else {
                throw .badResponse("yungouos type=1 data is not a weixin:// link")
            }
            return .prepared(Prepared(codeURL: link, memo: memo))
        }
        guard link.hasPrefix("http://") || link.hasPrefix("https://") else {
            throw .badResponse("yungouos type=2 data is not an image URL")
        }
        return .prepared(Prepared(qrImageURL: link, memo: memo))
    }

    // MARK: getPayOrderInfo

    /// The order state a `getPayOrderInfo` answer reports for `outTradeNo`.
    ///
    /// Used members of `data`: `payStatus` (0 unpaid, 1 paid; number or string), and for a paid
    /// order `orderNo` and `money` (yuan); `outTradeNo` and `mchid`/`mchId` when present.
    public func tradeStatus(outTradeNo: String, logger: Logger) throws(ChannelError) -> TradeStatus {
        guard succeeded else {
            switch YunGouOSMessages.classify(message, api: "getPayOrderInfo", logger: logger) {
            case .notFound: return .notFound
            case .rateLimited: throw ChannelError(.rateLimited, "yungouos: \(message)", vendorCode: code)
            case .signatureError, .rejected:
                throw ChannelError(.vendorRejected, "yungouos getPayOrderInfo failed: \(message)", vendorCode: code)
            case .systemBusy, .duplicate, .alreadyPaid, .closed, nil:
                throw ChannelError(
                    .vendorUnavailable, "yungouos getPayOrderInfo: \(message); query again later", vendorCode: code)
            }
        }
        guard let data else { return .notFound }
        guard let object = data.objectValue else {
            throw .badResponse("yungouos getPayOrderInfo field 'data' is not an object")
        }
        let order = AnswerFields(json: object, context: "yungouos getPayOrderInfo data")
        if let echoed = order["outTradeNo"], echoed != outTradeNo {
            throw .badResponse("yungouos getPayOrderInfo answered for another order")
        }
        switch try order.required("payStatus") {
        case "0":
            return .notPaid
        case "1":
            return .succeeded(
                PaymentDetails(
                    transactionID: try order.required("orderNo"),
                    amount: try order.yuan("money"),
                    paidAt: nil,
                    vendorMerchantID: order["mchid"] ?? order["mchId"]
                ))
        default:
            throw .badResponse("yungouos getPayOrderInfo field 'payStatus' is neither 0 nor 1")
        }
    }

    // MARK: closeOrder

    /// What a `closeOrder` answer says; `nil` when only a query can tell (a message no table entry matches).
    public func closeOutcome(logger: Logger) throws(ChannelError) -> CloseOutcome? {
        if succeeded { return .closed }
        switch YunGouOSMessages.classify(message, api: "closeOrder", logger: logger) {
        case .alreadyPaid: return .alreadyPaid
        case .closed: return .alreadyClosed
        case .notFound: return .notFound
        case .rateLimited: throw ChannelError(.rateLimited, "yungouos: \(message)", vendorCode: code)
        case .systemBusy: throw ChannelError(.vendorUnavailable, "yungouos: \(message)", vendorCode: code)
        case .signatureError, .rejected:
            throw ChannelError(.vendorRejected, "yungouos closeOrder failed: \(message)", vendorCode: code)
        case .duplicate, nil: return nil
        }
    }
}

/// YunGouOS answers carry no code beyond 0/1, so its `msg` is the only signal; these are the
/// phrases PayFleet acts on, tried in order.
public enum YunGouOSMessages {
    public static let table = MessageTable([
        .init(
            "签名", .signatureError,
            source:
                "YunGouOS PHP SDK demo/notify.php + PaySign.php (signature is the documented failure cause); assumption on wording"
        ),
        .init("商户号不存在", .rejected, source: "assumption: merchant-number refusal, must not read as 'order not found'"),
        .init("已支付", .alreadyPaid, source: "YunGouOS-JAVA-SDK/README.md@07b08c5 closeOrder: \"订单如果已支付不能关闭\""),
        .init("已付款", .alreadyPaid, source: "assumption: synonym of 已支付"),
        .init("支付成功", .alreadyPaid, source: "assumption: synonym of 已支付"),
        .init("已关闭", .closed, source: "YunGouOS-JAVA-SDK/README.md@07b08c5 closeOrder (关闭 wording)"),
        .init(
            "已撤销", .closed,
            source: "YunGouOS-JAVA-SDK AliPayReverseOrderBiz.java@07b08c5 (撤销 = close of an unpaid trade)"),
        .init("重复", .duplicate, source: "YunGouOS-JAVA-SDK WxPay.java@07b08c5 \"订单号 不可重复\""),
        .init("已存在", .duplicate, source: "assumption: synonym of 重复"),
        .init("不存在", .notFound, source: "assumption: common wording; the SDKs publish no query failure text"),
        .init("未找到", .notFound, source: "assumption: synonym of 不存在"),
        .init("频繁", .rateLimited, source: "YunGouOS-Node-SDK src/order/Order.js@07b08c5 \"1qps/10s\" limit"),
        .init("限流", .rateLimited, source: "assumption: synonym of 频繁"),
        .init("稍后", .rateLimited, source: "assumption: 'try later' wording"),
        .init("繁忙", .systemBusy, source: "assumption: common wording"),
        .init("系统", .systemBusy, source: "assumption: 系统错误/系统异常"),
        .init("金额", .rejected, source: "seed 000 nativePay: total_fee range 0.01–999999 yuan"),
        .init("参数", .rejected, source: "assumption: parameter error wording"),
        .init("商户", .rejected, source: "assumption: merchant state refusals (商户状态异常…)"),
    ])

    /// The meaning of `message`; an unmatched one is logged and counted, and `nil` is returned.
    static func classify(_ message: String, api: String, logger: Logger) -> MessageMeaning? {
        if let meaning = table.meaning(of: message) { return meaning }
        UnmatchedVendorMessages.record(channel: .yungouos, api: api, message: message, logger: logger)
        return nil
    }
}

/// `payfleet_vendor_unmatched_messages_total{channel}`: vendor messages no table entry explains.
enum UnmatchedVendorMessages {
    static func record(channel: ChannelID, api: String, message: String, logger: Logger) {
        VendorInstruments.shared.unmatchedMessage(channel: channel)
        logger.warning(
            "vendor message matches no known phrase; the order will be queried",
            metadata: [
                LogKey.channel: "\(channel.rawValue)", LogKey.api: "\(api)",
                LogKey.vendorMessage: "\(message.prefix(200))",
            ])
    }
}
