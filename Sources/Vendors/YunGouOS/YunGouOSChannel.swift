import Foundation
import Logging
import NIOHTTP1
import Observability
import Payments

/// The `yungouos` channel: YunGouOS WeChat Native pay (`nativePay`), order query
/// (`getPayOrderInfo`, throttled per order), `closeOrder`, and its payment callbacks.
///
/// Amounts are yuan strings at this vendor; they are converted exactly with ``Money/yuanString``
/// and ``Money/init(yuan:)``, and orders outside 0.01–999999 yuan are rejected before any call.
public struct YunGouOSChannel: MerchantAccountChannel {
    public let channel: ChannelID = .yungouos
    public let merchant: String
    public let policy: ChannelPolicy
    public var acknowledgement: CallbackAcknowledgement { YunGouOSCallback.acknowledgement }

    /// The smallest and largest amount YunGouOS accepts: 0.01 and 999999 yuan.
    public static let amountRange: ClosedRange<Money> = Money(fen: 1)...Money(fen: 99_999_900)

    let configuration: YunGouOSConfiguration
    let http: VendorHTTP
    let logger: Logger
    let throttle: QueryThrottle

    /// Builds the channel, validating the account's settings and secrets.
    public init(account: MerchantAccount, http: VendorHTTP, logger: Logger) throws(ChannelError) {
        try account.requireChannel(.yungouos)
        self.configuration = try YunGouOSConfiguration(account: account)
        self.merchant = account.alias
        self.http = http
        self.logger = logger
        self.throttle = QueryThrottle(interval: configuration.queryMinimumInterval)
        var policy = Self.defaultPolicy
        policy.minimumQueryInterval = configuration.queryMinimumInterval
        self.policy = policy
    }

    /// A complete account pointing at the sandbox, with obviously fake keys.
    public static func sandboxDemoAccount(alias: String, sandboxBaseURL: String) -> MerchantAccount {
        MerchantAccount(
            alias: alias,
            channel: .yungouos,
            settings: [
                "mch_id": "1600000001",
                "api_base_url": sandboxBaseURL,
                "qr_type": "1",
                "query_min_interval_seconds": "0",
            ],
            secrets: [
                "api_key": Secret("DEMO0YUNGOUOS0WXPAY0KEY000000000"),
                "alipay_key": Secret("DEMO0YUNGOUOS0ALIPAY0KEY0000000"),
            ]
        )
    }

    // MARK: Validation

    public func validate(_ order: PaymentOrder) throws(ChannelError) {
        guard Self.amountRange.contains(order.amount) else {
            throw .invalidRequest("yungouos amounts must be 0.01–999999 yuan, got \(order.amount.yuanString)")
        }
        let number = order.outTradeNo
        guard !number.isEmpty, number.utf8.count <= 64,
            number.unicodeScalars.allSatisfy({ $0.isASCII && !$0.properties.isWhitespace && $0.value > 0x20 })
        else { throw .invalidRequest("out_trade_no must be 1–64 printable ASCII characters") }
        guard !order.description.allSatisfy(\.isWhitespace) else {
            throw .invalidRequest("description (body) must not be blank: YunGouOS signs it")
        }
        _ = try qrType(order)
    }

    func qrType(_ order: PaymentOrder) throws(ChannelError) -> String {
        guard let option = order.options["qr_type"] else { return configuration.defaultQRType }
        let text = option.stringValue ?? option.integerValue.map(String.init)
        guard let text, text == "1" || text == "2" else { throw .invalidRequest("option qr_type must be 1 or 2") }
        return text
    }

    // MARK: Create

    public func create(_ order: PaymentOrder) async throws(ChannelError) -> CreateOutcome {
        try validate(order)
        let type = try qrType(order)
        var parameters: [String: String] = [
            "out_trade_no": order.outTradeNo,
            "total_fee": order.amount.yuanString,
            "mch_id": configuration.mchID,
            "body": order.description,
        ]
        parameters["sign"] = YunGouOSSigning.sign(parameters, api: .nativePay, key: configuration.apiKey)
        parameters["type"] = type
        parameters["notify_url"] = order.notifyURL
        if let appID = configuration.appID { parameters["app_id"] = appID }
        if let attach = order.attach, !attach.isEmpty { parameters["attach"] = attach }
        if let expiresAt = order.expiresAt {
            parameters["end_time"] = ChinaTime.format(expiresAt, "yyyy-MM-dd HH:mm:ss")
        }

        let memo = ["qr_type": type, "mch_id": configuration.mchID]
        let answer: YunGouOSAnswer
        do {
            answer = try await post("/api/pay/wxpay/nativePay", parameters)
        } catch  where error.code == .timeout {
            logger.debug("yungouos create outcome unknown", metadata: [LogKey.outTradeNo: "\(order.outTradeNo)"])
            return .pending(.unknownResult, memo: [:])
        }
        return try answer.createOutcome(qrType: type, memo: memo, logger: logger)
    }

    // MARK: Query

    public func query(_ reference: OrderReference) async throws(ChannelError) -> TradeStatus {
        let outTradeNo = reference.order.outTradeNo
        if let wait = throttle.claim(outTradeNo) {
            throw ChannelError(
                .rateLimited,
                "yungouos getPayOrderInfo for this order is limited to one call per \(configuration.queryMinimumInterval); retry in \(wait)"
            )
        }
        var parameters = ["out_trade_no": outTradeNo, "mch_id": configuration.mchID]
        parameters["sign"] = YunGouOSSigning.sign(parameters, api: .query, key: configuration.apiKey)
        let answer = try await get("/api/system/order/getPayOrderInfo", parameters)
        return try answer.tradeStatus(outTradeNo: outTradeNo, logger: logger)
    }

    // MARK: Close

    public func close(_ reference: OrderReference) async throws(ChannelError) -> CloseOutcome {
        var parameters = ["out_trade_no": reference.order.outTradeNo, "mch_id": configuration.mchID]
        parameters["sign"] = YunGouOSSigning.sign(parameters, api: .close, key: configuration.apiKey)
        let answer = try await post("/api/pay/wxpay/closeOrder", parameters)
        if let outcome = try answer.closeOutcome(logger: logger) { return outcome }
        // The answer did not say what happened: the query decides.
        if let outcome = CloseOutcome(settledBy: try await query(reference)) { return outcome }
        throw ChannelError(
            .vendorUnavailable,
            "yungouos closeOrder answered \"\(answer.message)\" and the order is still unpaid; close again later",
            vendorCode: answer.code)
    }

    // MARK: Callbacks

    public func verifyCallback(_ callback: RawCallback) async throws(CallbackError) -> VerifiedCallback {
        let configuration = self.configuration
        let verified = try YunGouOSCallback.verify(callback.body) { configuration.callbackKey(payChannel: $0) }
        guard verified.vendorMerchantID == configuration.mchID else {
            throw CallbackError(.wrongMerchant, "callback mchId does not match merchant \(merchant)")
        }
        return verified
    }

    public func callbackOrderKey(_ callback: RawCallback) throws(CallbackError) -> String {
        try YunGouOSCallback.orderKey(callback.body)
    }

    // MARK: Transport

    func post(_ path: String, _ parameters: [String: String]) async throws(ChannelError) -> YunGouOSAnswer {
        let body = FormEncoding.encode(parameters.sorted { $0.key < $1.key })
        let response = try await http.send(
            method: .POST,
            url: configuration.baseURL + path,
            headers: [
                ("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"), ("Accept", "application/json"),
            ],
            body: Array(body.utf8),
            logger: logger
        )
        return try Self.envelope(response, api: path)
    }

    func get(_ path: String, _ parameters: [String: String]) async throws(ChannelError) -> YunGouOSAnswer {
        let query = FormEncoding.encode(parameters.sorted { $0.key < $1.key })
        let response = try await http.send(
            method: .GET, url: configuration.baseURL + path + "?" + query, headers: [("Accept", "application/json")],
            logger: logger
        )
        return try Self.envelope(response, api: path)
    }

    static func envelope(_ response: VendorHTTPResponse, api: String) throws(ChannelError) -> YunGouOSAnswer {
        switch response.status {
        case 200..<300: break
        case 429: throw ChannelError(.rateLimited, "yungouos answered HTTP 429 to \(api)")
        case 500...: throw ChannelError(.vendorUnavailable, "yungouos answered HTTP \(response.status) to \(api)")
        default: throw .badResponse("yungouos answered HTTP \(response.status) to \(api)")
        }
        return try YunGouOSAnswer.decode(response.body, api: api)
    }
}
