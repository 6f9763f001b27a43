import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The server side of WeChat Pay v2: `/pay/unifiedorder`, `/pay/orderquery`, `/pay/closeorder`
/// and the XML payment notification, for the `wechat-v2` merchants of the sandbox, and refunds
/// (`/secapi/pay/refund`, `/pay/refundquery`, the refund notification: `WeChatV2Simulator+Refund.swift`).
///
/// Requests are verified like WeChat does (XML, known `mch_id`/`appid`, `sign` with the
/// merchant's API key and the request's `sign_type`) and refused with WeChat's
/// `return_code=FAIL` shapes; answers are signed with the request's algorithm.
final class WeChatV2Simulator: LockedOrderSimulator {
    static let channel = "wechat-v2"
    let channels = [WeChatV2Simulator.channel]
    let context: SandboxContext

    struct Merchant: Sendable {
        var appID: String
        var mchID: String
        var key: String
        /// SHA-256 of the merchant's API client certificate (`apiclient_cert`), checked by `secapi` calls.
        var certificateFingerprint: String?
    }

    struct Order: Sendable {
        var mchID: String
        var appID: String
        var hmac: Bool
        var outTradeNo: String
        var totalFee: Int64
        var body: String
        var attach: String?
        var tradeType: String
        var openid: String?
        var notifyURL: String
        var prepayID: String
        var codeURL: String?
        var createdAt: ContinuousClock.Instant
        var state: String
        var scenario: SandboxScenario
        var transactionID: String?
        var timeEnd: String?
        var queries = 0
        var callbacksSent = 0
    }

    let merchants: [String: Merchant]
    let orders = NIOLockedValueBox<[String: Order]>([:])
    /// Refunds by `out_refund_no`.
    let refunds = NIOLockedValueBox<[String: Refund]>([:])

    init(context: SandboxContext) {
        self.context = context
        var merchants: [String: Merchant] = [:]
        for merchant in context.merchants(channel: Self.channel) {
            guard let mchID = merchant.settings["mch_id"], let appID = merchant.settings["appid"],
                let key = merchant.secrets["api_key"]
            else {
                context.logger.warning("sandbox wechat-v2 merchant without mch_id/appid/api_key ignored")
                continue
            }
            merchants[mchID] = Merchant(
                appID: appID, mchID: mchID, key: key,
                certificateFingerprint: merchant.secrets["apiclient_cert"].flatMap(WeChatSandbox.certificateFingerprint)
            )
        }
        self.merchants = merchants
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        for (path, operation) in [
            ("/pay/unifiedorder", Operation.unifiedOrder), ("/pay/orderquery", .orderQuery),
            ("/pay/closeorder", .closeOrder), ("/secapi/pay/refund", .refund), ("/pay/refundquery", .refundQuery),
        ] {
            router.post(RouterPath(path)) { [self] request, _ in
                var request = request
                let buffer = try await request.collectBody(upTo: 1 << 20)
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName] = field.value }
                return await self.handle(operation, body: Array(buffer.readableBytesView), headers: headers)
            }
        }
        addBillRoute(to: router)
    }

    enum Operation { case unifiedOrder, orderQuery, closeOrder, refund, refundQuery }

    // MARK: Request handling

    func handle(_ operation: Operation, body: [UInt8], headers: [String: String] = [:]) async -> Response {
        guard let fields = WeChatSandbox.parseXML(body) else { return communicationFailure("XML格式错误") }
        guard let mchID = fields["mch_id"], let merchant = merchants[mchID] else {
            return communicationFailure("mch_id参数格式错误")
        }
        guard fields["appid"] == merchant.appID else { return communicationFailure("appid和mch_id不匹配") }
        let hmac: Bool
        switch fields["sign_type"] ?? "MD5" {
        case "MD5": hmac = false
        case "HMAC-SHA256": hmac = true
        default: return communicationFailure("sign_type参数格式错误")
        }
        guard let sign = fields["sign"], !(fields["nonce_str"] ?? "").isEmpty else {
            return communicationFailure("缺少参数")
        }
        guard sign == WeChatSandbox.v2Sign(fields, key: merchant.key, hmac: hmac) else {
            return communicationFailure("签名错误")
        }
        switch operation {
        case .unifiedOrder: return await unifiedOrder(fields, merchant: merchant, hmac: hmac)
        case .orderQuery: return orderQuery(fields, merchant: merchant, hmac: hmac)
        case .closeOrder: return closeOrder(fields, merchant: merchant, hmac: hmac)
        case .refund:
            if let refusal = presentsClientCertificate(headers, merchant: merchant, hmac: hmac) { return refusal }
            return refund(fields, merchant: merchant, hmac: hmac)
        case .refundQuery: return refundQuery(fields, merchant: merchant, hmac: hmac)
        }
    }

    func unifiedOrder(_ fields: [String: String], merchant: Merchant, hmac: Bool) async -> Response {
        for name in ["body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"]
        where (fields[name] ?? "").isEmpty {
            return businessFailure("LACK_PARAMS", "缺少参数\(name)", merchant: merchant, hmac: hmac)
        }
        let outTradeNo = fields["out_trade_no"] ?? ""
        guard let totalFee = Int64(fields["total_fee"] ?? ""), totalFee > 0 else {
            return businessFailure("PARAM_ERROR", "total_fee参数错误", merchant: merchant, hmac: hmac)
        }
        let tradeType = fields["trade_type"] ?? ""
        switch tradeType {
        case "NATIVE":
            if (fields["product_id"] ?? "").isEmpty {
                return businessFailure(
                    "PARAM_ERROR", "trade_type=NATIVE时，product_id为必填参数", merchant: merchant, hmac: hmac)
            }
        case "JSAPI":
            if (fields["openid"] ?? "").isEmpty {
                return businessFailure("PARAM_ERROR", "trade_type=JSAPI时，openid为必填参数", merchant: merchant, hmac: hmac)
            }
        default:
            return businessFailure("PARAM_ERROR", "trade_type参数错误", merchant: merchant, hmac: hmac)
        }
        if let detail = fields["detail"], !detail.isEmpty, !Self.isValidDetail(detail) {
            return businessFailure("PARAM_ERROR", "detail参数格式错误", merchant: merchant, hmac: hmac)
        }
        let notifyURL = fields["notify_url"] ?? ""
        guard notifyURL.hasPrefix("http://") || notifyURL.hasPrefix("https://"), !notifyURL.contains("?") else {
            return businessFailure("PARAM_ERROR", "notify_url参数错误", merchant: merchant, hmac: hmac)
        }
        let scenario = SandboxScenario(amountFen: totalFee)
        let now = ContinuousClock.now

        enum Decision { case existing(Order), conflict(String, String), created(Order), refusedBeforeRecording }
        let decision: Decision = orders.withLockedValue { orders in
            if let existing = orders[outTradeNo] {
                if existing.state == "SUCCESS" { return .conflict("ORDERPAID", "该订单已支付") }
                if existing.state == "CLOSED" { return .conflict("ORDERCLOSED", "该订单已关闭") }
                if existing.mchID == merchant.mchID, existing.totalFee == totalFee, existing.body == fields["body"],
                    existing.tradeType == tradeType
                {
                    return .existing(existing)
                }
                return .conflict("OUT_TRADE_NO_USED", "商户订单号重复")
            }
            switch scenario {
            case .vendorError, .refused, .garbage: return .refusedBeforeRecording
            default: break
            }
            let prepayID =
                "wx" + WeChatSandbox.chinaTime(Date(), "ddHHmmss") + WeChatSandbox.random(26, from: "0123456789abcdef")
            let order = Order(
                mchID: merchant.mchID, appID: merchant.appID, hmac: hmac, outTradeNo: outTradeNo, totalFee: totalFee,
                body: fields["body"] ?? "", attach: fields["attach"], tradeType: tradeType, openid: fields["openid"],
                notifyURL: notifyURL, prepayID: prepayID,
                codeURL: tradeType == "NATIVE" ? "weixin://wxpay/bizpayurl?pr=" + WeChatSandbox.random(7) : nil,
                createdAt: now, state: scenario == .pending ? "USERPAYING" : "NOTPAY", scenario: scenario
            )
            orders[outTradeNo] = order
            return .created(order)
        }

        let order: Order
        switch decision {
        case .conflict(let code, let message):
            return businessFailure(code, message, merchant: merchant, hmac: hmac)
        case .refusedBeforeRecording:
            switch scenario {
            case .vendorError: return businessFailure("SYSTEMERROR", "系统超时", merchant: merchant, hmac: hmac)
            case .refused:
                return businessFailure("INVALID_REQUEST", "交易被拒绝（沙箱 refused 场景）", merchant: merchant, hmac: hmac)
            default:
                return WeChatSandbox.response(
                    status: .ok, contentType: "text/html",
                    body: Array("<html><body><h1>502 Bad Gateway</h1></body></html>".utf8))
            }
        case .existing(let existing):
            order = existing
        case .created(let created):
            order = created
            context.scheduleAutopay(scenario: scenario) { [self] in
                _ = try? await self.pay(channel: Self.channel, outTradeNo: outTradeNo)
            }
        }

        if scenario == .timeout {
            try? await Task.sleep(for: context.configuration.slowAnswer)
        }
        if scenario == .pending {
            return businessFailure("USERPAYING", "用户支付中，需要输入密码", merchant: merchant, hmac: hmac)
        }
        var reply = successFields(merchant: merchant)
        reply["result_code"] = "SUCCESS"
        reply["trade_type"] = order.tradeType
        reply["prepay_id"] = order.prepayID
        if let codeURL = order.codeURL { reply["code_url"] = codeURL }
        return signed(reply, merchant: merchant, hmac: hmac, corrupt: scenario == .badResponseSignature)
    }

    /// `detail` as 单品优惠 documents it: a JSON object whose `goods_detail` lists goods with a
    /// string `goods_id` and integer `quantity` and `price` (fen); `cost_price` and `receipt_id` optional.
    static func isValidDetail(_ text: String) -> Bool {
        guard let data = text.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let goods = object["goods_detail"] as? [[String: Any]], !goods.isEmpty
        else { return false }
        if let cost = object["cost_price"], !(cost is NSNumber) { return false }
        if let receipt = object["receipt_id"], !(receipt is String) { return false }
        return goods.allSatisfy { item in
            guard let id = item["goods_id"] as? String, !id.isEmpty,
                let quantity = item["quantity"] as? NSNumber, let price = item["price"] as? NSNumber
            else { return false }
            return quantity.int64Value > 0 && quantity.doubleValue == Double(quantity.int64Value)
                && price.int64Value >= 0 && price.doubleValue == Double(price.int64Value)
        }
    }

    func orderQuery(_ fields: [String: String], merchant: Merchant, hmac: Bool) -> Response {
        guard let outTradeNo = fields["out_trade_no"], !outTradeNo.isEmpty else {
            return businessFailure("LACK_PARAMS", "缺少参数out_trade_no", merchant: merchant, hmac: hmac)
        }
        let (found, becamePaid) = orders.withLockedValue { orders -> (Order?, Bool) in
            guard var order = orders[outTradeNo], order.mchID == merchant.mchID else { return (nil, false) }
            order.queries += 1
            var becamePaid = false
            if order.scenario == .pending, order.state == "USERPAYING", order.queries >= 2 {
                Self.markPaid(&order)
                becamePaid = true
            }
            orders[outTradeNo] = order
            return (order, becamePaid)
        }
        guard let order = found else {
            return businessFailure("ORDERNOTEXIST", "订单不存在", merchant: merchant, hmac: hmac)
        }
        if becamePaid { sendCallbacks(for: order) }
        var reply = successFields(merchant: merchant)
        reply["result_code"] = "SUCCESS"
        reply["out_trade_no"] = order.outTradeNo
        reply["trade_state"] = order.state
        reply["total_fee"] = String(order.totalFee)
        if order.state == "SUCCESS" || order.state == "REFUND" {
            reply["transaction_id"] = order.transactionID
            reply["time_end"] = order.timeEnd
            reply["openid"] = order.openid ?? "oSandboxPayer0000000000000000"
        }
        Self.addOptionalMembers(&reply, order: order, notification: false)
        return signed(reply, merchant: merchant, hmac: hmac, corrupt: false)
    }

    func closeOrder(_ fields: [String: String], merchant: Merchant, hmac: Bool) -> Response {
        guard let outTradeNo = fields["out_trade_no"], !outTradeNo.isEmpty else {
            return businessFailure("LACK_PARAMS", "缺少参数out_trade_no", merchant: merchant, hmac: hmac)
        }
        let minimumAge = context.configuration.scaled(WeChatSandbox.closeMinimumAge)
        let outcome: (String, String)? = orders.withLockedValue { orders in
            guard var order = orders[outTradeNo], order.mchID == merchant.mchID else {
                return ("ORDERNOTEXIST", "订单不存在")
            }
            switch order.state {
            case "SUCCESS", "REFUND": return ("ORDERPAID", "订单已支付，不能发起关单")
            case "CLOSED", "REVOKED": return ("ORDERCLOSED", "订单已关闭，无法重复关闭")
            default: break
            }
            if ContinuousClock.now - order.createdAt < minimumAge {
                return ("SYSTEMERROR", "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟")
            }
            order.state = "CLOSED"
            orders[outTradeNo] = order
            return nil
        }
        if let outcome { return businessFailure(outcome.0, outcome.1, merchant: merchant, hmac: hmac) }
        var reply = successFields(merchant: merchant)
        reply["result_code"] = "SUCCESS"
        return signed(reply, merchant: merchant, hmac: hmac, corrupt: false)
    }

    // MARK: Control

    static func payability(of order: Order) -> SandboxPayability {
        switch order.state {
        case "SUCCESS", "REFUND": .alreadyPaid
        case "CLOSED", "REVOKED": .closed
        default: .payable
        }
    }

    func view(_ order: Order) -> SandboxOrderView {
        SandboxOrderView(
            channel: Self.channel, outTradeNo: order.outTradeNo, amountFen: order.totalFee, state: order.state,
            scenario: order.scenario.rawValue, transactionID: order.transactionID, queries: order.queries,
            callbacksSent: order.callbacksSent
        )
    }

    static func markPaid(_ order: inout Order) {
        order.state = "SUCCESS"
        order.transactionID = WeChatSandbox.transactionID()
        order.timeEnd = WeChatSandbox.chinaTime(Date(), "yyyyMMddHHmmss")
    }

    /// The optional members of an `orderquery` answer or a notification, in one of the shapes WeChat
    /// documents, chosen by the order number (``WeChatSandbox/shape(of:)``). Members WeChat marks
    /// required (`openid`, `is_subscribe`, `trade_type`, `bank_type`, `total_fee`, `cash_fee`,
    /// `transaction_id`, `out_trade_no`, `time_end`) and `attach` (returned as sent) are always there;
    /// these vary: `trade_state_desc` and `cash_fee` in query answers (WeChat's own orderquery example
    /// has neither), `fee_type`, `device_info`, `cash_fee_type`, the coupon members (`coupon_count`,
    /// `coupon_fee`, `coupon_fee_0`, `coupon_id_0`, `coupon_type_0`, with `cash_fee` lowered by the
    /// coupon) and `settlement_total_fee`, plus members clients may not know (`sub_mch_id`,
    /// `promotion_detail`). `total_fee` never changes.
    static func addOptionalMembers(_ fields: inout [String: String], order: Order, notification: Bool) {
        let shape = WeChatSandbox.shape(of: order.outTradeNo)
        let paid = order.state == "SUCCESS" || order.state == "REFUND"
        if let attach = order.attach { fields["attach"] = attach }
        if !notification, shape & 0b1 == 0 {
            fields["trade_state_desc"] = WeChatSandbox.tradeStateDescription(order.state)
        }
        if shape & 0b10 == 0 { fields["fee_type"] = "CNY" }
        if shape & 0b1000 != 0 { fields["device_info"] = "WEB" }
        if paid || notification {
            fields["trade_type"] = order.tradeType
            fields["is_subscribe"] = "N"
            fields["bank_type"] = "OTHERS"
            var cash = order.totalFee
            if shape & 0b10_0000 != 0, order.totalFee > 1 {
                cash -= 1
                fields["coupon_count"] = "1"
                fields["coupon_fee"] = "1"
                fields["coupon_fee_0"] = "1"
                fields["coupon_id_0"] = "10000"
                fields["coupon_type_0"] = "CASH"
                fields["settlement_total_fee"] = String(order.totalFee)
            }
            if notification || shape & 0b100_0000 == 0 { fields["cash_fee"] = String(cash) }
            if shape & 0b100 != 0 { fields["cash_fee_type"] = "CNY" }
        }
        if shape & 0b1000_0000 != 0 {
            fields["sub_mch_id"] = order.mchID
            fields["promotion_detail"] = #"{"promotion_detail":[]}"#
        }
    }

    // MARK: Notifications

    /// Sends the payment notification(s) of a paid order as its scenario asks.
    func sendCallbacks(for order: Order) {
        guard let merchant = merchants[order.mchID] else { return }
        var fields: [String: String] = [
            "return_code": "SUCCESS", "appid": merchant.appID, "mch_id": merchant.mchID,
            "nonce_str": WeChatSandbox.random(32), "result_code": "SUCCESS",
            "openid": order.openid ?? "oSandboxPayer0000000000000000", "total_fee": String(order.totalFee),
            "transaction_id": order.transactionID ?? "", "out_trade_no": order.outTradeNo,
            "time_end": order.timeEnd ?? "",
        ]
        Self.addOptionalMembers(&fields, order: order, notification: true)
        let shape = WeChatSandbox.shape(of: order.outTradeNo)
        // `return_msg` and `sign_type` are optional in the notification: without `sign_type` the
        // algorithm is told by the length of `sign` (64 hex digits: HMAC-SHA256).
        if shape & 0b1_0000_0000 == 0 { fields["return_msg"] = "OK" }
        if shape & 0b10_0000_0000 == 0 { fields["sign_type"] = order.hmac ? "HMAC-SHA256" : "MD5" }
        var deliveries = 1
        switch order.scenario {
        case .amountMismatch:
            fields["total_fee"] = String(order.totalFee + 1)
            fields["cash_fee"] = String(order.totalFee + 1)
            fields["sign"] = WeChatSandbox.v2Sign(fields, key: merchant.key, hmac: order.hmac)
        case .forgedCallback:
            // Signed with a key that is not the merchant's: a forgery.
            fields["sign"] = WeChatSandbox.v2Sign(fields, key: "forgedforgedforgedforgedforged00", hmac: order.hmac)
        case .duplicateCallback:
            deliveries = 2
            fields["sign"] = WeChatSandbox.v2Sign(fields, key: merchant.key, hmac: order.hmac)
        default:
            fields["sign"] = WeChatSandbox.v2Sign(fields, key: merchant.key, hmac: order.hmac)
        }
        let body = Array(WeChatSandbox.xml(fields).utf8)
        for _ in 0..<deliveries {
            orders.withLockedValue { $0[order.outTradeNo]?.callbacksSent += 1 }
            context.dispatcher.dispatch(
                CallbackDispatcher.Delivery(
                    channel: Self.channel, outTradeNo: order.outTradeNo, url: order.notifyURL,
                    headers: [("Content-Type", "text/xml; charset=utf-8")], body: body,
                    retrySchedule: WeChatSandbox.retrySchedule,
                    isAcknowledged: { status, body in
                        status == 200 && WeChatSandbox.parseXML(Array(body.utf8))?["return_code"] == "SUCCESS"
                    }
                ))
        }
    }

    // MARK: Replies

    func successFields(merchant: Merchant) -> [String: String] {
        [
            "return_code": "SUCCESS", "return_msg": "OK", "appid": merchant.appID, "mch_id": merchant.mchID,
            "nonce_str": WeChatSandbox.random(16),
        ]
    }

    func signed(_ fields: [String: String], merchant: Merchant, hmac: Bool, corrupt: Bool) -> Response {
        var fields = fields
        var sign = WeChatSandbox.v2Sign(fields, key: merchant.key, hmac: hmac)
        if corrupt {
            // A signature over different content: what a tampering proxy would produce.
            sign = WeChatSandbox.v2Sign(fields.merging(["nonce_str": "tampered"]) { $1 }, key: merchant.key, hmac: hmac)
        }
        fields["sign"] = sign
        return WeChatSandbox.response(
            status: .ok, contentType: "text/xml; charset=utf-8", body: Array(WeChatSandbox.xml(fields).utf8))
    }

    func businessFailure(_ code: String, _ message: String, merchant: Merchant, hmac: Bool) -> Response {
        var reply = successFields(merchant: merchant)
        reply["result_code"] = "FAIL"
        reply["err_code"] = code
        reply["err_code_des"] = message
        return signed(reply, merchant: merchant, hmac: hmac, corrupt: false)
    }

    /// `return_code=FAIL`: WeChat refused the request itself (unsigned).
    func communicationFailure(_ message: String) -> Response {
        WeChatSandbox.response(
            status: .ok, contentType: "text/xml; charset=utf-8",
            body: Array(WeChatSandbox.xml(["return_code": "FAIL", "return_msg": message]).utf8)
        )
    }
}
