import Foundation
import Payments

/// The APIv3 trade bill (``WeChatCombineChannel/downloadTradeBill(date:type:gzip:)``: apply,
/// download, un-gzip, SHA1 checked) as a ``VendorBill``: one row per sub-order, by the sub-order's
/// `out_trade_no`. `NO_STATEMENT_EXIST` ("账单文件不存在": no trade that day) is an empty bill;
/// `STATEMENT_CREATING` is "not available yet".
extension WeChatCombineChannel: BillingChannel {
    public func downloadBill(date: BillDate) async throws(BillError) -> VendorBill {
        let file: [UInt8]
        do throws(ChannelError) {
            file = try await downloadTradeBill(date: date.description, type: .all, gzip: true)
        } catch {
            switch error.vendorCode {
            case "NO_STATEMENT_EXIST": return VendorBill(channel: .wechatV3Combine, date: date, rows: [])
            case "STATEMENT_CREATING": throw .notAvailable("WeChat APIv3: STATEMENT_CREATING (账单生成中)")
            default: throw .vendor(error)
            }
        }
        return try WeChatBill.parse(file, channel: .wechatV3Combine, date: date)
    }
}
