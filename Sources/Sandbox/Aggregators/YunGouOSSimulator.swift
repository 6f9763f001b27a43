import Foundation
import Hummingbird
import NIOConcurrencyHelpers

/// The YunGouOS server side: `nativePay`, `getPayOrderInfo` (rate limited per order), `closeOrder`
/// and the payment callback, with YunGouOS's `{code, msg, data}` answers (code 0 = success).
///
/// Merchants: `settings.mch_id`, `secrets.api_key` (the WeChat channel key) and optionally
/// `secrets.alipay_key`; `settings.sandbox_query_interval_seconds` (default: the client's
/// `query_min_interval_seconds`, else 10; time-scaled) is the simulated per-order "1qps/10s" limit.
struct YunGouOSSimulator: AggregatorSimulator {
    static let channel = "yungouos"
    static let nativePayFields = ["out_trade_no", "total_fee", "mch_id", "body"]
    static let orderFields = ["out_trade_no", "mch_id"]
    static let notifyFields = ["code", "orderNo", "outTradeNo", "payNo", "money", "mchId"]

    let context: SandboxContext
    let book = AggregatorOrderBook()
    let merchants: [String: SandboxMerchant]
    let lastQuery = RateLimitMemory()

    init(context: SandboxContext) {
        self.context = context
        self.merchants = context.merchants(channel: Self.channel, keyedBy: { $0.settings["mch_id"] })
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/api/pay/wxpay/nativePay") { request, _ in
            await nativePay(try await SandboxWire.body(request))
        }
        router.get("/api/system/order/getPayOrderInfo") { request, _ in
            query(request.uri.query ?? "")
        }
        router.post("/api/pay/wxpay/closeOrder") { request, _ in
            close(try await SandboxWire.body(request))
        }
        addBillRoutes(to: router)
    }

    static func failure(_ message: String) -> Response {
        SandboxWire.json(["code": 1, "msg": message, "data": NSNull()])
    }

    /// Decodes a form and checks merchant and signature over `only`.
    func authenticate(_ fields: [String: String]?, only: [String]) -> SandboxAuthentication {
        guard let fields else { return .rejected(Self.failure("参数格式错误")) }
        for name in only + ["sign"] {
            guard let value = fields[name], !value.isEmpty else { return .rejected(Self.failure("缺少参数：\(name)")) }
        }
        guard let merchant = merchants[fields["mch_id"] ?? ""] else { return .rejected(Self.failure("商户号不存在")) }
        guard SandboxMD5Rule.yungouos.matches(fields, only: only, key: merchant.secrets["api_key"] ?? "") else {
            return .rejected(Self.failure("签名错误"))
        }
        return .accepted(fields, merchant)
    }

    func nativePay(_ body: [UInt8]) async -> Response {
        let fields = String(validating: body, as: UTF8.self).flatMap(SandboxWire.form)
        let checked: (fields: [String: String], merchant: SandboxMerchant)
        switch authenticate(fields, only: Self.nativePayFields) {
        case .rejected(let response): return response
        case .accepted(let fields, let merchant): checked = (fields, merchant)
        }
        let request = checked.fields
        guard let fen = SandboxWire.yuanToFen(request["total_fee"] ?? ""), fen >= 1, fen <= 99_999_900 else {
            return Self.failure("金额格式错误，范围0.01~999999元")
        }
        let type = request["type"] ?? "1"
        guard type == "1" || type == "2" else { return Self.failure("type参数错误") }
        let scenario = SandboxScenario(amountFen: fen)
        switch scenario {
        case .vendorError: return SandboxWire.text("<html><body>502 Bad Gateway</body></html>", status: .badGateway)
        case .refused: return Self.failure("商户状态异常，暂停交易")
        default: break
        }
        let outTradeNo = request["out_trade_no"] ?? ""
        var order = AggregatorOrder(
            merchantID: request["mch_id"] ?? "", outTradeNo: outTradeNo, amountFen: fen, scenario: scenario,
            vendorOrderNo: "Y" + SandboxWire.digits(19)
        )
        order.notifyURL = request["notify_url"]
        order.attach = request["attach"]
        order.extra["body"] = request["body"]
        guard book.insert(order) else { return Self.failure("订单号重复") }
        context.scheduleAutopay(scenario: scenario) {
            _ = try? await pay(channel: Self.channel, outTradeNo: outTradeNo)
        }
        if scenario == .timeout { try? await Task.sleep(for: context.configuration.slowAnswer) }
        if scenario == .garbage { return SandboxWire.text(SandboxWire.garbagePage) }
        // YunGouOS answers are not signed, so `badResponseSignature` has nothing to break here.
        let data =
            type == "1"
            ? "weixin://wxpay/bizpayurl?pr=" + SandboxWire.hex32().prefix(7)
            : "https://sandbox.payfleet.invalid/yungouos/native/code/\(order.vendorOrderNo).png"
        return Self.answer(shape: SandboxAnswerShape(outTradeNo: outTradeNo), msg: "微信下单成功，请扫码支付", data: data)
    }

    /// A success `{code: 0, msg, data}` in the order's shape: `code` a number or a string, unknown members added.
    static func answer(shape: SandboxAnswerShape, msg: String?, data: Any?) -> Response {
        var envelope = shape.json(shape.extended(["code": "0"]), numeric: ["code"])
        if let msg { envelope["msg"] = msg }
        if let data { envelope["data"] = data }
        return SandboxWire.json(envelope)
    }

    func query(_ queryString: String) -> Response {
        let checked: (fields: [String: String], merchant: SandboxMerchant)
        switch authenticate(SandboxWire.form(queryString), only: Self.orderFields) {
        case .rejected(let response): return response
        case .accepted(let fields, let merchant): checked = (fields, merchant)
        }
        let outTradeNo = checked.fields["out_trade_no"] ?? ""
        let configured =
            checked.merchant.settings["sandbox_query_interval_seconds"]
            ?? checked.merchant.settings["query_min_interval_seconds"] ?? "10"
        let interval = context.configuration.scaled(.seconds(Int(configured) ?? 10))
        guard lastQuery.claim(outTradeNo, interval: interval) else { return Self.failure("请求过于频繁，请稍后再试") }
        guard
            let queried = book.update(
                outTradeNo,
                { order -> AggregatorOrder in
                    order.queries += 1
                    return order
                }), queried.merchantID == checked.fields["mch_id"]
        else { return Self.failure("订单不存在") }
        var order = queried
        if order.scenario == .pending, order.queries >= 2, order.state == .notPaid {
            order = payNow(outTradeNo) ?? order
        }
        // The members of the SDK's PayOrder; `payStatus` is an int there, sent as a number or a string.
        let shape = SandboxAnswerShape(outTradeNo: outTradeNo)
        var fields: [String: String] = [
            "orderNo": order.vendorOrderNo, "outTradeNo": order.outTradeNo, "money": SandboxWire.yuan(order.amountFen),
            "body": order.extra["body"] ?? "", "mchid": order.merchantID, "payChannel": "wxpay", "payType": "NATIVE",
            "attach": order.attach ?? "", "payStatus": order.state == .paid ? "1" : "0",
            "addTime": SandboxWire.chinaTime(order.createdAt, "yyyy-MM-dd HH:mm:ss"),
            "payNo": order.transactionID ?? "",
        ]
        fields = shape.extended(
            shape.trimmed(
                fields,
                optional: ["body", "mchid", "payChannel", "payType", "attach", "addTime", "payNo", "outTradeNo"]))
        var data = shape.json(fields, numeric: ["payStatus"])
        if shape.omitsOptional, order.state != .paid { data["payNo"] = NSNull() }
        return Self.answer(shape: shape, msg: "查询成功", data: data)
    }

    func close(_ body: [UInt8]) -> Response {
        let checked: (fields: [String: String], merchant: SandboxMerchant)
        switch authenticate(String(validating: body, as: UTF8.self).flatMap(SandboxWire.form), only: Self.orderFields) {
        case .rejected(let response): return response
        case .accepted(let fields, let merchant): checked = (fields, merchant)
        }
        let outTradeNo = checked.fields["out_trade_no"] ?? ""
        let outcome = book.update(outTradeNo) { order -> String? in
            guard order.merchantID == checked.fields["mch_id"] else { return "订单不存在" }
            switch order.state {
            case .paid, .revoked: return "订单已支付，无法关闭"
            case .closed: return nil
            case .notPaid:
                order.state = .closed
                return nil
            }
        }
        switch outcome {
        case .none: return Self.failure("订单不存在")
        case .some(.some(let refusal)): return Self.failure(refusal)
        case .some(.none):
            let shape = SandboxAnswerShape(outTradeNo: outTradeNo)
            return Self.answer(
                shape: shape, msg: shape.omitsOptional ? nil : "关闭成功", data: shape.omitsOptional ? nil : outTradeNo)
        }
    }

    // MARK: Control

    func newTransactionID() -> String { "4200" + SandboxWire.digits(24) }

    func sendCallbacks(_ order: AggregatorOrder) {
        guard let url = order.notifyURL, !url.isEmpty, let merchant = merchants[order.merchantID] else { return }
        let reported = order.scenario == .amountMismatch ? order.amountFen + 1 : order.amountFen
        var fields: [String: String] = [
            "code": "1", "orderNo": order.vendorOrderNo, "outTradeNo": order.outTradeNo,
            "payNo": order.transactionID ?? "",
            "money": SandboxWire.yuan(reported), "mchId": order.merchantID, "payChannel": "wxpay",
            "time": SandboxWire.chinaTime(order.paidAt ?? Date(), "yyyy-MM-dd HH:mm:ss"),
            "attach": order.attach ?? "", "openId": "oSandboxPayer000000000000000",
        ]
        // Optional, unsigned members come and go; unknown members appear (PaySign.php signs only the six).
        let shape = SandboxAnswerShape(outTradeNo: order.outTradeNo)
        fields = shape.extended(shape.trimmed(fields, optional: ["payChannel", "time", "attach", "openId"]))
        fields["sign"] = SandboxMD5Rule.yungouos.sign(
            fields, only: Self.notifyFields, key: merchant.secrets["api_key"] ?? "")
        if order.scenario == .forgedCallback {
            fields["sign"] = SandboxMD5Rule.yungouos.sign(fields, only: Self.notifyFields, key: "forged-key")
        }
        dispatchCallback(
            order, url: url, contentType: "application/x-www-form-urlencoded",
            body: Array(SandboxWire.encodeForm(fields).utf8), retrySchedule: AggregatorRetrySchedules.yungouos,
            isAcknowledged: { status, body in
                status == 200 && body.trimmingCharacters(in: .whitespacesAndNewlines) == "SUCCESS"
            }
        )
    }
}
