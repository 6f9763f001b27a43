import Foundation
import Hummingbird

/// YunGouOS `downloadBill` (`/api/pay/wxpay/downloadBill`, YunGouOS-PAY-SDK `WxPay.java`): GET
/// (the Java SDK) or POST form (the JS SDK) with `mch_id`, `date` signed over exactly those two.
/// The answer's `data.list` holds one object per paid order of that day in the SDK's
/// `WxDownloadBillInfoBiz` members (`payStatus` is WeChat's 交易状态 word `SUCCESS`), with
/// `data.total` and an Excel `url` as the SDK's `WxDownloadBillBiz` has them.
extension YunGouOSSimulator {
    static let billFields = ["mch_id", "date"]

    func addBillRoutes(to router: Router<BasicRequestContext>) {
        router.get("/api/pay/wxpay/downloadBill") { request, _ in
            downloadBill(SandboxWire.form(request.uri.query ?? ""))
        }
        router.post("/api/pay/wxpay/downloadBill") { request, _ in
            downloadBill(
                String(validating: try await SandboxWire.body(request), as: UTF8.self).flatMap(SandboxWire.form))
        }
    }

    func downloadBill(_ fields: [String: String]?) -> Response {
        let checked: (fields: [String: String], merchant: SandboxMerchant)
        switch authenticate(fields, only: Self.billFields) {
        case .rejected(let response): return response
        case .accepted(let fields, let merchant): checked = (fields, merchant)
        }
        guard let day = SandboxBills.day(checked.fields["date"] ?? "") else { return Self.failure("date格式错误") }
        if SandboxBills.isGenerating(day) { return Self.failure("对账单生成中，请稍后再试") }
        let mchID = checked.fields["mch_id"] ?? ""
        var list: [[String: Any]] = []
        var total: Int64 = 0
        for order in book.all()
        where order.merchantID == mchID && order.state == .paid && SandboxBills.on(order.paidAt, day) {
            total += order.amountFen
            list.append([
                "date": order.paidAt.map { SandboxWire.chinaTime($0, "yyyy-MM-dd HH:mm:ss") } ?? "",
                "mchId": mchID, "deviceInfo": "", "payNo": order.transactionID ?? "", "orderNo": order.vendorOrderNo,
                "outTradeNo": order.outTradeNo, "openId": "oSandboxPayer0000000000000000", "payType": "NATIVE",
                "payStatus": "SUCCESS", "payBank": "OTHERS", "currency": "CNY",
                "billMoney": SandboxWire.yuan(order.amountFen), "envelopeAmount": "0.00", "payRefundNo": "0",
                "refundNo": "0", "refundMoney": "0.00", "refundEnvelopeAmount": "0.00", "refundType": "",
                "refundStatus": "", "body": order.extra["body"] ?? "", "attach": order.attach ?? "",
                "poundage": "0.00000", "rate": "0.60%", "money": SandboxWire.yuan(order.amountFen),
                "applyRefundMoney": "0.00",
            ])
        }
        let data: [String: Any] = [
            "list": list, "url": "https://sandbox.payfleet.invalid/yungouos/bill/\(mchID)/\(day).xlsx",
            "total": ["count": list.count, "money": SandboxWire.yuan(total), "refundMoney": "0.00"],
        ]
        return SandboxWire.json(["code": 0, "msg": "获取成功", "data": data])
    }
}
