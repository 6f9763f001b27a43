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
    /// `WxPay.orderRefund`: "上述必传参数签名".
    static let refundFields = ["out_trade_no", "mch_id", "money"]
    /// `WxPay.getRefundResult`.
    static let refundQueryFields = ["refund_no", "mch_id"]
    /// `PaySignUtil.checkRefundNotifySign`.
    static let refundNotifyFields = [
        "code", "refundNo", "orderNo", "outTradeNo", "payNo", "mchId", "payName", "refundMoney", "channel",
        "refundTime", "payRefundNo", "applyTime",
    ]
    /// How long YunGouOS takes to finish a refund it took (time-scaled), before its refund callback.
    static let refundDelay: Duration = .seconds(2)

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
        router.post("/api/pay/wxpay/refundOrder") { request, _ in
            refund(try await SandboxWire.body(request))
        }
        router.get("/api/pay/wxpay/getRefundResult") { request, _ in
            refundResult(request.uri.query ?? "")
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

    // MARK: Refunds

    /// `refundOrder`: asynchronous. The refund is taken (`refundStatus` 0) and finished after
    /// ``refundDelay``, then its refund callback is sent with the payment callback's retry schedule.
    func refund(_ body: [UInt8]) -> Response {
        let checked: (fields: [String: String], merchant: SandboxMerchant)
        switch authenticate(String(validating: body, as: UTF8.self).flatMap(SandboxWire.form), only: Self.refundFields)
        {
        case .rejected(let response): return response
        case .accepted(let fields, let merchant): checked = (fields, merchant)
        }
        let request = checked.fields
        guard let fen = SandboxWire.yuanToFen(request["money"] ?? ""), fen >= 1 else {
            return Self.failure("退款金额格式错误")
        }
        let outTradeNo = request["out_trade_no"] ?? ""
        let mchID = request["mch_id"] ?? ""
        let outRefundNo = request["out_trade_refund_no"].flatMap { $0.isEmpty ? nil : $0 }
        guard let order = book.get(outTradeNo), order.merchantID == mchID else { return Self.failure("订单不存在") }
        guard order.state == .paid else { return Self.failure("订单未支付，无法退款") }
        if let outRefundNo, let other = book.order(refund: outRefundNo, merchantID: mchID),
            other.outTradeNo != outTradeNo
        {
            return Self.failure("退款单号重复")
        }
        let scenario = SandboxRefundScenario(amountFen: fen)
        if scenario == .fails { return Self.failure("商户可用余额不足，退款失败") }
        enum Decision {
            case taken(SandboxRefund, new: Bool)
            case conflict
            case exceeds
        }
        let decision =
            book.update(outTradeNo) { order -> Decision in
                if let outRefundNo, let existing = order.refunds.first(where: { $0.outRefundNo == outRefundNo }) {
                    return existing.amountFen == fen ? .taken(existing, new: false) : .conflict
                }
                guard SandboxRefund.committed(order.refunds) + fen <= order.amountFen else { return .exceeds }
                var refund = SandboxRefund(
                    outRefundNo: outRefundNo ?? "", amountFen: fen, refundID: "R" + SandboxWire.digits(14),
                    scenario: scenario, state: .processing, fingerprint: "\(fen)")
                if scenario == .needsQuery {
                    refund.state = .succeeded
                    refund.refundedAt = Date()
                }
                order.refunds.append(refund)
                return .taken(refund, new: true)
            } ?? .conflict
        let refund: SandboxRefund
        switch decision {
        case .conflict: return Self.failure("退款单号重复")
        case .exceeds: return Self.failure("退款金额超过订单可退金额")
        case .taken(let taken, let new):
            refund = taken
            if new && scenario == .normal { finishRefundLater(outTradeNo: outTradeNo, refundID: taken.refundID) }
        }
        if refund.scenario == .needsQuery { return Self.failure("系统异常，请查询退款结果") }
        return Self.answer(
            shape: SandboxAnswerShape(outTradeNo: outTradeNo), msg: "退款申请成功",
            data: Self.refundObject(order: book.get(outTradeNo) ?? order, refund: refund))
    }

    /// The SDK's `RefundOrder` / `RefundSearch` members.
    static func refundObject(order: AggregatorOrder, refund: SandboxRefund) -> [String: Any] {
        var object: [String: Any] = [
            "refundNo": refund.refundID, "orderNo": order.vendorOrderNo, "outTradeNo": order.outTradeNo,
            "payNo": order.transactionID ?? "", "refundMoney": SandboxWire.yuan(refund.amountFen),
            "orderMoney": SandboxWire.yuan(order.amountFen), "refundMchId": order.merchantID,
            "refundPayName": "沙箱商户", "refundDesc": "", "refundStatus": refund.state == .succeeded ? 1 : 0,
            "refundTime": SandboxWire.chinaTime(refund.createdAt, "yyyy-MM-dd HH:mm:ss"),
        ]
        if !refund.outRefundNo.isEmpty { object["outTradeRefundNo"] = refund.outRefundNo }
        if let at = refund.refundedAt {
            object["apiRefundTime"] = SandboxWire.chinaTime(at, "yyyy-MM-dd HH:mm:ss")
            object["payRefundNo"] = "50" + refund.refundID.dropFirst()
        }
        return object
    }

    /// `getRefundResult` by YunGouOS's `refund_no` or the merchant's `out_trade_refund_no`.
    func refundResult(_ queryString: String) -> Response {
        let checked: (fields: [String: String], merchant: SandboxMerchant)
        switch authenticate(SandboxWire.form(queryString), only: Self.refundQueryFields) {
        case .rejected(let response): return response
        case .accepted(let fields, let merchant): checked = (fields, merchant)
        }
        let number = checked.fields["refund_no"] ?? ""
        let mchID = checked.fields["mch_id"] ?? ""
        guard
            let order = book.first(where: { order in
                order.merchantID == mchID
                    && order.refunds.contains {
                        $0.refundID == number || (!$0.outRefundNo.isEmpty && $0.outRefundNo == number)
                    }
            }),
            let refund = order.refunds.first(where: { $0.refundID == number || $0.outRefundNo == number })
        else { return Self.failure("退款单不存在") }
        book.update(order.outTradeNo) { order in
            for index in order.refunds.indices where order.refunds[index].refundID == refund.refundID {
                order.refunds[index].queries += 1
            }
        }
        return Self.answer(
            shape: SandboxAnswerShape(outTradeNo: order.outTradeNo), msg: "查询成功",
            data: Self.refundObject(order: order, refund: refund))
    }

    /// Marks the refund done after ``refundDelay`` and sends its callback.
    func finishRefundLater(outTradeNo: String, refundID: String) {
        let delay = context.configuration.scaled(Self.refundDelay)
        Task {
            try? await Task.sleep(for: delay)
            let done = book.update(outTradeNo) { order -> (AggregatorOrder, SandboxRefund)? in
                guard let index = order.refunds.firstIndex(where: { $0.refundID == refundID }),
                    order.refunds[index].state == .processing
                else { return nil }
                order.refunds[index].state = .succeeded
                order.refunds[index].refundedAt = Date()
                return (order, order.refunds[index])
            }
            if let (order, refund) = done ?? nil { sendRefundCallback(order, refund) }
        }
    }

    /// The refund callback: a form with `PaySignUtil.checkRefundNotifySign`'s twelve signed fields.
    func sendRefundCallback(_ order: AggregatorOrder, _ refund: SandboxRefund) {
        guard let url = order.notifyURL, !url.isEmpty, let merchant = merchants[order.merchantID] else { return }
        var fields: [String: String] = [
            "code": "1", "refundNo": refund.refundID, "orderNo": order.vendorOrderNo, "outTradeNo": order.outTradeNo,
            "payNo": order.transactionID ?? "", "mchId": order.merchantID, "payName": "沙箱商户",
            "refundMoney": SandboxWire.yuan(refund.amountFen), "channel": "wxpay",
            "refundTime": SandboxWire.chinaTime(refund.refundedAt ?? Date(), "yyyy-MM-dd HH:mm:ss"),
            "payRefundNo": "50" + refund.refundID.dropFirst(),
            "applyTime": SandboxWire.chinaTime(refund.createdAt, "yyyy-MM-dd HH:mm:ss"),
        ]
        fields["sign"] = SandboxMD5Rule.yungouos.sign(
            fields, only: Self.refundNotifyFields, key: merchant.secrets["api_key"] ?? "")
        context.dispatcher.dispatch(
            .init(
                channel: Self.channel, outTradeNo: order.outTradeNo, url: url,
                headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Array(SandboxWire.encodeForm(fields).utf8), retrySchedule: AggregatorRetrySchedules.yungouos,
                isAcknowledged: { status, body in
                    status == 200 && body.trimmingCharacters(in: .whitespacesAndNewlines) == "SUCCESS"
                }))
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
