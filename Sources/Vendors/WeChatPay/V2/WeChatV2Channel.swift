import Foundation
import Logging
import Observability
import Payments

/// WeChat Pay v2 (`wechat-v2`): `pay/unifiedorder` (NATIVE or JSAPI), `pay/orderquery`,
/// `pay/closeorder` and the XML payment notification.
///
/// ## Settings
/// - `appid`, `mch_id` (required)
/// - `api_base_url` (default `https://api.mch.weixin.qq.com`)
/// - `backup_api_base_url` (default `https://api2.mch.weixin.qq.com`; `none` disables failover)
/// - `sign_type`: `MD5` (default) or `HMAC-SHA256`
/// - `trade_type`: `NATIVE` (default) or `JSAPI`; an order's `trade_type` option wins
/// - `spbill_create_ip`: the IP sent when an order has no `client_ip` (default `127.0.0.1`)
///
/// ## Secrets
/// - `api_key`: the 32-character API key (API密钥)
/// - `apiclient_cert`, `apiclient_key` (optional, together): the merchant's API client certificate
///   (`apiclient_cert.pem`) and its key (`apiclient_key.pem`), presented over mutual TLS by refunds
///   (`secapi/pay/refund`); without them the channel cannot refund
///
/// Requests that fail to connect or time out on the primary host are sent once more to the backup
/// host with the same `out_trade_no` (WeChat's cross-city disaster recovery); the create stays
/// idempotent because WeChat keys the order by `out_trade_no`.
public struct WeChatV2Channel: WeChatPayChannel {
    static let channelID: ChannelID = .wechatV2
    public let merchant: String
    public let policy: ChannelPolicy

    let appID: String
    let mchID: String
    let apiKey: Secret
    let signType: WeChatV2SignType
    let defaultTradeType: String
    let defaultClientIP: String
    let baseURLs: [String]
    let host: WeChatPayHost
    /// The API client certificate refunds present (nil when the account has none).
    let clientIdentity: TLSClientIdentity?

    init(checkedAccount account: MerchantAccount, host: WeChatPayHost) throws(ChannelError) {
        merchant = account.alias
        appID = try account.setting("appid")
        mchID = try account.setting("mch_id")
        apiKey = try account.secret("api_key")
        guard apiKey.reveal().utf8.count == 32 else {
            throw .configuration("merchant \(account.alias): secret 'api_key' must be 32 characters")
        }
        let signName = account.setting("sign_type", default: "MD5")
        guard let signType = WeChatV2SignType(name: signName) else {
            throw .configuration("merchant \(account.alias): setting 'sign_type' must be MD5 or HMAC-SHA256")
        }
        self.signType = signType
        defaultTradeType = account.setting("trade_type", default: "NATIVE").uppercased()
        guard ["NATIVE", "JSAPI"].contains(defaultTradeType) else {
            throw .configuration("merchant \(account.alias): setting 'trade_type' must be NATIVE or JSAPI")
        }
        defaultClientIP = account.setting("spbill_create_ip", default: "127.0.0.1")
        baseURLs = try WeChatPay.baseURLs(account)
        self.host = host
        policy = WeChatPay.defaultPolicy
        clientIdentity = try Self.readClientIdentity(account)
    }

    // MARK: Validation

    public func validate(_ order: PaymentOrder) throws(ChannelError) {
        guard WeChatPay.isValidOutTradeNo(order.outTradeNo) else {
            throw .invalidRequest("out_trade_no must be 1-32 characters of digits, letters and _-|*")
        }
        guard order.amount.fen > 0, order.amount.fen <= 10_000_000_000 else {
            throw .invalidRequest("total_fee must be a positive number of fen")
        }
        guard !order.description.isEmpty, order.description.utf8.count <= 128 else {
            throw .invalidRequest("body (description) must be 1-128 bytes")
        }
        if let attach = order.attach, attach.utf8.count > 127 {
            throw .invalidRequest("attach must be at most 127 bytes")
        }
        try WeChatPay.validateNotifyURL(order.notifyURL)
        let tradeType = try self.tradeType(of: order)
        if tradeType == "JSAPI" {
            guard let openid = order.options["openid"]?.stringValue, !openid.isEmpty else {
                throw .invalidRequest("trade_type JSAPI needs the openid option")
            }
        }
        if let productID = order.options["product_id"]?.stringValue, productID.utf8.count > 32 {
            throw .invalidRequest("product_id must be at most 32 bytes")
        }
        if let goods = order.options["goods_detail"], goods != .null {
            _ = try WeChatV2GoodsDetail.detail(from: goods)
        }
    }

    func tradeType(of order: PaymentOrder) throws(ChannelError) -> String {
        guard let option = order.options["trade_type"] else { return defaultTradeType }
        guard let value = option.stringValue?.uppercased(), ["NATIVE", "JSAPI"].contains(value) else {
            throw .invalidRequest("trade_type must be NATIVE or JSAPI")
        }
        return value
    }

    // MARK: Create

    public func create(_ order: PaymentOrder) async throws(ChannelError) -> CreateOutcome {
        try validate(order)
        let tradeType = try self.tradeType(of: order)
        var fields = baseFields()
        fields["body"] = order.description
        fields["out_trade_no"] = order.outTradeNo
        fields["total_fee"] = String(order.amount.fen)
        fields["spbill_create_ip"] = order.clientIP ?? defaultClientIP
        fields["notify_url"] = order.notifyURL
        fields["trade_type"] = tradeType
        fields["fee_type"] = "CNY"
        if let attach = order.attach { fields["attach"] = attach }
        fields["time_start"] = ChinaTime.format(order.createdAt, "yyyyMMddHHmmss")
        if let expiresAt = order.expiresAt {
            fields["time_expire"] = ChinaTime.format(expiresAt, "yyyyMMddHHmmss")
        }
        if tradeType == "NATIVE" {
            // product_id is required for NATIVE; it is the merchant's own id, the order number by default.
            fields["product_id"] = order.options["product_id"]?.stringValue ?? order.outTradeNo
        } else {
            fields["openid"] = order.options["openid"]?.stringValue
        }
        if let goods = order.options["goods_detail"], goods != .null {
            fields["detail"] = try WeChatV2GoodsDetail.detail(from: goods)
        }

        let response: [String: String]
        do throws(ChannelError) {
            response = try await call("/pay/unifiedorder", fields)
        } catch  where error.code == .timeout {
            // The request may have reached WeChat: the outcome is unknown, query it.
            logger.debug("wechat v2 create timed out", metadata: [LogKey.outTradeNo: "\(order.outTradeNo)"])
            return .pending(.unknownResult, memo: [:])
        }
        return try createOutcome(response, tradeType: tradeType)
    }

    /// What a verified `unifiedorder` answer means.
    func createOutcome(_ response: [String: String], tradeType: String) throws(ChannelError) -> CreateOutcome {
        switch try businessResult(response) {
        case .success:
            guard let prepayID = response["prepay_id"], !prepayID.isEmpty else {
                throw .badResponse("unifiedorder answer: field prepay_id is missing")
            }
            var memo = ["prepay_id": prepayID]
            if tradeType == "NATIVE" {
                guard let codeURL = response["code_url"], !codeURL.isEmpty else {
                    throw .badResponse("unifiedorder answer: field code_url is missing (NATIVE)")
                }
                memo["trade_type"] = "NATIVE"
                return .prepared(Prepared(codeURL: codeURL, vendorOrderID: prepayID, memo: memo))
            }
            memo["trade_type"] = "JSAPI"
            return .prepared(
                Prepared(payParameters: jsapiParameters(prepayID: prepayID), vendorOrderID: prepayID, memo: memo))
        case .failure(let code, let message):
            switch code {
            case "OUT_TRADE_NO_USED", "ORDERPAID":
                return .duplicate
            case "INVALID_REQUEST" where message.contains("订单号重复"):
                return .duplicate
            case "SYSTEMERROR", "BANKERROR":
                return .pending(.needQuery, memo: [:])
            case "USERPAYING":
                return .pending(.userPaying, memo: [:])
            case "SIGNERROR", "APPID_NOT_EXIST", "MCHID_NOT_EXIST", "APPID_MCHID_NOT_MATCH", "NOAUTH",
                "XML_FORMAT_ERROR", "REQUIRE_POST_METHOD", "POST_DATA_EMPTY", "NOT_UTF8", "LACK_PARAMS":
                throw ChannelError(.vendorRejected, "unifiedorder refused: \(message)", vendorCode: code)
            default:
                return .failed(VendorFailure(code: code, message: message))
            }
        }
    }

    /// The JSAPI `chooseWXPay` / `WeixinJSBridge` parameters, signed with the same key and algorithm.
    func jsapiParameters(prepayID: String) -> [String: String] {
        var parameters = [
            "appId": appID,
            "timeStamp": String(Int64(now().timeIntervalSince1970)),
            "nonceStr": WeChatPay.nonce(),
            "package": "prepay_id=\(prepayID)",
            "signType": signType.rawValue,
        ]
        parameters["paySign"] = signType.sign(parameters, key: apiKey)
        return parameters
    }

    // MARK: Query

    public func query(_ reference: OrderReference) async throws(ChannelError) -> TradeStatus {
        var fields = baseFields()
        fields["out_trade_no"] = reference.order.outTradeNo
        let response = try await call("/pay/orderquery", fields)
        return try tradeStatus(response, outTradeNo: reference.order.outTradeNo)
    }

    /// What a verified `orderquery` answer says about the order `outTradeNo`.
    func tradeStatus(_ response: [String: String], outTradeNo: String) throws(ChannelError) -> TradeStatus {
        switch try businessResult(response) {
        case .failure(let code, let message):
            switch code {
            case "ORDERNOTEXIST": return .notFound
            case "SYSTEMERROR": throw ChannelError(.vendorUnavailable, "orderquery: \(message)", vendorCode: code)
            default: throw ChannelError(.vendorRejected, "orderquery refused: \(message)", vendorCode: code)
            }
        case .success:
            break
        }
        try expect(response, "out_trade_no", equals: outTradeNo)
        guard let state = response["trade_state"], !state.isEmpty else {
            throw .badResponse("orderquery answer: field trade_state is missing")
        }
        let description = response["trade_state_desc"] ?? state
        switch state {
        case "SUCCESS": return .succeeded(try paymentDetails(response))
        case "REFUND": return .refunded(try paymentDetails(response))
        case "NOTPAY": return .notPaid
        case "USERPAYING", "ACCEPT": return .paying
        case "CLOSED", "REVOKED": return .closed
        case "PAYERROR": return .failed(VendorFailure(code: state, message: description))
        default: throw .badResponse("orderquery: unknown trade_state \(state.prefix(32))")
        }
    }

    func paymentDetails(_ fields: [String: String]) throws(ChannelError) -> PaymentDetails {
        guard let transactionID = fields["transaction_id"], !transactionID.isEmpty else {
            throw .badResponse("answer for a paid order: field transaction_id is missing")
        }
        guard let totalText = fields["total_fee"], let total = try? Money(fenString: totalText) else {
            throw .badResponse("answer for a paid order: field total_fee is missing or not an integer number of fen")
        }
        let paidAt = fields["time_end"].flatMap { ChinaTime.parse($0, "yyyyMMddHHmmss") }
        return PaymentDetails(
            transactionID: transactionID, amount: total, paidAt: paidAt, vendorMerchantID: fields["mch_id"])
    }

    // MARK: Close

    public func close(_ reference: OrderReference) async throws(ChannelError) -> CloseOutcome {
        let age = now().timeIntervalSince(reference.order.createdAt)
        if age < 300 {
            let remaining = max(1, Int64((300 - age).rounded(.up)))
            return .tooEarly(retryAfter: .seconds(remaining))
        }
        var fields = baseFields()
        fields["out_trade_no"] = reference.order.outTradeNo
        let response = try await call("/pay/closeorder", fields)
        return try closeOutcome(response)
    }

    /// What a verified `closeorder` answer means.
    func closeOutcome(_ response: [String: String]) throws(ChannelError) -> CloseOutcome {
        switch try businessResult(response) {
        case .success:
            return .closed
        case .failure(let code, let message):
            switch code {
            case "ORDERPAID": return .alreadyPaid
            case "ORDERCLOSED": return .alreadyClosed
            case "ORDERNOTEXIST": return .notFound
            case "SYSTEMERROR": throw ChannelError(.vendorUnavailable, "closeorder: \(message)", vendorCode: code)
            default: throw ChannelError(.vendorRejected, "closeorder refused: \(message)", vendorCode: code)
            }
        }
    }

    // MARK: Callback

    public func verifyCallback(_ callback: RawCallback) async throws(CallbackError) -> VerifiedCallback {
        let fields: [String: String]
        do throws(WeChatXML.DecodingError) {
            fields = try WeChatXML.decode(callback.body)
        } catch {
            throw .malformed(error.reason)
        }
        if fields["req_info"] != nil { return try verifyRefundNotification(fields) }
        guard let sign = fields["sign"], !sign.isEmpty else { throw .badSignature("notification has no sign") }
        guard let algorithm = WeChatV2SignType.of(fields) else {
            throw .malformed("unknown sign_type")
        }
        guard algorithm.verify(fields, key: apiKey) else { throw .badSignature() }
        guard fields["return_code"] == "SUCCESS" else {
            throw .malformed("notification return_code is not SUCCESS")
        }
        guard fields["appid"] == appID, fields["mch_id"] == mchID else {
            throw CallbackError(.wrongMerchant, "notification names another appid/mch_id")
        }
        guard let outTradeNo = fields["out_trade_no"], !outTradeNo.isEmpty else {
            throw .malformed("notification: field out_trade_no is missing")
        }
        let amount = fields["total_fee"].flatMap { try? Money(fenString: $0) }
        let status: TradeStatus
        if fields["result_code"] == "SUCCESS" {
            guard let amount, let transactionID = fields["transaction_id"], !transactionID.isEmpty else {
                throw .malformed("paid notification: field total_fee or transaction_id is missing")
            }
            let paidAt = fields["time_end"].flatMap { ChinaTime.parse($0, "yyyyMMddHHmmss") }
            status = .succeeded(
                PaymentDetails(transactionID: transactionID, amount: amount, paidAt: paidAt, vendorMerchantID: mchID))
        } else {
            status = .failed(
                VendorFailure(code: fields["err_code"] ?? "FAIL", message: fields["err_code_des"] ?? "payment failed"))
        }
        var audit = fields
        audit["sign"] = nil
        return VerifiedCallback(
            outTradeNo: outTradeNo, status: status, vendorMerchantID: fields["mch_id"], amount: amount,
            notificationID: fields["transaction_id"], fields: audit
        )
    }

    public func callbackOrderKey(_ callback: RawCallback) throws(CallbackError) -> String {
        let fields: [String: String]
        do throws(WeChatXML.DecodingError) {
            fields = try WeChatXML.decode(callback.body)
        } catch {
            throw .malformed(error.reason)
        }
        if let reqInfo = fields["req_info"] {
            // A refund notification names its order only inside the encrypted req_info.
            let decrypted = try WeChatV2RefundCrypto.fields(reqInfo: reqInfo, apiKey: apiKey)
            guard let outTradeNo = decrypted["out_trade_no"], !outTradeNo.isEmpty else {
                throw .malformed("refund notification: field req_info.out_trade_no is missing")
            }
            return outTradeNo
        }
        guard let outTradeNo = fields["out_trade_no"], !outTradeNo.isEmpty else {
            throw .malformed("notification: field out_trade_no is missing")
        }
        return outTradeNo
    }

    public var acknowledgement: CallbackAcknowledgement { Self.acknowledgement }

    /// WeChat v2's exact answers: `SUCCESS`/`OK` once the notification is durable, `FAIL` to be called again.
    public static let acknowledgement = CallbackAcknowledgement(
        success: CallbackReply(
            status: 200, contentType: "text/xml; charset=utf-8",
            body: "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        ),
        failure: CallbackReply(
            status: 500, contentType: "text/xml; charset=utf-8",
            body: "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[ERROR]]></return_msg></xml>"
        )
    )

    // MARK: Transport

    func baseFields() -> [String: String] {
        ["appid": appID, "mch_id": mchID, "nonce_str": WeChatPay.nonce(), "sign_type": signType.rawValue]
    }

    /// Signs and posts `fields` to `path`, failing over to the backup host when the primary cannot
    /// be reached or does not answer in time, and returns the verified answer's fields.
    ///
    /// A `return_code` of `FAIL` (communication-level refusal, unsigned) becomes an error here.
    ///
    /// `identity` is the API client certificate for the `secapi` calls (mutual TLS). On an `http`
    /// base URL, which only the sandbox uses, no TLS exists: the call then names the certificate it
    /// would present by its SHA-256 fingerprint in ``sandboxClientCertificateHeader`` instead.
    func call(
        _ path: String, _ fields: [String: String], identity: TLSClientIdentity? = nil
    ) async throws(ChannelError) -> [String: String] {
        var signed = fields
        signed["sign"] = signType.sign(fields, key: apiKey)
        let body = Array(WeChatXML.encode(signed).utf8)
        return try await WeChatPay.withFailover(
            baseURLs, logger: logger, api: "v2", metadata: [LogKey.merchant: "\(merchant)", LogKey.path: "\(path)"]
        ) { base async throws(ChannelError) in
            var headers = [("Content-Type", "text/xml; charset=utf-8"), ("Accept", "text/xml")]
            if let identity, base.hasPrefix("http://") {
                headers.append((Self.sandboxClientCertificateHeader, identity.fingerprint))
            }
            let response = try await http.send(
                method: .POST, url: base + path, headers: headers, body: body,
                identity: base.hasPrefix("https://") ? identity : nil, logger: logger
            )
            return try decodeResponse(response, path: path)
        }
    }

    /// The header that stands for the client certificate on the sandbox's plain-HTTP `secapi` calls.
    static let sandboxClientCertificateHeader = "X-Sandbox-Client-Cert-SHA256"

    func decodeResponse(_ response: VendorHTTPResponse, path: String) throws(ChannelError) -> [String: String] {
        guard response.status == 200 else {
            if response.status >= 500 {
                throw ChannelError(.vendorUnavailable, "\(path) answered HTTP \(response.status)")
            }
            throw .badResponse("\(path) answered HTTP \(response.status)")
        }
        let fields: [String: String]
        do throws(WeChatXML.DecodingError) {
            fields = try WeChatXML.decode(response.body)
        } catch {
            throw .badResponse("\(path): \(error.reason)")
        }
        guard let returnCode = fields["return_code"] else { throw .badResponse("\(path): no return_code") }
        guard returnCode == "SUCCESS" else {
            let message = fields["return_msg"] ?? "FAIL"
            if message.contains("系统繁忙") || message.uppercased().contains("SYSTEMERROR") {
                throw ChannelError(.vendorUnavailable, "\(path): \(message)", vendorCode: "FAIL")
            }
            throw ChannelError(.vendorRejected, "\(path) refused: \(message)", vendorCode: "FAIL")
        }
        // Every answer with return_code SUCCESS is signed with the request's algorithm.
        guard fields["sign"] != nil else { throw .badResponse("\(path): answer is not signed") }
        guard signType.verify(fields, key: apiKey) else {
            throw ChannelError(.badResponse, "\(path): answer signature does not verify", vendorCode: "SIGN")
        }
        guard fields["appid"] == nil || fields["appid"] == appID, fields["mch_id"] == nil || fields["mch_id"] == mchID
        else {
            throw .badResponse("\(path): answer names another appid/mch_id")
        }
        return fields
    }

    enum BusinessResult {
        case success
        case failure(code: String, message: String)
    }

    func businessResult(_ fields: [String: String]) throws(ChannelError) -> BusinessResult {
        switch fields["result_code"] {
        case "SUCCESS": return .success
        case "FAIL":
            let code = fields["err_code"] ?? "FAIL"
            return .failure(code: code, message: fields["err_code_des"] ?? code)
        default: throw .badResponse("answer: field result_code is missing or not SUCCESS/FAIL")
        }
    }

    func expect(_ fields: [String: String], _ name: String, equals expected: String?) throws(ChannelError) {
        guard let expected, let value = fields[name] else { return }
        guard value == expected else { throw .badResponse("answer is about another \(name)") }
    }
}
