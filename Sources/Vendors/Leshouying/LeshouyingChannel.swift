import Foundation
import Logging
import NIOHTTP1
import Payments

/// The `leshouying` channel: 乐收赢 mini-program pay (`/v3/minipay`, WeChat `pay_type=400` and
/// Alipay `300`), `/v3/queryorder`, `/v3/closeorder`, and its JSON callbacks.
///
/// `pay_trace_no` is the order's `out_trade_no` and `pay_time` its creation time in GMT+8, so a
/// retried create repeats the same request and a query can always name the order by
/// `pay_trace_no` + `pay_time` even before the vendor's `trade_no` is known. The create memo holds
/// `pay_trace_no`, `pay_time`, `pay_type` and (once known) `trade_no`.
public struct LeshouyingChannel: PaymentChannel {
    public let channel: ChannelID = .leshouying
    public let merchant: String
    /// `queryorder` answers `PAY_IN_PROCESS` both while a payer pays and for an order nobody has
    /// started to pay, so it says nothing about an active payer (see ``ChannelPolicy/payingMeansPayerActive``).
    public let policy: ChannelPolicy = ChannelPolicy(payingMeansPayerActive: false)
    public var acknowledgement: CallbackAcknowledgement { configuration.acknowledgement }

    let configuration: LeshouyingConfiguration
    let http: VendorHTTP
    let logger: Logger

    /// Builds the channel, validating the account's settings and secrets.
    public init(account: MerchantAccount, http: VendorHTTP, logger: Logger) throws(ChannelError) {
        guard account.channel == .leshouying else {
            throw .configuration("merchant \(account.alias) is not a leshouying account")
        }
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
              number.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") })
        else { throw .invalidRequest("out_trade_no (pay_trace_no) must be 1–32 letters, digits, '_' or '-'") }
        let payType = try payType(order)
        if openID(order) == nil && order.attach != "assPost" {
            throw .invalidRequest(payType == "400"
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
        guard let name = option.stringValue ?? option.integerValue.map(String.init), let code = Self.payTypeCode(name) else {
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
        if let openID = openID(order) { parameters["open_id"] = openID }
        if let attach = order.attach { parameters["attach"] = attach }
        if let ip = order.clientIP, !ip.isEmpty { parameters["reqip"] = ip }
        if let detail = order.options["goods_detail"].flatMap(goodsDetail) { parameters["goods_detail"] = detail }
        var memo = ["pay_trace_no": order.outTradeNo, "pay_time": payTime, "pay_type": payType]

        let answer: [String: String]
        do {
            answer = try await call("/v3/minipay", parameters)
        } catch where error.code == .timeout {
            logger.debug("leshouying create outcome unknown", metadata: ["out_trade_no": "\(order.outTradeNo)"])
            return .pending(.unknownResult, memo: memo)
        }
        let message = answer["return_msg"] ?? ""
        guard answer["return_code"] == "SUCCESS" else {
            if message.contains("重复") || message.contains("已存在") { return .duplicate }
            throw Self.failure(answer, api: "minipay")
        }
        if let echoed = answer["pay_trace_no"], !echoed.isEmpty, echoed != order.outTradeNo {
            throw .badResponse("leshouying minipay answered for another pay_trace_no")
        }
        if let tradeNo = answer["trade_no"], !tradeNo.isEmpty { memo["trade_no"] = tradeNo }
        if answer["result_code"] == "PAY_FAIL" {
            return .failed(VendorFailure(code: "PAY_FAIL", message: message))
        }
        if let parameters = try Self.payParameters(answer, payType: payType) {
            return .prepared(Prepared(payParameters: parameters, vendorOrderID: memo["trade_no"], memo: memo))
        }
        switch answer["result_code"] {
        case "PAY_IN_PROCESS": return .pending(.userPaying, memo: memo)
        case "PAY_SUCCESS": return .pending(.needQuery, memo: memo)
        default: throw .badResponse("leshouying minipay answered without pay parameters or a known result_code")
        }
    }

    /// The mini-program pay parameters, `nil` when the answer carries none.
    static func payParameters(_ answer: [String: String], payType: String) throws(ChannelError) -> [String: String]? {
        if payType == "300" {
            guard let tradeNo = answer["ali_trade_no"], !tradeNo.isEmpty else { return nil }
            return ["tradeNO": tradeNo]
        }
        guard let paySign = answer["paySign"], !paySign.isEmpty else { return nil }
        var result: [String: String] = ["paySign": paySign]
        for (vendorName, name) in [("appId", "appId"), ("nonceStr", "nonceStr"), ("packages", "package"), ("signType", "signType")] {
            guard let value = answer[vendorName], !value.isEmpty else {
                throw .badResponse("leshouying minipay pay parameters lack \(vendorName)")
            }
            result[name] = value
        }
        result["timeStamp"] = try normalisedTimeStamp(answer["timeStamp"] ?? "")
        if let miniapp = answer["miniapp_data"], !miniapp.isEmpty { result["miniapp_data"] = miniapp }
        return result
    }

    /// `timeStamp` must be 10-digit seconds; some systems return 13-digit milliseconds, which are truncated to seconds.
    public static func normalisedTimeStamp(_ text: String) throws(ChannelError) -> String {
        guard text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw .badResponse("leshouying timeStamp is not a number")
        }
        switch text.utf8.count {
        case 10: return text
        case 13: return String(text.prefix(10))
        default: throw .badResponse("leshouying timeStamp has \(text.utf8.count) digits (expected 10 or 13)")
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
        let message = answer["return_msg"] ?? ""
        guard answer["return_code"] == "SUCCESS" else {
            if message.contains("不存在") || message.contains("未找到") { return .notFound }
            throw Self.failure(answer, api: "queryorder")
        }
        if let echoed = answer["pay_trace_no"], !echoed.isEmpty, echoed != reference.order.outTradeNo {
            throw .badResponse("leshouying queryorder answered for another pay_trace_no")
        }
        switch answer["result_code"] {
        case "PAY_SUCCESS":
            guard let tradeNo = answer["trade_no"], !tradeNo.isEmpty else { throw .badResponse("paid order without trade_no") }
            let amount: Money
            do { amount = try Money(fenString: answer["total_amount"] ?? "") } catch {
                throw .badResponse("leshouying total_amount: \(error)")
            }
            return .succeeded(PaymentDetails(
                transactionID: tradeNo,
                amount: amount,
                paidAt: answer["end_time"].flatMap { ChinaTime.parse($0, "yyyyMMddHHmmss") },
                vendorMerchantID: answer["mch_no"]
            ))
        case "PAY_IN_PROCESS":
            return .paying
        case "PAY_FAIL":
            if message.contains("关闭") || message.contains("撤销") { return .closed }
            return .failed(VendorFailure(code: "PAY_FAIL", message: message))
        default:
            throw .badResponse("leshouying queryorder result_code is missing or unknown")
        }
    }

    /// `trade_no` when the create returned it, otherwise `pay_trace_no` + `pay_time`.
    func identify(_ reference: OrderReference, into parameters: inout [String: String]) {
        if let tradeNo = reference.memo["trade_no"], !tradeNo.isEmpty {
            parameters["trade_no"] = tradeNo
        } else {
            parameters["pay_trace_no"] = reference.memo["pay_trace_no"] ?? reference.order.outTradeNo
            parameters["pay_time"] = reference.memo["pay_time"] ?? ChinaTime.format(reference.order.createdAt, "yyyyMMddHHmmss")
        }
    }

    static func freshTraceNo() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
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
        let message = answer["return_msg"] ?? ""
        if message.contains("不存在") || message.contains("未找到") { return .notFound }
        guard answer["return_code"] == "SUCCESS" else { throw Self.failure(answer, api: "closeorder") }
        switch answer["result_code"] {
        case "PAY_SUCCESS", "PAY_SUCEESS":
            return .closed
        default:
            if message.contains("已支付") || message.contains("支付成功") { return .alreadyPaid }
            if message.contains("已关闭") || message.contains("已撤销") { return .alreadyClosed }
            throw ChannelError(.vendorRejected, "leshouying closeorder refused: \(message)", vendorCode: answer["result_code"])
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

    /// Signs and posts `parameters` as JSON; returns the answer's members as signed text, with the
    /// answer's signature verified (required when `return_code` is SUCCESS, checked whenever present).
    func call(_ path: String, _ parameters: [String: String]) async throws(ChannelError) -> [String: String] {
        var signed = parameters
        signed["sign"] = LeshouyingSigning.sign(parameters, key: configuration.instKey)
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
        guard let object = LeshouyingSigning.object(response.body) else {
            throw .badResponse("leshouying answer to \(path) is not a JSON object")
        }
        let answer = LeshouyingSigning.flatten(object)
        guard let returnCode = answer["return_code"], !returnCode.isEmpty else {
            throw .badResponse("leshouying answer to \(path) has no return_code")
        }
        if let signature = answer["sign"], !signature.isEmpty {
            guard LeshouyingSigning.verify(answer, signature: signature, key: configuration.instKey) else {
                throw .badResponse("leshouying answer to \(path) has a wrong signature")
            }
        } else if returnCode == "SUCCESS" {
            throw .badResponse("leshouying answer to \(path) is not signed")
        }
        return answer
    }

    /// A `return_code=FAIL` answer as an error.
    static func failure(_ answer: [String: String], api: String) -> ChannelError {
        let message = answer["return_msg"] ?? ""
        if message.contains("系统") || message.contains("繁忙") || message.contains("超时") {
            return ChannelError(.vendorUnavailable, "leshouying \(api): \(message)", vendorCode: answer["return_code"])
        }
        if message.contains("频繁") {
            return ChannelError(.rateLimited, "leshouying \(api): \(message)", vendorCode: answer["return_code"])
        }
        return ChannelError(.vendorRejected, "leshouying \(api) rejected: \(message)", vendorCode: answer["return_code"])
    }
}
