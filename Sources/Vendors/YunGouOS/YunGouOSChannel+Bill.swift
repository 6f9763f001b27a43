import Foundation
import Payments

/// `downloadBill` (`/api/pay/wxpay/downloadBill`, YunGouOS-PAY-SDK `WxPay.java` `downloadBill`,
/// `WxDownloadBillBiz` / `WxDownloadBillInfoBiz`): `mch_id` and `date` (yyyy-MM-dd), signed over
/// exactly those two; the answer `{code, msg, data: {list, url, total}}` carries the WeChat bill of
/// the day as JSON rows (`outTradeNo`, `orderNo`, `payNo`, `payStatus`, `money`, `refundNo`,
/// `refundMoney`, `date`) and an Excel URL PayFleet does not need.
extension YunGouOSChannel: BillingChannel {
    public func downloadBill(date: BillDate) async throws(BillError) -> VendorBill {
        var parameters = ["mch_id": configuration.mchID, "date": date.description]
        parameters["sign"] = YunGouOSSigning.rule.sign(parameters, key: configuration.apiKey)
        let answer: YunGouOSAnswer
        do throws(ChannelError) {
            var http = self.http
            http.maximumResponseBytes = 64 << 20
            let query = FormEncoding.encode(parameters.sorted { $0.key < $1.key })
            let response = try await http.send(
                method: .GET, url: configuration.baseURL + "/api/pay/wxpay/downloadBill?" + query,
                headers: [("Accept", "application/json")], logger: logger)
            answer = try Self.envelope(response, api: "/api/pay/wxpay/downloadBill")
        } catch {
            throw .vendor(error)
        }
        return try YunGouOSBill.parse(answer, date: date)
    }
}

/// A YunGouOS `downloadBill` answer as a ``VendorBill``.
///
/// `code` ≠ 0 is a refusal with `msg`. A row is a refund when `payStatus` is `REFUND` (WeChat's
/// 交易状态 word) or it names a `refundNo` with a non-zero `refundMoney`; it is paid when
/// `payStatus` is `SUCCESS` or `1` (YunGouOS's own paid status); other rows are left out. The
/// paid amount is `money` (总金额); the transaction id is `orderNo`, as in callbacks and queries.
public enum YunGouOSBill {
    public static func parse(_ answer: YunGouOSAnswer, date: BillDate) throws(BillError) -> VendorBill {
        guard answer.succeeded else {
            throw .vendor(
                ChannelError(
                    .vendorRejected, "yungouos downloadBill refused: \(answer.message)", vendorCode: answer.code))
        }
        // No data (or no list): a day without trades.
        guard let data = answer.data, let list = data["list"]?.arrayValue else {
            return VendorBill(channel: .yungouos, date: date, rows: [])
        }
        var rows: [VendorBillRow] = []
        for (index, item) in list.enumerated() {
            guard let object = item.objectValue else {
                throw .malformed("downloadBill list[\(index)] is not an object")
            }
            func text(_ name: String) -> String {
                guard let value = object[name], let text = AnswerFields.text(value) else { return "" }
                return text.trimmingCharacters(in: CharacterSet.whitespaces)
            }
            let outTradeNo = text("outTradeNo")
            guard !outTradeNo.isEmpty else { throw .malformed("downloadBill list[\(index)] has no outTradeNo") }
            let status = text("payStatus")
            let orderNo = text("orderNo")
            let time = BillText.time(text("date"))
            let refundNo = text("refundNo")
            let refundMoney = try BillText.optionalYuan(text("refundMoney"), column: "refundMoney", line: index)
            if status.uppercased() == "REFUND"
                || (!refundNo.isEmpty && refundNo != "0" && (refundMoney ?? .zero) > .zero)
            {
                guard let refundMoney else {
                    throw .malformed("downloadBill list[\(index)]: refund without refundMoney")
                }
                rows.append(
                    VendorBillRow(
                        status: .refunded, outTradeNo: outTradeNo, transactionID: orderNo.isEmpty ? nil : orderNo,
                        amount: refundMoney, outRefundNo: refundNo.isEmpty || refundNo == "0" ? nil : refundNo,
                        time: time, vendorStatus: status))
            } else if status.uppercased() == "SUCCESS" || status == "1" {
                let money = try BillText.yuan(text("money"), column: "money", line: index)
                rows.append(
                    VendorBillRow(
                        status: .paid, outTradeNo: outTradeNo, transactionID: orderNo.isEmpty ? nil : orderNo,
                        amount: money, time: time, vendorStatus: status))
            }
        }
        return VendorBill(channel: .yungouos, date: date, rows: rows)
    }
}
