import Foundation
import HTTPTypes
import Hummingbird

/// WeChat Pay v2 `POST /pay/downloadbill` (下载对账单): the request is verified like the other v2
/// calls; the answer is the trade bill of `bill_date` (yyyyMMdd, China time) as text, gzipped for
/// `tar_type=GZIP`, with the ALL layout (header, one backtick-prefixed line per paid order,
/// `总交易单数,…` summary) of WxJava's `WxPayBillResultTest` sample. Refusals are unsigned XML:
/// `No Bill Exist` for a day without paid orders, `Bill Creating` while the bill is generated.
extension WeChatV2Simulator {
    static let billHeader =
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
    static let billSummaryHeader = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"

    func addBillRoute(to router: Router<BasicRequestContext>) {
        router.post("/pay/downloadbill") { [self] request, _ in
            var request = request
            let buffer = try await request.collectBody(upTo: 1 << 20)
            return self.downloadBill(Array(buffer.readableBytesView))
        }
    }

    func billFailure(_ message: String) -> Response {
        WeChatSandbox.response(
            status: .ok, contentType: "text/xml",
            body: Array(WeChatSandbox.xml(["return_code": "FAIL", "return_msg": message]).utf8))
    }

    func downloadBill(_ body: [UInt8]) -> Response {
        guard let fields = WeChatSandbox.parseXML(body) else { return billFailure("data format error") }
        guard let mchID = fields["mch_id"], let merchant = merchants[mchID], fields["appid"] == merchant.appID else {
            return billFailure("invalid parameter")
        }
        let hmac: Bool
        switch fields["sign_type"] ?? "MD5" {
        case "MD5": hmac = false
        case "HMAC-SHA256": hmac = true
        default: return billFailure("invalid parameter")
        }
        guard let sign = fields["sign"], !(fields["nonce_str"] ?? "").isEmpty else {
            return billFailure("missing parameter")
        }
        guard sign == WeChatSandbox.v2Sign(fields, key: merchant.key, hmac: hmac) else {
            return billFailure("SIGN ERROR")
        }
        let compact = fields["bill_date"] ?? ""
        guard compact.count == 8, compact.allSatisfy(\.isNumber) else { return billFailure("data format error") }
        guard let day = SandboxBills.day("\(compact.prefix(4))-\(compact.dropFirst(4).prefix(2))-\(compact.suffix(2))")
        else { return billFailure("data format error") }
        guard ["ALL", "SUCCESS", nil].contains(fields["bill_type"]) else { return billFailure("invalid bill_type") }
        let gzip: Bool
        switch fields["tar_type"] {
        case nil: gzip = false
        case "GZIP": gzip = true
        default: return billFailure("invalid parameter")
        }
        if SandboxBills.isGenerating(day) { return billFailure("Bill Creating") }

        let paid: [Order] = orders.withLockedValue { orders in
            orders.values.filter { order in
                order.mchID == mchID && order.state == "SUCCESS"
                    && (order.timeEnd.map { $0.hasPrefix(compact) } ?? false)
            }
        }.sorted { $0.outTradeNo < $1.outTradeNo }
        guard !paid.isEmpty else { return billFailure("No Bill Exist") }
        var csv = Self.billHeader + "\r\n"
        var sum: Int64 = 0
        for order in paid {
            sum += order.totalFee
            let end = order.timeEnd ?? ""
            let time =
                "\(end.prefix(4))-\(end.dropFirst(4).prefix(2))-\(end.dropFirst(6).prefix(2)) "
                + "\(end.dropFirst(8).prefix(2)):\(end.dropFirst(10).prefix(2)):\(end.dropFirst(12).prefix(2))"
            let yuan = SandboxWire.yuan(order.totalFee)
            let values = [
                time, order.appID, order.mchID, "0", "", order.transactionID ?? "", order.outTradeNo,
                order.openid ?? "oSandboxPayer0000000000000000", order.tradeType, "SUCCESS", "OTHERS", "CNY", yuan,
                "0.00", "0", "0", "0.00", "0.00", "", "", SandboxBills.cell(order.body),
                SandboxBills.cell(order.attach ?? ""), "0.00000", "0.60%", yuan, "0.00", "",
            ]
            csv += values.map { "`" + $0 }.joined(separator: ",") + "\r\n"
        }
        let total = SandboxWire.yuan(sum)
        csv += Self.billSummaryHeader + "\r\n"
        csv += "`\(paid.count),`\(total),`0.00,`0.00,`0.00000,`\(total),`0.00\r\n"
        let file = Array(csv.utf8)
        return WeChatSandbox.response(
            status: .ok, contentType: gzip ? "application/octet-stream" : "text/plain;charset=utf-8",
            body: gzip ? WeChatSandbox.gzip(file) : file)
    }
}
