import Foundation
import Kafka
import Payments
import Testing

@testable import Fleet

/// The matcher and the ledger read from payment events, without I/O.
@Suite struct ReconcilerTests {
    static let day = BillDate("2026-11-30")!
    /// 2026-11-30 12:00 in China time.
    static let noon = ChinaTime.parse("2026-11-30 12:00:00", "yyyy-MM-dd HH:mm:ss")!

    static func payment(_ number: String, _ fen: Int64, at time: Date = ReconcilerTests.noon) -> LedgerEntry {
        LedgerEntry(
            kind: .payment, outTradeNo: number, order: number, transactionID: "T\(number)", amount: Money(fen: fen),
            time: time)
    }

    static func row(
        _ number: String, _ fen: Int64, _ status: VendorBillRow.Status = .paid, refund: String? = nil
    )
        -> VendorBillRow
    {
        VendorBillRow(
            status: status, outTradeNo: number, transactionID: "T\(number)", amount: Money(fen: fen),
            outRefundNo: refund,
            vendorStatus: status.rawValue)
    }

    @Test func everyKindOfDifference() {
        let bill = VendorBill(
            channel: .storepos, date: Self.day,
            rows: [Self.row("A1", 100), Self.row("A2", 200), Self.row("A3", 300), Self.row("A5", 500, .revoked)])
        let ledger = [
            Self.payment("A1", 100), Self.payment("A2", 250), Self.payment("A4", 400), Self.payment("A5", 500),
        ]
        let report = Reconciler.reconcile(bill: bill, ledger: ledger, merchant: "shop")
        #expect(report.matched == 1)
        #expect(report.count(.amountMismatch) == 1)
        #expect(report.count(.vendorOnly) == 1)
        #expect(report.count(.payfleetOnly) == 2)
        #expect(
            report.discrepancies.map { "\($0.kind.rawValue):\($0.outTradeNo)" } == [
                "amount_mismatch:A2", "vendor_only:A3", "payfleet_only:A4", "payfleet_only:A5",
            ])
        let mismatch = report.discrepancies[0]
        #expect(mismatch.vendorAmountFen == 200 && mismatch.payfleetAmountFen == 250)
        #expect(report.discrepancies[3].detail.contains("revoked"))
        #expect(
            report.summaryLine
                == "reconciled shop 2026-11-30: matched=1 vendor_only=1 payfleet_only=2 amount_mismatch=1")
        #expect(!report.isClean)
    }

    @Test func cleanDayAndRefunds() {
        // Refunds by out_refund_no (WeChat) and without it (storepos return_amount, per order).
        let bill = VendorBill(
            channel: .wechatV2, date: Self.day,
            rows: [
                Self.row("B1", 1000), Self.row("B1", 300, .refunded, refund: "R1"), Self.row("B2", 500),
                Self.row("B2", 200, .refunded), Self.row("B3", 50, .refunded, refund: "R3"),
            ])
        var ledger = [Self.payment("B1", 1000), Self.payment("B2", 500)]
        ledger.append(
            LedgerEntry(
                kind: .refund, outTradeNo: "B1", order: "B1", amount: Money(fen: 300), outRefundNo: "R1",
                time: Self.noon))
        ledger.append(
            LedgerEntry(
                kind: .refund, outTradeNo: "B2", order: "B2", amount: Money(fen: 200), outRefundNo: "R2",
                time: Self.noon))
        let report = Reconciler.reconcile(bill: bill, ledger: ledger, merchant: "shop")
        #expect(report.matched == 4)
        #expect(report.discrepancies.map(\.kind) == [.vendorOnly])
        #expect(report.discrepancies.first?.outRefundNo == "R3")
        #expect(report.discrepancies.first?.entry == .refund)

        let empty = Reconciler.reconcile(
            bill: VendorBill(channel: .yungouos, date: Self.day, rows: []), ledger: [], merchant: "shop")
        #expect(empty.isClean && empty.matched == 0)
    }

    static func event(
        _ number: String, merchant: String = "shop", paidAt: String?, time: Date = ReconcilerTests.noon,
        kind: String = "payfleet.payment.succeeded",
        extra: [String: JSONValue] = [:]
    ) -> ReceivedPaymentEvent {
        var data: [String: JSONValue] = [
            "out_trade_no": .string(number), "merchant": .string(merchant), "channel": .string("storepos"),
            "amount_fen": .integer(990), "paid_amount_fen": .integer(990), "transaction_id": .string("T\(number)"),
        ]
        if let paidAt { data["paid_at"] = .string(paidAt) }
        data.merge(extra) { $1 }
        let message = PaymentEvent(
            kind: PaymentEvent.Kind(rawValue: kind), outTradeNo: number, discriminator: "d\(number)", time: time,
            data: data
        )
        .message()
        return ReceivedPaymentEvent(headers: message.headers, value: message.value)!
    }

    @Test func theDayIsChinaTime() {
        let events = [
            // 2026-11-29T16:00:00Z is 2026-11-30 00:00 GMT+8: in the day.
            Self.event("D1", paidAt: "2026-11-29T16:00:00.000Z"),
            // 15:59:59.999Z is still 2026-11-29 23:59:59.999 GMT+8: the day before.
            Self.event("D2", paidAt: "2026-11-29T15:59:59.999Z"),
            // 2026-11-30T15:59:59Z = 23:59:59 GMT+8: in; 16:00:00Z = next day: out.
            Self.event("D3", paidAt: "2026-11-30T15:59:59.000Z"),
            Self.event("D4", paidAt: "2026-11-30T16:00:00.000Z"),
            // Without paid_at the event time decides.
            Self.event("D5", paidAt: nil, time: Self.noon),
            Self.event("D6", merchant: "other", paidAt: nil),
            Self.event("D7", paidAt: nil, kind: "payfleet.payment.closed"),
        ]
        let ledger = PayFleetLedger.entries(events: events + [events[0]], merchant: "shop", date: Self.day)
        #expect(ledger.map(\.outTradeNo) == ["D1", "D3", "D5"])
        #expect(ledger.allSatisfy { $0.amount == Money(fen: 990) && $0.kind == .payment })
        #expect(Self.day.contains(ChinaTime.parse("2026-11-30 00:00:00", "yyyy-MM-dd HH:mm:ss")!))
        #expect(!Self.day.contains(ChinaTime.parse("2026-12-01 00:00:00", "yyyy-MM-dd HH:mm:ss")!))
        #expect(Self.day.previous.description == "2026-11-29")
        #expect(BillDate("2026-02-30") == nil && BillDate("2026-1-30") == nil && BillDate("20261130") == nil)
    }

    @Test func combineSubPaymentsAndRefundEvents() {
        let combine = Self.event(
            "C1", paidAt: "2026-11-30T04:00:00.000Z",
            extra: [
                "amount_fen": .integer(100),
                "sub_payments": .array([
                    .object([
                        "out_trade_no": .string("C1S0"), "amount_fen": .integer(70), "transaction_id": .string("X0"),
                    ]),
                    .object(["out_trade_no": .string("C1S1"), "amount_fen": .integer(30)]),
                ]),
            ])
        let refund = Self.event(
            "C2", paidAt: nil, kind: PayFleetLedger.refundSucceededType,
            extra: ["out_refund_no": .string("RF1"), "amount_fen": .integer(120)])
        let ledger = PayFleetLedger.entries(events: [combine, refund, refund], merchant: "shop", date: Self.day)
        #expect(ledger.map(\.outTradeNo) == ["C1S0", "C1S1", "C2"])
        #expect(ledger.map(\.amount.fen) == [70, 30, 120])
        #expect(ledger[2].kind == .refund && ledger[2].outRefundNo == "RF1")
        #expect(ledger[0].order == "C1")
    }

    @Test func eventAndFormats() throws {
        let report = Reconciler.reconcile(
            bill: VendorBill(channel: .storepos, date: Self.day, rows: [Self.row("A1", 100), Self.row("A,2", 5)]),
            ledger: [Self.payment("A1", 100)], merchant: "shop")
        let message = ReconciliationEvent.message(report, time: Self.noon)
        let event = try #require(ReceivedPaymentEvent(headers: message.headers, value: message.value))
        #expect(event.type == "payfleet.reconciliation.completed")
        #expect(event.source == "/payfleet/reconcile")
        #expect(event.subject == "reconciliation/shop/2026-11-30")
        #expect(event.data["matched"] == .integer(1))
        #expect(event.data["vendor_only"] == .integer(1))
        #expect(event.data["result"] == .string("discrepancies"))
        // A repeated identical run repeats the id.
        #expect(ReconciliationEvent.message(report, time: Date()).headers.string("ce_id") == event.id)

        let csv = ReconciliationFormat.csv(report)
        #expect(csv.hasPrefix("kind,entry,out_trade_no,"))
        #expect(csv.contains("vendor_only,payment,\"A,2\",,5,"))
        let json =
            try JSONSerialization.jsonObject(with: Data(ReconciliationFormat.json(report).utf8)) as? [String: Any]
        #expect(json?["vendor_only"] as? Int == 1)
        #expect((json?["discrepancies"] as? [[String: Any]])?.first?["out_trade_no"] as? String == "A,2")
        #expect(
            ReconciliationFormat.line(report.discrepancies[0]).hasPrefix(
                "vendor_only payment A,2 vendor=0.05 payfleet=-"))
    }
}
