import Foundation
import Hummingbird

/// YunGouOS `downloadBill` (`/api/pay/wxpay/downloadBill`, YunGouOS-PAY-SDK `WxPay.java`): GET
/// (the Java SDK) or POST form (the JS SDK) with `mch_id`, `date` signed over exactly those two.
/// The answer's `data.list` holds, in the SDK's `WxDownloadBillInfoBiz` members, one object per
/// order paid that day (`payStatus` WeChat's 交易状态 word `SUCCESS`) and, as WeChat's bill lists
/// refunds, one per refund that succeeded that day (`payStatus` `REFUND`, `refundNo` 商户退款单号,
/// `payRefundNo` 微信退款单号, `refundMoney`, `refundStatus` `SUCCESS`, `date` the refund time), with
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
        var refundTotal: Int64 = 0
        for order in book.all() where order.merchantID == mchID {
            if order.state == .paid && SandboxBills.on(order.paidAt, day) {
                total += order.amountFen
                list.append(Self.billRow(order, time: order.paidAt, payStatus: "SUCCESS"))
            }
            for refund in order.refunds where refund.state == .succeeded && SandboxBills.on(refund.refundedAt, day) {
                refundTotal += refund.amountFen
                var row = Self.billRow(order, time: refund.refundedAt, payStatus: "REFUND")
                row["billMoney"] = "0.00"
                row["payRefundNo"] = "50" + refund.refundID.dropFirst()
                row["refundNo"] = refund.outRefundNo.isEmpty ? refund.refundID : refund.outRefundNo
                row["refundMoney"] = SandboxWire.yuan(refund.amountFen)
                row["applyRefundMoney"] = SandboxWire.yuan(refund.amountFen)
                row["refundType"] = "ORIGINAL"
                row["refundStatus"] = "SUCCESS"
                list.append(row)
            }
        }
        let data: [String: Any] = [
            "list": list, "url": "https://sandbox.payfleet.invalid/yungouos/bill/\(mchID)/\(day).xlsx",
            "total": [
                "count": list.count, "money": SandboxWire.yuan(total), "refundMoney": SandboxWire.yuan(refundTotal),
            ],
        ]
        return SandboxWire.json(["code": 0, "msg": "获取成功", "data": data])
    }

    /// One `WxDownloadBillInfoBiz` object of `order` (a payment line; a refund line overrides the refund members).
    static func billRow(_ order: AggregatorOrder, time: Date?, payStatus: String) -> [String: Any] {
        [
            "date": time.map { SandboxWire.chinaTime($0, "yyyy-MM-dd HH:mm:ss") } ?? "",
            "mchId": order.merchantID, "deviceInfo": "", "payNo": order.transactionID ?? "",
            "orderNo": order.vendorOrderNo, "outTradeNo": order.outTradeNo, "openId": "oSandboxPayer0000000000000000",
            "payType": "NATIVE", "payStatus": payStatus, "payBank": "OTHERS", "currency": "CNY",
            "billMoney": SandboxWire.yuan(order.amountFen), "envelopeAmount": "0.00", "payRefundNo": "0",
            "refundNo": "0", "refundMoney": "0.00", "refundEnvelopeAmount": "0.00", "refundType": "",
            "refundStatus": "", "body": order.extra["body"] ?? "", "attach": order.attach ?? "",
            "poundage": "0.00000", "rate": "0.60%", "money": SandboxWire.yuan(order.amountFen),
            "applyRefundMoney": "0.00",
        ]
    }
}
