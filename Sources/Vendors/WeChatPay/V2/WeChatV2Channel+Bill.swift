import Foundation
import Logging
import Observability
import Payments
import Zlib

/// `POST /pay/downloadbill` (下载对账单): the XML request is signed like every v2 call; the answer
/// is the bill itself (text, or gzip with `tar_type=GZIP`) and is not signed. A refusal comes back
/// as an unsigned XML `<xml><return_code>FAIL</return_code><return_msg>…</return_msg>…</xml>`
/// (wechatpay-im `openapi/v2/pay/downloadbill.md`; error words from WxJava `WxPayErrorCode.DownloadBill`).
extension WeChatV2Channel: BillingChannel {
    public func downloadBill(date: BillDate) async throws(BillError) -> VendorBill {
        var fields = baseFields()
        fields["bill_date"] = date.compact
        fields["bill_type"] = "ALL"
        fields["tar_type"] = "GZIP"
        var signed = fields
        signed["sign"] = signType.sign(fields, key: apiKey)
        let body = Array(WeChatXML.encode(signed).utf8)
        var http = self.http
        http.maximumResponseBytes = 64 << 20
        let response: VendorHTTPResponse
        do throws(ChannelError) {
            response = try await WeChatPay.withFailover(
                baseURLs, logger: logger, api: "v2",
                metadata: [LogKey.merchant: "\(merchant)", LogKey.path: "/pay/downloadbill"]
            ) { base async throws(ChannelError) in
                try await http.send(
                    method: .POST, url: base + "/pay/downloadbill",
                    headers: [("Content-Type", "text/xml; charset=utf-8")], body: body, logger: logger)
            }
        } catch {
            throw .vendor(error)
        }
        return try Self.bill(response, date: date)
    }

    /// Reads a `downloadbill` answer: an XML refusal, a gzip file or a plain text file.
    static func bill(_ response: VendorHTTPResponse, date: BillDate) throws(BillError) -> VendorBill {
        guard response.status == 200 else {
            throw .vendor(
                ChannelError(
                    response.status >= 500 ? .vendorUnavailable : .badResponse,
                    "/pay/downloadbill answered HTTP \(response.status)"))
        }
        let body = response.body
        if body.starts(with: Array("<xml>".utf8)) || body.starts(with: Array("<?xml".utf8)) {
            let fields: [String: String]
            do throws(WeChatXML.DecodingError) {
                fields = try WeChatXML.decode(body)
            } catch {
                throw .malformed("/pay/downloadbill: \(error.reason)")
            }
            let message = fields["return_msg"] ?? fields["error_code"] ?? "FAIL"
            switch message.lowercased() {
            // "当前商户号没有已成交的订单，不生成对账单": a day without trades has no bill.
            case "no bill exist": return VendorBill(channel: .wechatV2, date: date, rows: [])
            case "bill creating": throw .notAvailable("WeChat v2: Bill Creating (账单未生成)")
            case "systemerror", "system error", "compressgzip error", "uncompressgzip error":
                throw .vendor(ChannelError(.vendorUnavailable, "/pay/downloadbill: \(message)", vendorCode: "FAIL"))
            default:
                throw .vendor(
                    ChannelError(.vendorRejected, "/pay/downloadbill refused: \(message)", vendorCode: "FAIL"))
            }
        }
        let file: [UInt8]
        if body.starts(with: [0x1F, 0x8B]) {
            do throws(Gzip.Failure) {
                file = try Gzip.decompress(body)
            } catch {
                throw .malformed("/pay/downloadbill: \(error.description)")
            }
        } else {
            file = body
        }
        return try WeChatBill.parse(file, channel: .wechatV2, date: date)
    }
}
