import Foundation
import Hummingbird
import NIOConcurrencyHelpers

/// The 乐收赢 server side under `/yfpay`: `/v3/minipay`, `/v3/queryorder`, `/v3/closeorder` and the
/// JSON payment callback. Answers carry `return_code` (communication), `result_code`
/// (`PAY_SUCCESS` / `PAY_IN_PROCESS` / `PAY_FAIL`) and a lowercase MD5 `sign` over every non-null
/// member (empty strings included) when `return_code` is SUCCESS.
///
/// Merchants: `settings.inst_no`, `settings.mch_no`, optional `settings.appid`, `secrets.inst_key`.
struct LeshouyingSimulator: AggregatorSimulator {
    static let channel = "leshouying"

    let context: SandboxContext
    let book = AggregatorOrderBook()
    let merchants: [String: SandboxMerchant]
    /// `query_trace_no` / `close_trace_no` already used (they must be fresh).
    let usedTraceNumbers = NIOLockedValueBox<Set<String>>([])

    init(context: SandboxContext) {
        self.context = context
        self.merchants = context.merchants(
            channel: Self.channel,
            keyedBy: { merchant in
                guard let inst = merchant.settings["inst_no"], let mch = merchant.settings["mch_no"] else { return nil }
                return inst + "/" + mch
            })
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/yfpay/v3/minipay") { request, _ in await minipay(try await SandboxWire.body(request)) }
        router.post("/yfpay/v3/queryorder") { request, _ in queryOrder(try await SandboxWire.body(request)) }
        router.post("/yfpay/v3/closeorder") { request, _ in closeOrder(try await SandboxWire.body(request)) }
    }

    static func failure(_ message: String) -> Response {
        SandboxWire.json(["return_code": "FAIL", "return_msg": message])
    }

    /// Members the minipay table does not mark 必含 (`shop_no`, `shop_name`, `attach`), and the
    /// query/close/callback members only a third-party list names; left out by some shapes.
    static let optionalMembers: Set<String> = [
        "shop_no", "shop_name", "attach", "query_trace_no", "close_trace_no", "close_time", "end_time", "inst_no",
        "trade_type",
    ]
    /// Members whose value is a number, sent as JSON numbers by some shapes.
    static let numericMembers: Set<String> = [
        "total_amount", "pay_type", "pay_time", "end_time", "inst_no", "timeStamp", "close_time",
    ]

    /// The signed JSON answer in the order's shape: optional members dropped, unknown members
    /// added, numbers as numbers, the digest in either hex case, all as the shape says.
    func signed(
        _ fields: [String: String], merchant: SandboxMerchant, forge: Bool = false, outTradeNo: String? = nil
    ) -> Response {
        SandboxWire.json(
            Self.shaped(
                fields, key: forge ? "forged-key" : (merchant.secrets["inst_key"] ?? ""), outTradeNo: outTradeNo))
    }

    static func shaped(
        _ fields: [String: String], key: String, outTradeNo: String?, keep: Set<String> = []
    ) -> [String: Any] {
        guard let outTradeNo else {
            var fields = fields
            fields["sign"] = SandboxMD5Rule.leshouying.sign(fields, key: key)
            return fields
        }
        let shape = SandboxAnswerShape(outTradeNo: outTradeNo)
        var shaped = shape.extended(shape.trimmed(fields, optional: optionalMembers.subtracting(keep)))
        let signature = SandboxMD5Rule.leshouying.sign(shaped, key: key)
        shaped["sign"] = shape.uppercaseDigest ? signature.uppercased() : signature
        return shape.json(shaped, numeric: numericMembers)
    }

    func authenticate(_ body: [UInt8], required: [String]) -> SandboxAuthentication {
        guard let fields = SandboxWire.jsonFields(body) else { return .rejected(Self.failure("请求报文格式错误")) }
        for name in ["inst_no", "mch_no", "sign"] + required {
            guard let value = fields[name], !value.isEmpty else { return .rejected(Self.failure("参数\(name)不能为空")) }
        }
        guard let merchant = merchants[(fields["inst_no"] ?? "") + "/" + (fields["mch_no"] ?? "")] else {
            return .rejected(Self.failure("机构号或商户号不存在"))
        }
        // The merchant may send its digest in either hex case (`sign_case`).
        guard SandboxMD5Rule.leshouying.matches(fields, key: merchant.secrets["inst_key"] ?? "", ignoringCase: true)
        else {
            return .rejected(Self.failure("签名错误"))
        }
        return .accepted(fields, merchant)
    }

    func minipay(_ body: [UInt8]) async -> Response {
        let checked: (fields: [String: String], merchant: SandboxMerchant)
        switch authenticate(body, required: ["pay_type", "pay_trace_no", "pay_time", "total_amount"]) {
        case .rejected(let response): return response
        case .accepted(let fields, let merchant): checked = (fields, merchant)
        }
        let request = checked.fields
        let payType = request["pay_type"] ?? ""
        guard payType == "300" || payType == "400" else { return Self.failure("pay_type不合法") }
        guard let fen = SandboxWire.fen(request["total_amount"] ?? "") else { return Self.failure("total_amount不合法") }
        guard SandboxWire.parseChinaTime(request["pay_time"] ?? "", "yyyyMMddHHmmss") != nil else {
            return Self.failure("pay_time格式错误")
        }
        // The parameter table says open_id, the request example openid: both are taken.
        let payer = request["open_id"].flatMap { $0.isEmpty ? nil : $0 } ?? request["openid"]
        guard !(payer ?? "").isEmpty || request["attach"] == "assPost" else { return Self.failure("open_id不能为空") }
        let scenario = SandboxScenario(amountFen: fen)
        if scenario == .vendorError { return Self.failure("系统繁忙，请稍后再试") }
        let traceNo = request["pay_trace_no"] ?? ""
        var base: [String: String] = [
            "return_code": "SUCCESS", "mch_no": request["mch_no"] ?? "", "mch_name": "乐收赢沙箱商户",
            "pay_type": payType, "pay_trace_no": traceNo, "pay_time": request["pay_time"] ?? "",
            "total_amount": request["total_amount"] ?? "",
        ]
        if let attach = request["attach"] { base["attach"] = attach }
        if scenario == .refused {
            base["return_msg"] = "商户交易权限已关闭"
            base["result_code"] = "PAY_FAIL"
            return signed(base, merchant: checked.merchant, outTradeNo: traceNo)
        }
        var order = AggregatorOrder(
            merchantID: request["mch_no"] ?? "", outTradeNo: traceNo, amountFen: fen, scenario: scenario,
            vendorOrderNo: SandboxWire.chinaTime(Date(), "yyyyMMddHHmmss") + SandboxWire.digits(15)
        )
        order.notifyURL = request["notify_url"]
        order.attach = request["attach"]
        order.extra["pay_time"] = request["pay_time"]
        order.extra["pay_type"] = payType
        order.extra["inst_no"] = request["inst_no"]
        guard book.insert(order) else { return Self.failure("订单号重复") }
        context.scheduleAutopay(scenario: scenario) { _ = try? await pay(channel: Self.channel, outTradeNo: traceNo) }
        if scenario == .timeout { try? await Task.sleep(for: context.configuration.slowAnswer) }
        if scenario == .garbage { return SandboxWire.text(SandboxWire.garbagePage) }
        base["trade_no"] = order.vendorOrderNo
        if scenario == .pending {
            base["return_msg"] = "支付中"
            base["result_code"] = "PAY_IN_PROCESS"
            return signed(base, merchant: checked.merchant, outTradeNo: traceNo)
        }
        base["return_msg"] = "下单成功"
        base["result_code"] = "PAY_IN_PROCESS"
        if request["attach"] == "assPost" {
            // Plug-in mode: "miniapp_data 小程序插件扩展参数,参数中【path】字段值使用固定值,如
            // /pages/cashier/cashier?p=XXX, XXX是乐收赢订单号"; no paySign, the plug-in pays.
            let data: [String: String] = [
                "appId": request["appid"] ?? checked.merchant.settings["appid"] ?? "wxsandbox00000000",
                "path": "/pages/cashier/cashier?p=" + order.vendorOrderNo,
            ]
            base["miniapp_data"] = SandboxJSON.string(data, fallback: "")
        } else if payType == "400" {
            // Milliseconds, as "部分系统" return them: the client must cut them to 10-digit seconds.
            base["timeStamp"] = String(Int64(Date().timeIntervalSince1970 * 1000))
            base["appId"] = request["appid"] ?? checked.merchant.settings["appid"] ?? "wxsandbox00000000"
            base["nonceStr"] = SandboxWire.hex32()
            base["packages"] = "prepay_id=wx" + SandboxWire.digits(26)
            base["signType"] = "MD5"
            base["paySign"] = SandboxWire.hex32().uppercased()
        } else {
            base["ali_trade_no"] = "2026" + SandboxWire.digits(24)
        }
        return signed(base, merchant: checked.merchant, forge: scenario == .badResponseSignature, outTradeNo: traceNo)
    }

    /// Finds the order named by `trade_no`, or by `pay_trace_no` + `pay_time`.
    func locate(_ fields: [String: String]) -> AggregatorOrder? {
        if let tradeNo = fields["trade_no"], !tradeNo.isEmpty {
            return book.first { $0.vendorOrderNo == tradeNo && $0.merchantID == fields["mch_no"] }
        }
        guard let order = book.get(fields["pay_trace_no"] ?? ""), order.extra["pay_time"] == fields["pay_time"],
            order.merchantID == fields["mch_no"]
        else { return nil }
        return order
    }

    func fresh(_ traceNo: String) -> Bool {
        usedTraceNumbers.withLockedValue { $0.insert(traceNo).inserted }
    }

    func queryOrder(_ body: [UInt8]) -> Response {
        let checked: (fields: [String: String], merchant: SandboxMerchant)
        switch authenticate(body, required: ["query_trace_no"]) {
        case .rejected(let response): return response
        case .accepted(let fields, let merchant): checked = (fields, merchant)
        }
        let request = checked.fields
        guard fresh("q:" + (request["query_trace_no"] ?? "")) else { return Self.failure("查询流水号重复") }
        guard let found = locate(request) else { return Self.failure("订单不存在") }
        guard
            var order = book.update(
                found.outTradeNo,
                { order -> AggregatorOrder in
                    order.queries += 1
                    return order
                })
        else { return Self.failure("订单不存在") }
        if order.scenario == .pending, order.queries >= 2, order.state == .notPaid {
            order = payNow(order.outTradeNo) ?? order
        }
        var answer: [String: String] = [
            "return_code": "SUCCESS", "mch_no": order.merchantID, "query_trace_no": request["query_trace_no"] ?? "",
            "pay_trace_no": order.outTradeNo, "pay_time": order.extra["pay_time"] ?? "",
            "total_amount": String(order.amountFen),
            "trade_no": order.vendorOrderNo, "pay_type": order.extra["pay_type"] ?? "",
        ]
        switch order.state {
        case .notPaid:
            answer["result_code"] = "PAY_IN_PROCESS"
            answer["return_msg"] = "支付中"
        case .paid:
            answer["result_code"] = "PAY_SUCCESS"
            answer["return_msg"] = "支付成功"
            answer["end_time"] = SandboxWire.chinaTime(order.paidAt ?? Date(), "yyyyMMddHHmmss")
        case .closed, .revoked:
            answer["result_code"] = "PAY_FAIL"
            answer["return_msg"] = "订单已关闭"
        }
        return signed(answer, merchant: checked.merchant, outTradeNo: order.outTradeNo)
    }

    func closeOrder(_ body: [UInt8]) -> Response {
        let checked: (fields: [String: String], merchant: SandboxMerchant)
        switch authenticate(body, required: ["close_trace_no", "close_time"]) {
        case .rejected(let response): return response
        case .accepted(let fields, let merchant): checked = (fields, merchant)
        }
        let request = checked.fields
        guard fresh("c:" + (request["close_trace_no"] ?? "")) else { return Self.failure("关单流水号重复") }
        guard let found = locate(request) else { return Self.failure("订单不存在") }
        let closed =
            book.update(found.outTradeNo) { order -> Bool in
                switch order.state {
                case .paid, .revoked: return false
                case .closed: return true
                case .notPaid:
                    order.state = .closed
                    return true
                }
            } ?? false
        var answer: [String: String] = [
            "return_code": "SUCCESS", "mch_no": found.merchantID, "trade_no": found.vendorOrderNo,
            "pay_trace_no": found.outTradeNo, "pay_time": found.extra["pay_time"] ?? "",
            "close_trace_no": request["close_trace_no"] ?? "", "close_time": request["close_time"] ?? "",
        ]
        answer["result_code"] = closed ? "PAY_SUCCESS" : "PAY_FAIL"
        answer["return_msg"] = closed ? "关闭成功" : "订单已支付，不能关闭"
        // The close page spells the success code PAY_SUCEESS; some shapes answer it that way.
        if closed, SandboxAnswerShape(outTradeNo: found.outTradeNo).numbersAsNumbers {
            answer["result_code"] = "PAY_SUCEESS"
        }
        return signed(answer, merchant: checked.merchant, outTradeNo: found.outTradeNo)
    }

    // MARK: Control

    func newTransactionID() -> String { "L" + SandboxWire.digits(20) }

    func sendCallbacks(_ order: AggregatorOrder) {
        guard let url = order.notifyURL, !url.isEmpty,
            let merchant = merchants[(order.extra["inst_no"] ?? "") + "/" + order.merchantID]
        else { return }
        let reported = order.scenario == .amountMismatch ? order.amountFen + 1 : order.amountFen
        var fields: [String: String] = [
            "return_code": "SUCCESS", "return_msg": "支付成功", "result_code": "PAY_SUCCESS",
            "inst_no": order.extra["inst_no"] ?? "", "mch_no": order.merchantID, "pay_trace_no": order.outTradeNo,
            "pay_time": order.extra["pay_time"] ?? "", "total_amount": String(reported),
            "trade_no": order.vendorOrderNo,
            "end_time": SandboxWire.chinaTime(order.paidAt ?? Date(), "yyyyMMddHHmmss"),
            "trade_type": order.extra["pay_type"] == "300" ? "ALIPAY_MINI" : "WECHAT_MINI",
        ]
        if let attach = order.attach { fields["attach"] = attach }
        let key = order.scenario == .forgedCallback ? "forged-key" : (merchant.secrets["inst_key"] ?? "")
        let shaped = Self.shaped(fields, key: key, outTradeNo: order.outTradeNo, keep: ["mch_no"])
        let body = SandboxJSON.data(shaped) ?? []
        dispatchCallback(
            order, url: url, contentType: "application/json;charset=UTF-8", body: body,
            retrySchedule: AggregatorRetrySchedules.leshouying, isAcknowledged: Self.isAcknowledged
        )
    }

    /// The acknowledgement is undocumented (the table could not be read): HTTP 200 with either the
    /// JSON `{"return_code":"SUCCESS",…}` a third-party integration sends or a plain `SUCCESS`.
    static func isAcknowledged(_ status: Int, _ body: String) -> Bool {
        guard status == 200 else { return false }
        let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if text == "SUCCESS" { return true }
        return SandboxWire.jsonFields(Array(text.utf8))?["return_code"] == "SUCCESS"
    }
}
