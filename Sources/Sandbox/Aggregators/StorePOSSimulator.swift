import Foundation
import Hummingbird

/// The storepos (超赢) v2 gateway `POST /v2/UnifiedPay/Gateway`: `PreOrder_WECHAT` /
/// `PreOrder_ALIPAY` / `PreOrder_ECNY`, `orderquery` and `cancel`, answering JSON with
/// `state` / `code` / `msg` / `trade_state` and an uppercase MD5 `sign` (keys sorted ignoring case)
/// on business successes; callbacks are forms answered with plain `success`.
///
/// Merchants: `settings.mch_id`, `secrets.merchant_key`; `settings.callback_key: agent` signs
/// callbacks with `secrets.agent_key` instead. `cancel` works for orders younger than 5 minutes
/// (time-scaled).
struct StorePOSSimulator: AggregatorSimulator {
    static let channel = "storepos"
    static let cancelWindow: Duration = .seconds(300)

    let context: SandboxContext
    let book = AggregatorOrderBook()
    let merchants: [String: SandboxMerchant]

    init(context: SandboxContext) {
        self.context = context
        self.merchants = context.merchants(channel: Self.channel, keyedBy: { $0.settings["mch_id"] })
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v2/UnifiedPay/Gateway") { request, _ in await gateway(try await SandboxWire.body(request)) }
        addBillRoutes(to: router)
    }

    static func failure(_ code: String, _ message: String, state: String = "FAIL") -> Response {
        SandboxWire.json(["state": state, "code": code, "msg": message])
    }

    /// Answer members the tables mark optional (`否`), left out by some shapes.
    static let optionalMembers: Set<String> = [
        "msg", "trade_state", "fee_type", "attach", "out_transaction_id", "token_id", "appid", "sub_openid",
        "coupon_fee", "wx_mch_id", "wx_sub_mch_id",
    ]
    /// Notification members the 通知参数 tables mark optional (`否`).
    static let optionalNotifyMembers: Set<String> = [
        "device_info", "out_transaction_id", "fee_type", "coupon_fee", "invoice_amount", "bank_type", "sub_appid",
        "sub_openid", "buyer_logon_id", "fund_bill_list", "promotion_detail", "wx_mch_id", "wx_sub_mch_id",
        "gmt_create", "attach",
    ]
    /// Members whose value is a number, sent as JSON numbers by some shapes (the samples quote them).
    static let numericMembers: Set<String> = ["code", "total_fee", "base_fee", "coupon_fee", "time_end"]

    /// A signed answer in the order's shape (optional members dropped, unknown members added,
    /// numbers as numbers, as the shape says).
    func signed(_ fields: [String: String], merchant: SandboxMerchant, forge: Bool = false) -> Response {
        let shape = SandboxAnswerShape(outTradeNo: fields["out_trade_no"] ?? "")
        var fields = shape.extended(shape.trimmed(fields, optional: Self.optionalMembers))
        fields["nonce_str"] = SandboxWire.hex32()
        fields["sign"] = SandboxMD5Rule.storepos.sign(
            fields, key: forge ? "forged-key" : (merchant.secrets["merchant_key"] ?? ""))
        return SandboxWire.json(shape.json(fields, numeric: Self.numericMembers))
    }

    func gateway(_ body: [UInt8]) async -> Response {
        guard let request = String(validating: body, as: UTF8.self).flatMap(SandboxWire.form), !request.isEmpty else {
            return Self.failure("20004", "参数格式错误")
        }
        for name in ["method", "agent_id", "pid", "version", "mch_id", "sign"] {
            guard let value = request[name], !value.isEmpty else { return Self.failure("20004", "缺少参数\(name)") }
        }
        guard let merchant = merchants[request["mch_id"] ?? ""] else { return Self.failure("20005", "商户不存在") }
        guard SandboxMD5Rule.storepos.matches(request, key: merchant.secrets["merchant_key"] ?? "") else {
            return Self.failure("20002", "签名错误")
        }
        switch request["method"] ?? "" {
        case "PreOrder_WECHAT": return await preOrder(request, payType: "WECHAT", merchant: merchant)
        case "PreOrder_ALIPAY": return await preOrder(request, payType: "ALIPAY", merchant: merchant)
        case "PreOrder_ECNY": return await preOrder(request, payType: "ECNY", merchant: merchant)
        case "orderquery": return query(request, merchant: merchant)
        case "cancel": return cancel(request, merchant: merchant)
        case "refund": return refund(request, merchant: merchant)
        case "refundquery": return refundQuery(request, merchant: merchant)
        default: return Self.failure("20004", "不支持的接口")
        }
    }

    static func validOutTradeNo(_ text: String) -> Bool {
        (5...32).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
    }

    func preOrder(_ request: [String: String], payType: String, merchant: SandboxMerchant) async -> Response {
        let outTradeNo = request["out_trade_no"] ?? ""
        guard Self.validOutTradeNo(outTradeNo) else { return Self.failure("20004", "out_trade_no格式错误") }
        guard let fen = SandboxWire.fen(request["total_fee"] ?? "") else {
            return Self.failure("20004", "total_fee格式错误")
        }
        guard !(request["body"] ?? "").isEmpty else { return Self.failure("20004", "缺少参数body") }
        let tradeType = request["trade_type"] ?? ""
        switch tradeType {
        case "NATIVE":
            guard !(request["product_id"] ?? "").isEmpty else { return Self.failure("20004", "NATIVE支付product_id必传") }
        case "JSPAY":
            guard !(request["buyer_id"] ?? "").isEmpty else { return Self.failure("20004", "JSPAY支付buyer_id必传") }
            if payType == "WECHAT", (request["sub_appid"] ?? "").isEmpty {
                return Self.failure("20004", "JSPAY支付sub_appid必传")
            }
        case "APP", "APP_BANK":
            if payType == "WECHAT", (request["sub_appid"] ?? "").isEmpty {
                return Self.failure("20004", "APP支付sub_appid必传")
            }
        default:
            return Self.failure("20004", "trade_type不合法")
        }
        if let url = request["notify_url"], url.contains("?") { return Self.failure("20004", "notify_url不能携带参数") }
        let start = request["time_start"].flatMap { SandboxWire.parseChinaTime($0, "yyyyMMddHHmmss") }
        let expire = request["time_expire"].flatMap { SandboxWire.parseChinaTime($0, "yyyyMMddHHmmss") }
        if (request["time_start"] != nil) != (start != nil) || (request["time_expire"] != nil) != (expire != nil) {
            return Self.failure("20004", "时间格式错误")
        }
        if let detail = request["goods_detail"] {
            guard let items = try? JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [[String: Any]],
                !items.isEmpty,
                items.allSatisfy({ $0["goods_id"] is String && $0["quantity"] is NSNumber && $0["price"] is NSNumber })
            else { return Self.failure("20004", "goods_detail格式错误") }
        }
        let scenario = SandboxScenario(amountFen: fen)
        switch scenario {
        case .vendorError: return Self.failure("20006", "系统错误")
        case .refused:
            return SandboxWire.json(["state": "SUCCESS", "code": "10006", "trade_state": "FAIL", "msg": "商户未开通该支付方式"])
        default: break
        }
        var order = AggregatorOrder(
            merchantID: request["mch_id"] ?? "", outTradeNo: outTradeNo, amountFen: fen, scenario: scenario,
            vendorOrderNo: "1995" + SandboxWire.digits(26)
        )
        order.notifyURL = request["notify_url"]
        order.attach = request["attach"]
        order.extra = ["paytype": payType, "trade_type": tradeType, "sub_appid": request["sub_appid"] ?? ""]
        if let expire { order.extra["time_expire"] = String(expire.timeIntervalSince1970) }
        guard book.insert(order) else {
            return SandboxWire.json(["state": "SUCCESS", "code": "20004", "trade_state": "FAIL", "msg": "订单号重复"])
        }
        context.scheduleAutopay(scenario: scenario) {
            _ = try? await pay(channel: Self.channel, outTradeNo: outTradeNo)
        }
        if scenario == .timeout { try? await Task.sleep(for: context.configuration.slowAnswer) }
        if scenario == .garbage { return SandboxWire.text(SandboxWire.garbagePage) }
        if scenario == .pending {
            return SandboxWire.json(["state": "SUCCESS", "code": "10001", "trade_state": "NEED_QUERY", "msg": "需要查询"])
        }
        var answer: [String: String] = [
            "state": "SUCCESS", "code": "10000", "trade_state": "SUCCESS", "msg": "SUCCESS",
            "mch_id": order.merchantID, "out_trade_no": outTradeNo,
        ]
        let token = SandboxWire.hex32()
        switch (tradeType, payType) {
        case ("JSPAY", "WECHAT"):
            let info: [String: String] = [
                "appId": request["sub_appid"] ?? "", "timeStamp": String(Int(Date().timeIntervalSince1970)),
                "status": "0",
                "signType": "MD5", "package": "prepay_id=wx" + SandboxWire.digits(26), "callback_url": "",
                "nonceStr": SandboxWire.hex32(), "paySign": SandboxWire.hex32().uppercased(),
            ]
            answer["pay_info"] = SandboxJSON.string(info, fallback: "")
            answer["token_id"] = token
            answer["appid"] = request["sub_appid"] ?? ""
            answer["sub_openid"] = request["buyer_id"] ?? ""
        case ("JSPAY", _):
            answer["pay_info"] = #"{"tradeNO":"2026"# + SandboxWire.digits(24) + #""}"#
            answer["pay_url"] = "https://pay.storepos.cn/pay/jspay?token=" + token
        default:
            let codeURL: String
            switch payType {
            case "WECHAT": codeURL = "weixin://wxpay/bizpayurl?pr=" + SandboxWire.hex32().prefix(7)
            case "ALIPAY": codeURL = "https://qr.alipay.com/bax0" + SandboxWire.hex32().prefix(20)
            default: codeURL = "https://qr.pbcdci.cn/00404311" + SandboxWire.digits(31)
            }
            answer["code_url"] = codeURL
            answer["code_img_url"] = "https://pay.storepos.cn/pay/qrcode?uuid=" + SandboxWire.percentEncoded(codeURL)
        }
        return signed(answer, merchant: merchant, forge: scenario == .badResponseSignature)
    }

    /// An unpaid order past its `time_expire` is closed by the vendor.
    func expireIfDue(_ outTradeNo: String) {
        book.update(outTradeNo) { order in
            if order.state == .notPaid, let text = order.extra["time_expire"], let expire = Double(text),
                Date().timeIntervalSince1970 > expire
            {
                order.state = .closed
            }
        }
    }

    func query(_ request: [String: String], merchant: SandboxMerchant) -> Response {
        guard let outTradeNo = request["out_trade_no"], !outTradeNo.isEmpty else {
            return Self.failure("20004", "缺少参数out_trade_no")
        }
        guard !(request["paytype"] ?? "").isEmpty else { return Self.failure("20004", "缺少参数paytype") }
        expireIfDue(outTradeNo)
        guard let found = book.get(outTradeNo), found.merchantID == request["mch_id"],
            found.extra["paytype"] == request["paytype"]
        else {
            return Self.failure("20007", "订单不存在")
        }
        var order =
            book.update(outTradeNo) { order -> AggregatorOrder in
                order.queries += 1
                return order
            } ?? found
        if order.scenario == .pending, order.queries >= 2, order.state == .notPaid {
            order = payNow(outTradeNo) ?? order
        }
        var answer: [String: String] = [
            "state": "SUCCESS", "mch_id": order.merchantID, "out_trade_no": outTradeNo,
            "paytype": order.extra["paytype"] ?? "",
            "total_fee": String(order.amountFen), "base_fee": String(order.amountFen), "coupon_fee": "0",
            "fee_type": "CNY",
            "trade_type": Self.notifyTradeType(order),
        ]
        if let attach = order.attach { answer["attach"] = attach }
        switch order.state {
        case .notPaid:
            (answer["code"], answer["trade_state"], answer["msg"]) = ("10003", "NEED_QUERY", "未支付")
        case .paid where SandboxRefund.refunded(order.refunds) > 0:
            (answer["code"], answer["trade_state"], answer["msg"]) = ("10002", "REFUND", "转入退款")
        case .paid:
            (answer["code"], answer["trade_state"], answer["msg"]) = ("10000", "SUCCESS", "支付成功")
        case .closed:
            (answer["code"], answer["trade_state"], answer["msg"]) = ("10004", "FAIL", "已关闭")
        case .revoked:
            (answer["code"], answer["trade_state"], answer["msg"]) = ("10005", "FAIL", "已撤销")
        }
        if order.state == .paid || order.state == .revoked {
            answer["transaction_id"] = order.vendorOrderNo
            answer["out_transaction_id"] = order.transactionID ?? ""
            answer["time_end"] = SandboxWire.chinaTime(order.paidAt ?? Date(), "yyyyMMddHHmmss")
        }
        return signed(answer, merchant: merchant)
    }

    func cancel(_ request: [String: String], merchant: SandboxMerchant) -> Response {
        guard let outTradeNo = request["out_trade_no"], !outTradeNo.isEmpty else {
            return Self.failure("20004", "缺少参数out_trade_no")
        }
        for name in ["paytype", "op_user_id"] {
            guard !(request[name] ?? "").isEmpty else { return Self.failure("20004", "缺少参数\(name)") }
        }
        guard let found = book.get(outTradeNo), found.merchantID == request["mch_id"] else {
            return Self.failure("20007", "订单不存在")
        }
        let window = context.configuration.scaled(Self.cancelWindow)
        let age = Date().timeIntervalSince(found.createdAt)
        let windowSeconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        if age > windowSeconds && found.state != .closed && found.state != .revoked {
            return SandboxWire.json(["state": "SUCCESS", "code": "10006", "trade_state": "FAIL", "msg": "超过5分钟的订单不能撤销"])
        }
        book.update(outTradeNo) { order in
            switch order.state {
            case .notPaid: order.state = .closed
            case .paid: order.state = .revoked  // 撤销 reverses a paid order.
            case .closed, .revoked: break
            }
        }
        let answer: [String: String] = [
            "state": "SUCCESS", "code": "10005", "trade_state": "SUCCESS", "msg": "撤销成功",
            "mch_id": found.merchantID, "out_trade_no": outTradeNo, "paytype": found.extra["paytype"] ?? "",
        ]
        return signed(answer, merchant: merchant)
    }

    // MARK: Refunds (api/micropay.md 交易退款, 退款查询)

    /// `method=refund`: synchronous. The same `out_refund_no` again answers the same refund
    /// ("同个退款单号多次请求，平台当一个单处理，只会退一次款"); the refunds may not add up to more
    /// than was paid ("总退款金额不能超过用户实际支付金额").
    func refund(_ request: [String: String], merchant: SandboxMerchant) -> Response {
        for name in ["paytype", "out_refund_no", "total_fee", "refund_fee", "op_user_id"] {
            guard !(request[name] ?? "").isEmpty else { return Self.failure("20004", "缺少参数\(name)") }
        }
        let outRefundNo = request["out_refund_no"] ?? ""
        guard outRefundNo.count <= 32 else { return Self.failure("20004", "out_refund_no格式错误") }
        guard let totalFee = SandboxWire.fen(request["total_fee"] ?? ""),
            let refundFee = SandboxWire.fen(request["refund_fee"] ?? ""), refundFee > 0
        else { return Self.failure("20004", "金额格式错误") }
        let mchID = request["mch_id"] ?? ""
        let found: AggregatorOrder?
        if let transactionID = request["transaction_id"], !transactionID.isEmpty {
            // "同时存在时transaction_id优先"
            found = book.first { $0.merchantID == mchID && $0.vendorOrderNo == transactionID }
        } else if let outTradeNo = request["out_trade_no"], !outTradeNo.isEmpty {
            found = book.get(outTradeNo).flatMap { $0.merchantID == mchID ? $0 : nil }
        } else {
            return Self.failure("20004", "out_trade_no和transaction_id至少一个必填")
        }
        guard let order = found, order.extra["paytype"] == request["paytype"] else {
            return Self.failure("20007", "订单不存在")
        }
        guard order.state == .paid else {
            return SandboxWire.json(["state": "SUCCESS", "code": "10003", "trade_state": "FAIL", "msg": "订单未支付，不能退款"])
        }
        guard totalFee == order.amountFen else { return Self.failure("20004", "total_fee与订单金额不符") }
        let fingerprint = "\(order.outTradeNo)|\(refundFee)"
        let scenario = SandboxRefundScenario(amountFen: refundFee)
        enum Decision {
            case answer(SandboxRefund)
            case conflict
            case exceeds
        }
        if let other = book.order(refund: outRefundNo, merchantID: mchID), other.outTradeNo != order.outTradeNo {
            return Self.failure("20004", "退款单号重复")
        }
        let decision =
            book.update(order.outTradeNo) { order -> Decision in
                if let existing = order.refunds.first(where: { $0.outRefundNo == outRefundNo }) {
                    return existing.fingerprint == fingerprint ? .answer(existing) : .conflict
                }
                guard SandboxRefund.committed(order.refunds) + refundFee <= order.amountFen else { return .exceeds }
                var refund = SandboxRefund(
                    outRefundNo: outRefundNo, amountFen: refundFee, refundID: "5000" + SandboxWire.digits(25),
                    scenario: scenario, state: .succeeded, fingerprint: fingerprint)
                switch scenario {
                case .staysProcessing: refund.state = .processing
                case .fails: refund.state = .failed
                case .normal, .needsQuery: refund.refundedAt = Date()
                }
                order.refunds.append(refund)
                return .answer(refund)
            } ?? .conflict
        let refund: SandboxRefund
        switch decision {
        case .conflict: return Self.failure("20004", "退款单号重复")
        case .exceeds:
            return SandboxWire.json(["state": "SUCCESS", "code": "10006", "trade_state": "FAIL", "msg": "退款金额超过可退金额"])
        case .answer(let held): refund = held
        }
        switch (refund.scenario, refund.state) {
        case (.needsQuery, _): return Self.failure("20006", "系统错误")
        case (_, .failed):
            return SandboxWire.json([
                "state": "SUCCESS", "code": "10006", "trade_state": "FAIL", "msg": "退款失败：交易已超过可退款期限",
            ])
        case (_, .processing):
            return SandboxWire.json(["state": "SUCCESS", "code": "10000", "trade_state": "NEED_QUERY", "msg": "退款处理中"])
        case (_, .succeeded):
            let answer: [String: String] = [
                "state": "SUCCESS", "code": "10000", "trade_state": "SUCCESS", "msg": "SUCCESS",
                "mch_id": order.merchantID, "out_trade_no": order.outTradeNo, "transaction_id": order.vendorOrderNo,
                "out_transaction_id": order.transactionID ?? "", "out_refund_no": refund.outRefundNo,
                "refund_id": refund.refundID, "refund_channel": "ORIGINAL", "base_fee": String(order.amountFen),
                "total_fee": String(order.amountFen), "base_refund_fee": String(refund.amountFen),
                "refund_fee": String(refund.amountFen), "coupon_refund_fee": "0",
            ]
            return signed(answer, merchant: merchant)
        }
    }

    /// `method=refundquery` by `out_refund_no` (or `refund_id`): every refund of the order in
    /// `refund_list`, a JSON text, each with its `refund_status`.
    func refundQuery(_ request: [String: String], merchant: SandboxMerchant) -> Response {
        guard !(request["paytype"] ?? "").isEmpty else { return Self.failure("20004", "缺少参数paytype") }
        let mchID = request["mch_id"] ?? ""
        let found: AggregatorOrder?
        if let refundID = request["refund_id"], !refundID.isEmpty {
            found = book.first { $0.merchantID == mchID && $0.refunds.contains { $0.refundID == refundID } }
        } else if let outRefundNo = request["out_refund_no"], !outRefundNo.isEmpty {
            found = book.order(refund: outRefundNo, merchantID: mchID)
        } else {
            return Self.failure("20004", "refund_id、out_refund_no必填一个")
        }
        guard let held = found else { return Self.failure("20007", "退款单不存在") }
        let order =
            book.update(held.outTradeNo) { order -> AggregatorOrder in
                for index in order.refunds.indices
                where order.refunds[index].outRefundNo == request["out_refund_no"]
                    || order.refunds[index].refundID == request["refund_id"]
                {
                    order.refunds[index].queries += 1
                }
                return order
            } ?? held
        let list: [[String: String]] = order.refunds.enumerated().map { index, refund in
            var item: [String: String] = [
                "serial_no": String(index), "refund_id": refund.refundID, "out_refund_id": "50" + refund.refundID,
                "out_refund_no": refund.outRefundNo, "base_refund_fee": String(refund.amountFen),
                "refund_fee": String(refund.amountFen), "coupon_refund_fee": "0",
                "refund_status": refund.state.rawValue, "refund_channel": "ORIGINAL",
            ]
            if let at = refund.refundedAt { item["refund_time"] = SandboxWire.chinaTime(at, "yyyy-MM-dd HH:mm:ss") }
            return item
        }
        let listText = SandboxJSON.string(list, fallback: "[]")
        let live = order.refunds.filter { $0.state != .failed }
        let answer: [String: String] = [
            "state": "SUCCESS", "code": "10000", "trade_state": "SUCCESS", "msg": "SUCCESS",
            "mch_id": order.merchantID, "out_trade_no": order.outTradeNo, "transaction_id": order.vendorOrderNo,
            "out_transaction_id": order.transactionID ?? "", "refund_count": String(order.refunds.count),
            "base_refund_fee_summary": String(SandboxRefund.committed(live)),
            "refund_fee_summary": String(SandboxRefund.refunded(order.refunds)),
            "refund_list": listText,
        ]
        return signed(answer, merchant: merchant)
    }

    static func notifyTradeType(_ order: AggregatorOrder) -> String {
        let family =
            switch order.extra["paytype"] {
            case "ALIPAY": "alipay"
            case "ECNY": "ecny"
            default: "weixin"
            }
        return
            "pay.\(family).\(order.extra["trade_type"] == "JSPAY" ? "jspay" : (order.extra["trade_type"] == "APP" ? "app" : "native"))"
    }

    // MARK: Control

    func newTransactionID() -> String { "4200" + SandboxWire.digits(24) }

    func sendCallbacks(_ order: AggregatorOrder) {
        guard let url = order.notifyURL, !url.isEmpty, let merchant = merchants[order.merchantID] else { return }
        let reported = order.scenario == .amountMismatch ? order.amountFen + 1 : order.amountFen
        var fields: [String: String] = [
            "state": "SUCCESS", "result_code": "SUCCESS", "pay_result": "0", "mch_id": order.merchantID,
            "out_trade_no": order.outTradeNo, "transaction_id": order.vendorOrderNo,
            "out_transaction_id": order.transactionID ?? "", "total_fee": String(reported), "fee_type": "CNY",
            "time_end": SandboxWire.chinaTime(order.paidAt ?? Date(), "yyyyMMddHHmmss"),
            "trade_type": Self.notifyTradeType(order), "nonce_str": SandboxWire.hex32(),
        ]
        if let attach = order.attach { fields["attach"] = attach }
        if order.extra["paytype"] == "ALIPAY" {
            fields["bank_type"] = "ALIPAYACCOUNT"
            fields["buyer_user_id"] = "2088" + SandboxWire.digits(12)
            fields["buyer_logon_id"] = "sandbox***@example.com"
            fields["invoice_amount"] = String(reported)
            fields["fund_bill_list"] =
                #"[{"amount":""# + SandboxWire.yuan(reported) + #"","fundChannel":"ALIPAYACCOUNT"}]"#
            fields["gmt_create"] = SandboxWire.chinaTime(order.createdAt, "yyyyMMddHHmmss")
        } else {
            fields["bank_type"] = "CFT"
            if !(order.extra["sub_appid"] ?? "").isEmpty { fields["sub_appid"] = order.extra["sub_appid"] }
        }
        let shape = SandboxAnswerShape(outTradeNo: order.outTradeNo)
        fields = shape.extended(shape.trimmed(fields, optional: Self.optionalNotifyMembers))
        let keyName = merchant.settings["callback_key"] == "agent" ? "agent_key" : "merchant_key"
        let key = order.scenario == .forgedCallback ? "forged-key" : (merchant.secrets[keyName] ?? "")
        fields["sign"] = SandboxMD5Rule.storepos.sign(fields, key: key)
        dispatchCallback(
            order, url: url, contentType: "application/x-www-form-urlencoded",
            body: Array(SandboxWire.encodeForm(fields).utf8), retrySchedule: AggregatorRetrySchedules.storepos,
            // "如果平台收到商户的应答不是纯字符串success…": exactly `success`.
            isAcknowledged: { status, body in status == 200 && body == "success" }
        )
    }
}
