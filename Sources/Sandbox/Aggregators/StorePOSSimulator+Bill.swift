import Foundation
import Hummingbird

/// storepos 对账单下载 (`api/micropay.md`): `POST /v2/Open/DownloadBill` (form `mch_id`, `ymd`,
/// `pid`, `version`, `sign` with the 商户密钥) answers JSON with `trade_state` `PROCESSING` or
/// `SUCCESS` + `url`; `GET /v2/Open/BillFile/<yyyyMMdd>_<mch_id>.csv` is the CSV file: the
/// sample's header, one line per order paid that day (paid, refunded or revoked), backtick
/// prefixes as in the sample. The bill has no refund lines of its own: an order with refunds that
/// succeeded is `pay_status` `0` (订单退款) with `return_amount` (已退金额) their sum, as the
/// sample's first line; refunds still processing or failed moved no money and are not counted.
extension StorePOSSimulator {
    static let billHeader =
        "mch_id,out_trade_no,op_shop_id,op_device_id,op_user_id,base_fee,total_fee,return_amount,pay_status,rq_create,rq_pay,pay_type,type,channel_payid,transaction_id,out_transaction_id,channel_mchid,body"

    func addBillRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v2/Open/DownloadBill") { request, _ in
            downloadBill(try await SandboxWire.body(request), authority: request.head.authority)
        }
        router.get("/v2/Open/BillFile/:file") { _, context in
            billFile(context.parameters.get("file") ?? "")
        }
    }

    func downloadBill(_ body: [UInt8], authority: String?) -> Response {
        guard let request = String(validating: body, as: UTF8.self).flatMap(SandboxWire.form), !request.isEmpty else {
            return Self.failure("20004", "参数格式错误")
        }
        for name in ["mch_id", "ymd", "pid", "version", "sign"] {
            guard let value = request[name], !value.isEmpty else { return Self.failure("20004", "缺少参数\(name)") }
        }
        guard let merchant = merchants[request["mch_id"] ?? ""] else { return Self.failure("20005", "商户不存在") }
        let key = merchant.secrets["merchant_key"] ?? ""
        guard SandboxMD5Rule.storepos.matches(request, key: key) else { return Self.failure("20002", "签名错误") }
        guard let day = SandboxBills.day(request["ymd"] ?? "") else { return Self.failure("20004", "ymd格式错误") }
        if SandboxBills.isGenerating(day) {
            return SandboxWire.json([
                "state": "SUCCESS", "code": "10001", "trade_state": "PROCESSING", "msg": "PROCESSING",
            ])
        }
        let mchID = request["mch_id"] ?? ""
        let host = authority ?? "\(context.configuration.host):\(context.configuration.port)"
        var fields = [
            "state": "SUCCESS", "code": "10001", "trade_state": "SUCCESS", "msg": "SUCCESS", "mch_id": mchID,
            "ymd": day,
            "url": "http://\(host)/v2/Open/BillFile/\(day.replacingOccurrences(of: "-", with: ""))_\(mchID).csv",
        ]
        fields["sign"] = SandboxMD5Rule.storepos.sign(fields, key: key)
        return SandboxWire.json(fields)
    }

    func billFile(_ name: String) -> Response {
        let parts = name.hasSuffix(".csv") ? name.dropLast(4).split(separator: "_", maxSplits: 1) : []
        guard parts.count == 2, parts[0].count == 8, merchants[String(parts[1])] != nil else {
            return SandboxWire.text("not found", status: .notFound)
        }
        let compact = String(parts[0])
        let day = "\(compact.prefix(4))-\(compact.dropFirst(4).prefix(2))-\(compact.suffix(2))"
        let mchID = String(parts[1])
        var csv = Self.billHeader + "\r\n"
        for order in book.all() where order.merchantID == mchID && SandboxBills.on(order.paidAt, day) {
            let status: String
            let refunded = SandboxRefund.refunded(order.refunds)
            switch order.state {
            case .paid: status = refunded > 0 ? "0" : "1"
            case .revoked: status = "4"
            case .notPaid, .closed: continue
            }
            let yuan = SandboxWire.yuan(order.amountFen)
            let created = SandboxWire.chinaTime(order.createdAt, "yyyy-MM-dd HH:mm:ss")
            let paid = order.paidAt.map { SandboxWire.chinaTime($0, "yyyy-MM-dd HH:mm:ss") } ?? ""
            let values = [
                "`\(mchID)`", order.outTradeNo, "`", "`", "`", yuan, yuan, SandboxWire.yuan(refunded), status,
                "`\(created)", "`\(paid)",
                order.extra["paytype"] ?? "WECHAT", "2", "SANDBOX", "`\(order.transactionID ?? "")",
                "`\(order.vendorOrderNo)", "`", SandboxBills.cell(order.extra["body"] ?? "sandbox"),
            ]
            csv += values.joined(separator: ",") + "\r\n"
        }
        return SandboxWire.text(csv, contentType: "text/csv; charset=utf-8")
    }
}
