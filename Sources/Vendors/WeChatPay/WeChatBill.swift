import Foundation
import Payments

/// WeChat Pay's trade bill (交易账单) as v2 `pay/downloadbill` and the APIv3 trade bill both
/// deliver it: a header line, one line per trade with every value prefixed by a backtick, then a
/// summary header (`总交易单数,…`) and its values. Columns are read by their header name, so the
/// ALL / SUCCESS / REFUND layouts and the older layout (`总金额`, `子商户号`) all parse
/// (WxJava `WxPayBillResultTest`, wechatpay-im `openapi/v2/pay/downloadbill.md`).
///
/// Rows: `SUCCESS` → paid (amount `订单金额`, else `总金额`, else `应结订单金额`); `REFUND` with
/// refund status `SUCCESS` (or none given) → refunded (amount `申请退款金额`, else `退款金额`;
/// `商户退款单号` as `out_refund_no`); `REVOKED` → revoked. Other states (`NOTPAY`, `CLOSED`,
/// `USERPAYING`, a refund still `PROCESSING`) move no money and are left out.
public enum WeChatBill {
    static let summaryMarker = "总交易单数"

    public static func parse(_ file: [UInt8], channel: ChannelID, date: BillDate) throws(BillError) -> VendorBill {
        let lines = try BillText.lines(file)
        guard let headerLine = lines.first else { return VendorBill(channel: channel, date: date, rows: []) }
        let header = BillText.fields(headerLine)
        let table = BillText.Table(header: header, rows: [])
        let timeColumn = try table.requiredColumn("交易时间")
        let outTradeNoColumn = try table.requiredColumn("商户订单号")
        let stateColumn = try table.requiredColumn("交易状态")
        let transactionColumn = table.column("微信订单号", "微信支付订单号")
        let orderAmountColumn = table.column("订单金额", "总金额", "应结订单金额")
        let refundAmountColumn = table.column("申请退款金额", "退款金额")
        let outRefundNoColumn = table.column("商户退款单号")
        let refundStateColumn = table.column("退款状态")

        var rows: [VendorBillRow] = []
        for (index, line) in lines.dropFirst().enumerated() {
            if line.hasPrefix(summaryMarker) { break }
            let number = index + 2
            let fields = BillText.fields(line)
            guard fields.count >= header.count - 1 else {
                throw .malformed("bill line \(number) has \(fields.count) fields, the header \(header.count)")
            }
            func value(_ column: Int?) -> String { column.flatMap { $0 < fields.count ? fields[$0] : nil } ?? "" }
            let outTradeNo = value(outTradeNoColumn)
            guard !outTradeNo.isEmpty else { throw .malformed("bill line \(number) has no 商户订单号") }
            let transactionID = value(transactionColumn)
            let time = BillText.time(value(timeColumn))
            let state = value(stateColumn)
            switch state {
            case "SUCCESS", "REVOKED":
                guard let column = orderAmountColumn else { throw .malformed("bill has no 订单金额 column") }
                let amount = try BillText.yuan(value(column), column: header[column], line: number)
                rows.append(
                    VendorBillRow(
                        status: state == "SUCCESS" ? .paid : .revoked, outTradeNo: outTradeNo,
                        transactionID: transactionID.isEmpty ? nil : transactionID, amount: amount, time: time,
                        vendorStatus: state))
            case "REFUND":
                let refundState = value(refundStateColumn)
                guard refundState.isEmpty || refundState == "SUCCESS" else { continue }
                guard let column = refundAmountColumn else { throw .malformed("bill has no 退款金额 column") }
                let amount = try BillText.yuan(value(column), column: header[column], line: number)
                let outRefundNo = value(outRefundNoColumn)
                rows.append(
                    VendorBillRow(
                        status: .refunded, outTradeNo: outTradeNo,
                        transactionID: transactionID.isEmpty ? nil : transactionID, amount: amount,
                        outRefundNo: outRefundNo.isEmpty || outRefundNo == "0" ? nil : outRefundNo, time: time,
                        vendorStatus: refundState.isEmpty ? state : "\(state)/\(refundState)"))
            default:
                continue
            }
        }
        return VendorBill(channel: channel, date: date, rows: rows)
    }
}
