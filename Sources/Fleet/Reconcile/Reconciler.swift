import Foundation
import Payments

/// One difference between a vendor's bill and PayFleet's events.
public struct Discrepancy: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// In the vendor's bill, not in PayFleet's events: money PayFleet never reported.
        case vendorOnly = "vendor_only"
        /// In PayFleet's events, not in the vendor's bill (or the vendor reversed it).
        case payfleetOnly = "payfleet_only"
        /// On both sides with different amounts.
        case amountMismatch = "amount_mismatch"
    }

    public var kind: Kind
    /// `payment` or `refund`.
    public var entry: LedgerEntry.Kind
    public var outTradeNo: String
    public var outRefundNo: String?
    public var vendorAmountFen: Int64?
    public var payfleetAmountFen: Int64?
    public var vendorTransactionID: String?
    public var payfleetTransactionID: String?
    /// The vendor's status word(s) for the line.
    public var vendorStatus: String?
    public var detail: String

    enum CodingKeys: String, CodingKey {
        case kind, entry, detail
        case outTradeNo = "out_trade_no"
        case outRefundNo = "out_refund_no"
        case vendorAmountFen = "vendor_amount_fen"
        case payfleetAmountFen = "payfleet_amount_fen"
        case vendorTransactionID = "vendor_transaction_id"
        case payfleetTransactionID = "payfleet_transaction_id"
        case vendorStatus = "vendor_status"
    }
}

/// The result of reconciling one merchant's day.
public struct ReconciliationReport: Sendable, Hashable {
    public var merchant: String
    public var channel: ChannelID
    public var date: BillDate
    public var matched: Int
    public var discrepancies: [Discrepancy]
    public var vendorRows: Int
    public var payfleetEntries: Int

    public func count(_ kind: Discrepancy.Kind) -> Int { discrepancies.filter { $0.kind == kind }.count }
    public var isClean: Bool { discrepancies.isEmpty }

    /// `reconciled <merchant> <date>: matched=N vendor_only=N payfleet_only=N amount_mismatch=N`.
    public var summaryLine: String {
        "reconciled \(merchant) \(date): matched=\(matched) vendor_only=\(count(.vendorOnly)) "
            + "payfleet_only=\(count(.payfleetOnly)) amount_mismatch=\(count(.amountMismatch))"
    }
}

/// Matches a vendor bill against PayFleet's ledger of the same merchant and day.
///
/// Payments are matched by `out_trade_no` (the bill's amounts of one order added up): equal amounts
/// match, different amounts are `amount_mismatch`, a side alone is `vendor_only` / `payfleet_only`.
/// A payment the vendor lists as revoked (storepos 撤单) that PayFleet reported `succeeded` is
/// `payfleet_only`. Refunds are matched by `out_refund_no` where both sides carry it, else (a bill
/// that lists refunds without the merchant's refund number, as storepos's `return_amount`) by the
/// order's refunded total of the day.
public enum Reconciler {
    public static func reconcile(
        bill: VendorBill, ledger: [LedgerEntry], merchant: String
    ) -> ReconciliationReport {
        var matched = 0
        var discrepancies: [Discrepancy] = []

        // Payments.
        var vendorPaid: [String: (amount: Money, transactionID: String?, status: String)] = [:]
        var vendorRevoked: [String: VendorBillRow] = [:]
        for row in bill.rows {
            switch row.status {
            case .paid:
                let existing = vendorPaid[row.outTradeNo]
                vendorPaid[row.outTradeNo] = (
                    (existing?.amount ?? .zero) + row.amount, existing?.transactionID ?? row.transactionID,
                    row.vendorStatus
                )
            case .revoked: vendorRevoked[row.outTradeNo] = row
            case .refunded: break
            }
        }
        var payfleetPaid: [String: (amount: Money, transactionID: String?)] = [:]
        for entry in ledger where entry.kind == .payment {
            let existing = payfleetPaid[entry.outTradeNo]
            payfleetPaid[entry.outTradeNo] = (
                (existing?.amount ?? .zero) + entry.amount, existing?.transactionID ?? entry.transactionID
            )
        }
        for outTradeNo in Set(vendorPaid.keys).union(payfleetPaid.keys).sorted() {
            let vendor = vendorPaid[outTradeNo]
            let payfleet = payfleetPaid[outTradeNo]
            var item = Discrepancy(
                kind: .amountMismatch, entry: .payment, outTradeNo: outTradeNo,
                vendorAmountFen: vendor?.amount.fen, payfleetAmountFen: payfleet?.amount.fen,
                vendorTransactionID: vendor?.transactionID, payfleetTransactionID: payfleet?.transactionID,
                vendorStatus: vendor?.status, detail: "")
            switch (vendor, payfleet) {
            case (let vendor?, let payfleet?):
                if vendor.amount == payfleet.amount {
                    matched += 1
                    continue
                }
                item.detail =
                    "the bill lists \(vendor.amount.yuanString) yuan, PayFleet \(payfleet.amount.yuanString) yuan"
            case (_?, nil):
                item.kind = .vendorOnly
                item.detail = "paid in the bill, no payfleet.payment.succeeded for this merchant and day"
            case (nil, _?):
                item.kind = .payfleetOnly
                if let revoked = vendorRevoked[outTradeNo] {
                    item.vendorStatus = revoked.vendorStatus
                    item.vendorAmountFen = revoked.amount.fen
                    item.detail = "succeeded in PayFleet, revoked (撤单) in the bill"
                } else {
                    item.detail = "succeeded in PayFleet, not paid in the bill"
                }
            case (nil, nil):
                continue
            }
            discrepancies.append(item)
        }

        // Refunds.
        let vendorRefunds = bill.rows.filter { $0.status == .refunded }
        let payfleetRefunds = ledger.filter { $0.kind == .refund }
        var payfleetByNumber: [String: LedgerEntry] = [:]
        for entry in payfleetRefunds { if let number = entry.outRefundNo { payfleetByNumber[number] = entry } }
        var usedPayFleet: Set<String> = []
        var anonymousVendor: [String: Money] = [:]
        var numberedVendor: [String: VendorBillRow] = [:]
        for row in vendorRefunds {
            if let number = row.outRefundNo {
                var merged = numberedVendor[number] ?? row
                if numberedVendor[number] != nil { merged.amount = merged.amount + row.amount }
                numberedVendor[number] = merged
            } else {
                anonymousVendor[row.outTradeNo, default: .zero] =
                    anonymousVendor[row.outTradeNo, default: .zero] + row.amount
            }
        }
        for (number, row) in numberedVendor.sorted(by: { $0.key < $1.key }) {
            var item = Discrepancy(
                kind: .vendorOnly, entry: .refund, outTradeNo: row.outTradeNo, outRefundNo: number,
                vendorAmountFen: row.amount.fen, vendorTransactionID: row.transactionID,
                vendorStatus: row.vendorStatus, detail: "refunded in the bill, no payfleet.refund.succeeded")
            if let entry = payfleetByNumber[number] {
                usedPayFleet.insert(number)
                if entry.amount == row.amount {
                    matched += 1
                    continue
                }
                item.kind = .amountMismatch
                item.payfleetAmountFen = entry.amount.fen
                item.detail = "the bill refunds \(row.amount.yuanString) yuan, PayFleet \(entry.amount.yuanString) yuan"
            }
            discrepancies.append(item)
        }
        // Refunds the bill lists without a refund number: compare per order.
        var payfleetRemaining: [String: [LedgerEntry]] = [:]
        for entry in payfleetRefunds where entry.outRefundNo.map({ !usedPayFleet.contains($0) }) ?? true {
            payfleetRemaining[entry.outTradeNo, default: []].append(entry)
        }
        for outTradeNo in Set(anonymousVendor.keys).union(payfleetRemaining.keys).sorted() {
            let vendor = anonymousVendor[outTradeNo]
            let entries = payfleetRemaining[outTradeNo] ?? []
            let payfleet = entries.isEmpty ? nil : entries.reduce(Money.zero) { $0 + $1.amount }
            var item = Discrepancy(
                kind: .amountMismatch, entry: .refund, outTradeNo: outTradeNo,
                outRefundNo: entries.compactMap(\.outRefundNo).sorted().first, vendorAmountFen: vendor?.fen,
                payfleetAmountFen: payfleet?.fen, detail: "")
            switch (vendor, payfleet) {
            case (let vendor?, let payfleet?):
                if vendor == payfleet {
                    matched += 1
                    continue
                }
                item.detail =
                    "the bill refunds \(vendor.yuanString) yuan for this order, PayFleet \(payfleet.yuanString) yuan"
            case (_?, nil):
                item.kind = .vendorOnly
                item.detail = "refunded in the bill, no payfleet.refund.succeeded for this order and day"
            case (nil, _?):
                item.kind = .payfleetOnly
                item.detail = "payfleet.refund.succeeded, no refund in the bill"
            case (nil, nil):
                continue
            }
            discrepancies.append(item)
        }
        return ReconciliationReport(
            merchant: merchant, channel: bill.channel, date: bill.date, matched: matched,
            discrepancies: discrepancies, vendorRows: bill.rows.count, payfleetEntries: ledger.count)
    }
}
