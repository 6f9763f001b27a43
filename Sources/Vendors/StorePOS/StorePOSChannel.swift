import Foundation
import Logging
import NIOHTTP1
import Observability
import Payments

/// The `storepos` channel: 超赢 主扫预下单 v2 (`PreOrder_WECHAT` / `PreOrder_ALIPAY` /
/// `PreOrder_ECNY` on `/v2/UnifiedPay/Gateway`), `orderquery`, `cancel` as the close, and callbacks.
///
/// Per the vendor: a network error, a timeout or `trade_state=NEED_QUERY` makes the create
/// ``CreateOutcome/pending(_:memo:)``; the ``policy`` then asks for the first query after 5 s and
/// every 5 s up to `pending_query_limit_seconds` (60–180 s).
public struct StorePOSChannel: MerchantAccountChannel {
    /// The payment method, chosen by the `pay_type` option.
    public enum PayType: String, Sendable, CaseIterable {
        case wechat = "WECHAT"
        case alipay = "ALIPAY"
        case ecny = "ECNY"

        /// `wechat` / `alipay` / `ecny` (any case).
        public init?(option: String) {
            switch option.lowercased() {
            case "wechat": self = .wechat
            case "alipay": self = .alipay
            case "ecny": self = .ecny
            default: return nil
            }
        }

        /// The create method, e.g. `PreOrder_WECHAT`.
        public var preOrderMethod: String { "PreOrder_" + rawValue }
    }

    static let tradeTypes: Set<String> = ["NATIVE", "JSPAY", "APP"]

    public let channel: ChannelID = .storepos
    public let merchant: String
    public let policy: ChannelPolicy
    public var acknowledgement: CallbackAcknowledgement { StorePOSCallback.acknowledgement }

    let configuration: StorePOSConfiguration
    let http: VendorHTTP
    let logger: Logger

    /// Builds the channel, validating the account's settings and secrets.
    public init(account: MerchantAccount, http: VendorHTTP, logger: Logger) throws(ChannelError) {
        try account.requireChannel(.storepos)
        self.configuration = try StorePOSConfiguration(account: account)
        self.merchant = account.alias
        self.http = http
        self.logger = logger
        var policy = Self.defaultPolicy
        policy.pendingQueryLimit = configuration.pendingQueryLimit
        policy.closeMaximumAge = configuration.cancelWindow
        self.policy = policy
    }

    /// A complete account pointing at the sandbox (`<sandboxBaseURL>/v2/UnifiedPay/Gateway`), with an obviously fake key.
    public static func sandboxDemoAccount(alias: String, sandboxBaseURL: String) -> MerchantAccount {
        var base = sandboxBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        return MerchantAccount(
            alias: alias,
            channel: .storepos,
            settings: [
                "mch_id": "00000001",
                "agent_id": "13000000000000000",
                "pid": "payfleet",
                "version": "1.0",
                "gateway_url": base + "/v2/UnifiedPay/Gateway",
                "bill_url": base + "/v2/Open/DownloadBill",
                "default_pay_type": "wechat",
                "default_trade_type": "NATIVE",
                "pending_query_limit_seconds": "120",
            ],
            secrets: ["merchant_key": Secret("DEMO0STOREPOS0MERCHANT0KEY000000")]
        )
    }

    // MARK: Validation

    /// `out_trade_no`: 5–32 characters, letters and digits only (case-sensitive).
    public static func isValidOutTradeNo(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return (5...32).contains(bytes.count)
            && bytes.allSatisfy { byte in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            }
    }

    public func validate(_ order: PaymentOrder) throws(ChannelError) {
        guard Self.isValidOutTradeNo(order.outTradeNo) else {
            throw .invalidRequest("storepos out_trade_no must be 5–32 letters and digits")
        }
        guard order.amount.fen >= 1, order.amount.fen <= 9_999_999_999 else {
            throw .invalidRequest("storepos total_fee must be a positive number of fen")
        }
        guard !order.description.isEmpty else { throw .invalidRequest("storepos body (description) is required") }
        guard !order.notifyURL.contains("?") else {
            throw .invalidRequest("storepos notify_url must not carry query parameters")
        }
        _ = try businessParameters(order)
    }

    func payType(_ options: [String: JSONValue]) throws(ChannelError) -> PayType {
        guard let option = options["pay_type"] else { return configuration.defaultPayType }
        guard let text = option.stringValue, let payType = PayType(option: text) else {
            throw .invalidRequest("option pay_type must be wechat, alipay or ecny for storepos")
        }
        return payType
    }

    /// The pay type the create used (memo), else the order's option or the default.
    func payType(for reference: OrderReference) throws(ChannelError) -> PayType {
        if let remembered = reference.memo["paytype"], let payType = PayType(rawValue: remembered) { return payType }
        return try payType(reference.order.options)
    }

    func option(_ order: PaymentOrder, _ name: String) -> String? {
        guard let value = order.options[name] else { return nil }
        let text = value.stringValue ?? value.integerValue.map(String.init)
        return text.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The business parameters of a PreOrder, checked against the trade type's requirements.
    func businessParameters(_ order: PaymentOrder) throws(ChannelError) -> [String: String] {
        let payType = try payType(order.options)
        let tradeType = (option(order, "trade_type") ?? configuration.defaultTradeType).uppercased()
        guard Self.tradeTypes.contains(tradeType) else {
            throw .invalidRequest("option trade_type must be NATIVE, JSPAY or APP for storepos")
        }
        var parameters: [String: String] = [
            "method": payType.preOrderMethod,
            "mch_id": configuration.mchID,
            "body": order.description,
            "out_trade_no": order.outTradeNo,
            "total_fee": String(order.amount.fen),
            "trade_type": tradeType,
            "notify_url": order.notifyURL,
        ]
        switch tradeType {
        case "NATIVE":
            parameters["product_id"] = option(order, "product_id") ?? order.outTradeNo
        case "JSPAY":
            guard let buyer = option(order, "buyer_id") ?? option(order, "openid") else {
                throw .invalidRequest("storepos JSPAY needs option buyer_id (openid / Alipay user id)")
            }
            parameters["buyer_id"] = buyer
            if payType == .wechat {
                guard let subAppID = option(order, "sub_appid") ?? configuration.subAppID else {
                    throw .invalidRequest("storepos WeChat JSPAY needs sub_appid (option or setting)")
                }
                parameters["sub_appid"] = subAppID
                if let flag = option(order, "is_minipg") ?? configuration.isMiniProgram {
                    guard flag == "0" || flag == "1" else { throw .invalidRequest("option is_minipg must be 0 or 1") }
                    parameters["is_minipg"] = flag
                }
            }
        default:  // APP
            if payType == .wechat {
                guard let subAppID = option(order, "sub_appid") ?? configuration.subAppID else {
                    throw .invalidRequest("storepos WeChat APP pay needs sub_appid (option or setting)")
                }
                parameters["sub_appid"] = subAppID
            }
        }
        if let detail = order.options["goods_detail"] {
            parameters["goods_detail"] = try Self.goodsDetail(detail)
        }
        if let attach = order.attach, !attach.isEmpty { parameters["attach"] = attach }
        if let ip = order.clientIP, !ip.isEmpty { parameters["mch_create_ip"] = ip }
        if let expiresAt = order.expiresAt {
            // Alipay: "交易起始时间与交易结束时间需要同时传入才会生效", so both or neither.
            parameters["time_start"] = ChinaTime.format(order.createdAt, "yyyyMMddHHmmss")
            parameters["time_expire"] = ChinaTime.format(expiresAt, "yyyyMMddHHmmss")
        }
        return parameters
    }

    /// `goods_detail`: a JSON array of `{goods_id, quantity, price, goods_name?, pay_goods_id?}` with
    /// integer quantity and price (fen), sent as its compact JSON text.
    static func goodsDetail(_ value: JSONValue) throws(ChannelError) -> String {
        let array: [JSONValue]
        switch value {
        case .array(let items): array = items
        case .string(let text):
            guard let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
                let items = parsed.arrayValue
            else {
                throw .invalidRequest("option goods_detail is not a JSON array")
            }
            array = items
        default: throw .invalidRequest("option goods_detail must be a JSON array")
        }
        guard !array.isEmpty else { throw .invalidRequest("option goods_detail is empty") }
        for (index, item) in array.enumerated() {
            guard let object = item.objectValue, let id = object["goods_id"]?.stringValue, !id.isEmpty,
                let quantity = object["quantity"]?.integerValue, quantity > 0,
                let price = object["price"]?.integerValue, price >= 0
            else {
                throw .invalidRequest("goods_detail[\(index)] needs goods_id, integer quantity and integer price (fen)")
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(JSONValue.array(array)) else {
            throw .invalidRequest("goods_detail cannot be encoded")
        }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Create

    public func create(_ order: PaymentOrder) async throws(ChannelError) -> CreateOutcome {
        try validate(order)
        let parameters = try businessParameters(order)
        let payType = try payType(order.options)
        let memo = ["paytype": payType.rawValue, "trade_type": parameters["trade_type"] ?? ""]
        let answer: StorePOSAnswer
        do {
            answer = try await call(parameters)
        } catch  where error.code == .timeout || error.code == .unreachable || error.code == .vendorUnavailable {
            // "当出现网络异常、超时…商户系统等待5秒后调用订单查询"
            logger.debug(
                "storepos create outcome unknown",
                metadata: [
                    LogKey.outTradeNo: "\(order.outTradeNo)", LogKey.reason: "\(error.code.rawValue)",
                ])
            return .pending(.unknownResult, memo: memo)
        }
        return try answer.createOutcome(
            outTradeNo: order.outTradeNo, memo: memo, requireSign: configuration.requirePreOrderSign, logger: logger)
    }

    // MARK: Query

    public func query(_ reference: OrderReference) async throws(ChannelError) -> TradeStatus {
        let payType = try payType(for: reference)
        let answer = try await call([
            "method": "orderquery",
            "paytype": payType.rawValue,
            "mch_id": configuration.mchID,
            "out_trade_no": reference.order.outTradeNo,
        ])
        return try answer.tradeStatus(
            outTradeNo: reference.order.outTradeNo, requireSign: configuration.requireResponseSign)
    }

    // MARK: Close (cancel)

    /// Closes an unpaid order with `cancel` (交易撤销).
    ///
    /// `cancel` also *reverses* a paid order, so the order is queried first and a paid one is
    /// reported as ``CloseOutcome/alreadyPaid`` without cancelling. `cancel` only works on orders
    /// younger than `cancel_window_seconds` (read from "5分钟的订单才可以撤销"); an older unpaid
    /// order whose `time_expire` has passed is already dead at the vendor (``CloseOutcome/alreadyClosed``),
    /// one that has not expired yet is refused with `.vendorRejected`.
    public func close(_ reference: OrderReference) async throws(ChannelError) -> CloseOutcome {
        switch try await query(reference) {
        case .succeeded, .refunded: return .alreadyPaid
        case .closed: return .alreadyClosed
        case .notFound: return .notFound
        case .notPaid, .paying, .failed: break
        }
        let now = Date()
        let age = now.timeIntervalSince(reference.order.createdAt)
        let window = Double(configuration.cancelWindow.components.seconds)
        if age > window {
            if let expiresAt = reference.order.expiresAt, expiresAt <= now { return .alreadyClosed }
            throw ChannelError(
                .vendorRejected,
                "storepos cancels only orders younger than \(Int(window)) s; this one expires at its time_expire")
        }
        let answer = try await call([
            "method": "cancel",
            "paytype": try payType(for: reference).rawValue,
            "mch_id": configuration.mchID,
            "out_trade_no": reference.order.outTradeNo,
            "op_user_id": configuration.opUserID,
        ])
        if let outcome = try answer.cancelOutcome() { return outcome }
        // A code the cancel page does not explain: the query decides.
        if let outcome = CloseOutcome(settledBy: try await query(reference)) { return outcome }
        throw ChannelError(
            .vendorUnavailable,
            "storepos cancel answered code \(answer.code.prefix(8)) and the order is still unpaid; try again later",
            vendorCode: answer.code)
    }

    // MARK: Callbacks

    public func verifyCallback(_ callback: RawCallback) async throws(CallbackError) -> VerifiedCallback {
        let verified = try StorePOSCallback.verify(callback.body, key: configuration.callbackKey)
        if let merchantID = verified.vendorMerchantID, merchantID != configuration.mchID {
            throw CallbackError(.wrongMerchant, "callback mch_id does not match merchant \(merchant)")
        }
        return verified
    }

    public func callbackOrderKey(_ callback: RawCallback) throws(CallbackError) -> String {
        try StorePOSCallback.orderKey(callback.body)
    }

    // MARK: Transport

    /// Adds the public parameters, signs, posts the form and returns the JSON answer, its `sign`
    /// verified when present.
    func call(_ business: [String: String]) async throws(ChannelError) -> StorePOSAnswer {
        var parameters = business
        parameters["agent_id"] = configuration.agentID
        parameters["pid"] = configuration.pid
        parameters["version"] = configuration.version
        parameters["nonce_str"] = Hex.random128(uppercase: true)
        parameters["sign"] = StorePOSSigning.sign(parameters, key: configuration.merchantKey)
        let method = business["method"] ?? ""
        let response = try await http.send(
            method: .POST,
            url: configuration.gatewayURL,
            headers: [
                ("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"), ("Accept", "application/json"),
            ],
            body: Array(FormEncoding.encode(parameters.sorted { $0.key < $1.key }).utf8),
            logger: logger
        )
        switch response.status {
        case 200..<300: break
        case 429: throw ChannelError(.rateLimited, "storepos answered HTTP 429 to \(method)")
        case 500...: throw ChannelError(.vendorUnavailable, "storepos answered HTTP \(response.status) to \(method)")
        default: throw .badResponse("storepos answered HTTP \(response.status) to \(method)")
        }
        return try StorePOSAnswer.decode(response.body, method: method, key: configuration.merchantKey)
    }
}
