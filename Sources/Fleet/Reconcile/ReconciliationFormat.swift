import Foundation
import Payments

/// How `payfleet reconcile` writes discrepancies: a line per item, JSON or CSV.
public enum ReconciliationFormat {
    /// `payfleet_only payment T1001 vendor=- payfleet=33.00 (succeeded in PayFleet, not paid in the bill)`.
    public static func line(_ item: Discrepancy) -> String {
        func yuan(_ fen: Int64?) -> String { fen.map { Money(fen: $0).yuanString } ?? "-" }
        var text = "\(item.kind.rawValue) \(item.entry.rawValue) \(item.outTradeNo)"
        if let number = item.outRefundNo { text += " refund=\(number)" }
        text += " vendor=\(yuan(item.vendorAmountFen)) payfleet=\(yuan(item.payfleetAmountFen)) (\(item.detail))"
        return text
    }

    /// `{"merchant","channel","date","matched","vendor_only","payfleet_only","amount_mismatch","discrepancies":[…]}`.
    public static func json(_ report: ReconciliationReport) -> String {
        struct Document: Encodable {
            var merchant: String
            var channel: String
            var date: String
            var matched: Int
            var vendor_only: Int
            var payfleet_only: Int
            var amount_mismatch: Int
            var discrepancies: [Discrepancy]
        }
        let document = Document(
            merchant: report.merchant, channel: report.channel.rawValue, date: report.date.description,
            matched: report.matched, vendor_only: report.count(.vendorOnly), payfleet_only: report.count(.payfleetOnly),
            amount_mismatch: report.count(.amountMismatch), discrepancies: report.discrepancies)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return ((try? encoder.encode(document)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
    }

    static let csvColumns = [
        "kind", "entry", "out_trade_no", "out_refund_no", "vendor_amount_fen", "payfleet_amount_fen",
        "vendor_transaction_id", "payfleet_transaction_id", "vendor_status", "detail",
    ]

    /// RFC 4180 CSV with a header line (amounts in fen).
    public static func csv(_ report: ReconciliationReport) -> String {
        func field(_ text: String?) -> String {
            guard let text else { return "" }
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var lines = [csvColumns.joined(separator: ",")]
        for item in report.discrepancies {
            lines.append(
                [
                    item.kind.rawValue, item.entry.rawValue, item.outTradeNo, item.outRefundNo,
                    item.vendorAmountFen.map(String.init), item.payfleetAmountFen.map(String.init),
                    item.vendorTransactionID, item.payfleetTransactionID, item.vendorStatus, item.detail,
                ].map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}
