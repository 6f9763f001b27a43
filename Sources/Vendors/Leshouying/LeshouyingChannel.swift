import Foundation
import Logging
import NIOHTTP1
import Observability
import Payments

/// The `leshouying` channel: 乐收赢 mini-program pay (`/v3/minipay`, WeChat `pay_type=400` and
/// Alipay `300`), `/v3/queryorder`, `/v3/closeorder`, and its JSON callbacks.
///
/// `pay_trace_no` is the order's `out_trade_no` and `pay_time` its creation time in GMT+8, so a
/// retried create repeats the same request and a query can always name the order by
/// `pay_trace_no` + `pay_time` even before the vendor's `trade_no` is known. The create memo holds
/// `pay_trace_no`, `pay_time`, `pay_type` and (once known) `trade_no`.
public struct LeshouyingChannel: MerchantAccountChannel {
    public let channel: ChannelID = .leshouying
    public let merchant: String
    /// ``defaultPolicy``: `queryorder`'s `PAY_IN_PROCESS` says nothing about an active payer.
    public let policy: ChannelPolicy = Self.defaultPolicy
    public var acknowledgement: CallbackAcknowledgement { configuration.acknowledgement }

    let configuration: LeshouyingConfiguration
    let http: VendorHTTP
    let logger: Logger

    /// Builds the channel, validating the account's settings and secrets.
    public init(account: MerchantAccount, http: VendorHTTP, logger: Logger) throws(ChannelError) {
        try account.requireChannel(.leshouying)
        self.configuration = try LeshouyingConfiguration(account: account)
        self.merchant = account.alias
        self.http = http
        self.logger = logger
    }

    /// A complete account pointing at the sandbox (`<sandboxBaseURL>/yfpay`), with an obviously fake key.
    public static func sandboxDemoAccount(alias: String, sandboxBaseURL: String) -> MerchantAccount {
        var base = sandboxBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        return MerchantAccount(
            alias: alias,
            channel: .leshouying,
            settings: [
                "inst_no": "900999",
                "mch_no": "852400000001",
                "appid": "wxdemo00000000000",
                "api_base_url": base + "/yfpay",
                "default_pay_type": "wechat",
                "ack_format": "json",
            ],
            secrets: ["inst_key": Secret("demo0leshouying0inst0key00000000")]
        )
    }

    /// `wechat` → `400`, `alipay` → `300`.
    static func payTypeCode(_ name: String) -> String? {
        switch name {
        case "wechat", "400": "400"
        case "alipay", "300": "300"
        default: nil
        }
    }

    // MARK: Validation

    public func validate(_ order: PaymentOrder) throws(ChannelError) {
        guard order.amount.fen >= 1, order.amount.fen <= 9_999_999_999 else {
            throw .invalidRequest("leshouying total_amount must be at least 1 fen, got \(order.amount.fen)")
        }
        let number = order.outTradeNo
        guard !number.isEmpty, number.utf8.count <= 32,
            number.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
            })
        else { throw .invalidRequest("out_trade_no (pay_trace_no) must be 1–32 letters, digits, '_' or '-'") }
        let payType = try payType(order)
        if openID(order) == nil && order.attach != "assPost" {
            throw .invalidRequest(
                payType == "400"
                    ? "leshouying WeChat mini-program pay needs option openid"
                    : "leshouying Alipay mini-program pay needs option buyer_id (or openid)")
        }
        if let detail = order.options["goods_detail"], goodsDetail(detail) == nil {
            throw .invalidRequest("option goods_detail must be a JSON array or a JSON string")
        }
    }

    func payType(_ order: PaymentOrder) throws(ChannelError) -> String {
        guard let option = order.options["pay_type"] else {
            return Self.payTypeCode(configuration.defaultPayType) ?? "400"
        }
        guard let name = option.stringValue ?? option.integerValue.map(String.init), let code = Self.payTypeCode(name)
        else {
            throw .invalidRequest("option pay_type must be wechat or alipay for leshouying")
        }
        return code
    }

    func openID(_ order: PaymentOrder) -> String? {
        for name in ["openid", "buyer_id"] {
            if let value = order.options[name]?.stringValue, !value.isEmpty { return value }
        }
        return nil
    }

    /// `goods_detail` travels as a JSON *string* (the seed: "json格式的字符串").
    func goodsDetail(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): return text
        case .array: return LeshouyingSigning.text(value)
        default: return nil
        }
    }

    // MARK: Create

    public func create(_ order: PaymentOrder) async throws(ChannelError) -> CreateOutcome {
        try validate(order)
        let payType = try payType(order)
        let payTime = ChinaTime.format(order.createdAt, "yyyyMMddHHmmss")
        var parameters: [String: String] = [
            "inst_no": configuration.instNo,
            "mch_no": configuration.mchNo,
            "pay_type": payType,
            "pay_trace_no": order.outTradeNo,
            "pay_time": payTime,
            "total_amount": String(order.amount.fen),
            "order_body": order.description,
            "notify_url": order.notifyURL,
        ]
        if let shopNo = configuration.shopNo { parameters["shop_no"] = shopNo }
        if let terminalNo = configuration.terminalNo { parameters["terminal_no"] = terminalNo }
        if payType == "400", let appID = configuration.appID { parameters["appid"] = appID }
        // "走小程序插件时不传": no payer id in plug-in mode.
        if order.attach != Self.pluginAttach, let openID = openID(order) {
            parameters[configuration.openIDField] = openID
        }
        if let attach = order.attach { parameters["attach"] = attach }
        if let ip = order.clientIP, !ip.isEmpty { parameters["reqip"] = ip }
        if let detail = order.options["goods_detail"].flatMap(goodsDetail) { parameters["goods_detail"] = detail }
        let memo = ["pay_trace_no": order.outTradeNo, "pay_time": payTime, "pay_type": payType]

        let answer: LeshouyingAnswer
        do {
            answer = try await call("/v3/minipay", parameters)
        } catch  where error.code == .timeout {
            logger.debug("leshouying create outcome unknown", metadata: [LogKey.outTradeNo: "\(order.outTradeNo)"])
            return .pending(.unknownResult, memo: memo)
        }
        return try answer.createOutcome(
            outTradeNo: order.outTradeNo, payType: payType, pluginMode: order.attach == Self.pluginAttach, memo: memo,
            truncateMilliseconds: configuration.truncateMillisecondTimeStamp, logger: logger
        )
    }

    /// `attach=assPost` asks for 乐收赢's mini-program plug-in: the answer's `miniapp_data` is what the payer needs.
    public static let pluginAttach = "assPost"

    /// `timeStamp` must be 10-digit seconds; some systems return 13-digit milliseconds ("部分系统取到的值为毫秒级,
    /// 需要转换成秒"), which are truncated to seconds unless `truncateMilliseconds` is off (`timestamp_ms: reject`).
    public static func normalisedTimeStamp(
        _ text: String, truncateMilliseconds: Bool = true
    ) throws(ChannelError) -> String {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw .badResponse("leshouying field 'timeStamp' is not a number")
        }
        switch text.utf8.count {
        case 10: return text
        case 13 where truncateMilliseconds: return String(text.prefix(10))
        default:
            throw .badResponse(
                "leshouying field 'timeStamp' has \(text.utf8.count) digits (expected 10\(truncateMilliseconds ? " or 13" : ""))"
            )
        }
    }

    // MARK: Query

    public func query(_ reference: OrderReference) async throws(ChannelError) -> TradeStatus {
        var parameters = [
            "inst_no": configuration.instNo,
            "mch_no": configuration.mchNo,
            "query_trace_no": Self.freshTraceNo(),
        ]
        identify(reference, into: &parameters)
        let answer = try await call("/v3/queryorder", parameters)
        return try answer.tradeStatus(outTradeNo: reference.order.outTradeNo, logger: logger)
    }

    /// `trade_no` when the create returned it, otherwise `pay_trace_no` + `pay_time`.
    func identify(_ reference: OrderReference, into parameters: inout [String: String]) {
        if let tradeNo = reference.memo["trade_no"], !tradeNo.isEmpty {
            parameters["trade_no"] = tradeNo
        } else {
            parameters["pay_trace_no"] = reference.memo["pay_trace_no"] ?? reference.order.outTradeNo
            parameters["pay_time"] =
                reference.memo["pay_time"] ?? ChinaTime.format(reference.order.createdAt, "yyyyMMddHHmmss")
        }
    }

    static func freshTraceNo() -> String {
        Hex.random128(uppercase: false)
    }

    // MARK: Close

    public func close(_ reference: OrderReference) async throws(ChannelError) -> CloseOutcome {
        var parameters = [
            "inst_no": configuration.instNo,
            "mch_no": configuration.mchNo,
            "close_trace_no": Self.freshTraceNo(),
            "close_time": ChinaTime.format(Date(), "yyyyMMddHHmmss"),
        ]
        identify(reference, into: &parameters)
        let answer = try await call("/v3/closeorder", parameters)
        if let outcome = try answer.closeOutcome(
            successMeansClosed: !configuration.closeSuccessNeedsQuery, logger: logger)
        {
            return outcome
        }
        // An answer whose meaning is uncertain: the query decides before the order is called closed.
        switch try await query(reference) {
        case .succeeded, .refunded: return .alreadyPaid
        case .closed, .failed:
            return answer.resultCode == "PAY_SUCCESS" || answer.resultCode == "PAY_SUCEESS" ? .closed : .alreadyClosed
        case .notFound: return .notFound
        case .notPaid, .paying:
            throw ChannelError(
                .vendorUnavailable,
                "leshouying closeorder answered \(answer.resultCode ?? answer.fields["return_code"] ?? "") \"\(answer.message)\" and queryorder still reports the order unpaid; close again later"
            )
        }
    }

    // MARK: Callbacks

    public func verifyCallback(_ callback: RawCallback) async throws(CallbackError) -> VerifiedCallback {
        let verified = try LeshouyingCallback.verify(callback.body, key: configuration.instKey)
        guard verified.vendorMerchantID == configuration.mchNo,
            verified.fields["inst_no"].map({ $0 == configuration.instNo }) ?? true
        else { throw CallbackError(.wrongMerchant, "callback mch_no/inst_no does not match merchant \(merchant)") }
        return verified
    }

    public func callbackOrderKey(_ callback: RawCallback) throws(CallbackError) -> String {
        try LeshouyingCallback.orderKey(callback.body)
    }

    // MARK: Transport

    /// Signs and posts `parameters` as JSON; returns the answer with its signature verified
    /// (required when `return_code` is SUCCESS, checked whenever present).
    func call(_ path: String, _ parameters: [String: String]) async throws(ChannelError) -> LeshouyingAnswer {
        var signed = parameters
        signed["sign"] = LeshouyingSigning.sign(
            parameters, key: configuration.instKey, uppercase: configuration.signUppercase)
        let response = try await http.send(
            method: .POST,
            url: configuration.baseURL + path,
            headers: [("Content-Type", "application/json;charset=UTF-8"), ("Accept", "application/json")],
            body: LeshouyingSigning.body(signed),
            logger: logger
        )
        switch response.status {
        case 200..<300: break
        case 429: throw ChannelError(.rateLimited, "leshouying answered HTTP 429 to \(path)")
        case 500...: throw ChannelError(.vendorUnavailable, "leshouying answered HTTP \(response.status) to \(path)")
        default: throw .badResponse("leshouying answered HTTP \(response.status) to \(path)")
        }
        return try LeshouyingAnswer.decode(response.body, api: String(path.dropFirst(4)), key: configuration.instKey)
    }
}
