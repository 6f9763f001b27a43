import Foundation
import Payments

/// 对账单下载 (`api/micropay.md`): `POST <bill_url>` (`/v2/Open/DownloadBill`), form `mch_id`,
/// `ymd` (yyyy-MM-dd), `pid`, `version`, signed with the 商户密钥 like every v2 call. The answer is
/// the gateway's JSON: `state=SUCCESS` + `trade_state=PROCESSING` means the bill is being generated
/// ("建议10秒后重新调用"); `trade_state=SUCCESS` brings `url`, the CSV file to download.
extension StorePOSChannel: BillingChannel {
    public func downloadBill(date: BillDate) async throws(BillError) -> VendorBill {
        var parameters = [
            "mch_id": configuration.mchID, "ymd": date.description, "pid": configuration.pid,
            "version": configuration.version,
        ]
        parameters["sign"] = StorePOSSigning.sign(parameters, key: configuration.merchantKey)
        let answer: StorePOSAnswer
        do throws(ChannelError) {
            let response = try await http.send(
                method: .POST, url: configuration.billURL,
                headers: [
                    ("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"), ("Accept", "application/json"),
                ],
                body: Array(FormEncoding.encode(parameters.sorted { $0.key < $1.key }).utf8), logger: logger)
            guard (200..<300).contains(response.status) else {
                throw ChannelError(
                    response.status >= 500 ? .vendorUnavailable : .badResponse,
                    "storepos answered HTTP \(response.status) to DownloadBill")
            }
            answer = try StorePOSAnswer.decode(response.body, method: "DownloadBill", key: configuration.merchantKey)
            guard answer.state == "SUCCESS" else { throw answer.rejection() }
        } catch {
            throw .vendor(error)
        }
        if answer.tradeState == "PROCESSING" {
            throw .notAvailable("storepos: the bill of \(date) is being generated (trade_state=PROCESSING)")
        }
        let file: VendorHTTPResponse
        do throws(ChannelError) {
            guard answer.tradeState == "SUCCESS" else {
                throw ChannelError(
                    .badResponse, "storepos DownloadBill answered trade_state '\(answer.tradeState ?? "")'")
            }
            try answer.requireSigned(configuration.requireResponseSign)
            if let ymd = answer.fields["ymd"], ymd != date.description {
                throw ChannelError.badResponse("storepos DownloadBill answered the bill of another day")
            }
            let url = try answer.fields.required("url")
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ChannelError.badResponse("storepos DownloadBill: url is not an http(s) URL")
            }
            var fileHTTP = http
            fileHTTP.maximumResponseBytes = 64 << 20
            file = try await fileHTTP.send(method: .GET, url: url, headers: [], logger: logger)
            guard file.status == 200 else {
                throw ChannelError(
                    file.status >= 500 ? .vendorUnavailable : .vendorRejected,
                    "storepos bill download answered HTTP \(file.status)")
            }
        } catch {
            throw .vendor(error)
        }
        return try StorePOSBill.parse(file.body, date: date)
    }
}

/// The storepos bill file: a header line naming the columns (the sample's order differs from the
/// field table's, so columns are read by name), then one line per order; any value may carry a
/// leading backtick and an empty value is a lone backtick (`api/micropay.md`, 对账单字段描述).
/// Amounts are yuan. `pay_status`: `1` paid; `0` refunded (paid, then `return_amount` refunded);
/// `4` 撤单 (revoked). A paid line with a non-zero `return_amount` is also a partial refund. The
/// paid amount is `base_fee` (应付金额, the order amount PayFleet records), as for `orderquery`.
public enum StorePOSBill {
    public static func parse(_ file: [UInt8], date: BillDate) throws(BillError) -> VendorBill {
        let lines = try BillText.lines(file)
        guard let headerLine = lines.first else { return VendorBill(channel: .storepos, date: date, rows: []) }
        let header = BillText.fields(headerLine)
        let table = BillText.Table(header: header, rows: [])
        let outTradeNoColumn = try table.requiredColumn("out_trade_no")
        let statusColumn = try table.requiredColumn("pay_status")
        let amountColumn = try table.requiredColumn("base_fee", "total_fee")
        let returnColumn = table.column("return_amount")
        let transactionColumn = table.column("transaction_id")
        let paidAtColumn = table.column("rq_pay")
        let createdColumn = table.column("rq_create")
        var rows: [VendorBillRow] = []
        for (index, line) in lines.dropFirst().enumerated() {
            let number = index + 2
            let fields = BillText.fields(line)
            func value(_ column: Int?) -> String { column.flatMap { $0 < fields.count ? fields[$0] : nil } ?? "" }
            let outTradeNo = value(outTradeNoColumn)
            guard !outTradeNo.isEmpty else { throw .malformed("bill line \(number) has no out_trade_no") }
            let amount = try BillText.yuan(value(amountColumn), column: header[amountColumn], line: number)
            var returned: Money?
            if let returnColumn {
                returned = try BillText.optionalYuan(value(returnColumn), column: "return_amount", line: number)
            }
            let transactionID = value(transactionColumn)
            let time = BillText.time(value(paidAtColumn)) ?? BillText.time(value(createdColumn))
            let status = value(statusColumn)
            let paid = VendorBillRow(
                status: .paid, outTradeNo: outTradeNo, transactionID: transactionID.isEmpty ? nil : transactionID,
                amount: amount, time: time, vendorStatus: "pay_status=\(status)")
            switch status {
            case "1", "0":
                rows.append(paid)
                if let returned, returned > .zero {
                    var refund = paid
                    refund.status = .refunded
                    refund.amount = returned
                    rows.append(refund)
                }
            case "4":
                var revoked = paid
                revoked.status = .revoked
                rows.append(revoked)
            default:
                throw .malformed("bill line \(number): pay_status '\(status.prefix(8))' is not 0, 1 or 4")
            }
        }
        return VendorBill(channel: .storepos, date: date, rows: rows)
    }
}
