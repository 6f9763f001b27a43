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
        // A refund event carries the order's amount_fen (990) and the refund's refund_amount_fen.
        let refund = Self.event(
            "C2", paidAt: nil, kind: PayFleetLedger.refundSucceededType,
            extra: ["out_refund_no": .string("RF1"), "refund_amount_fen": .integer(120)])
        // The same refund again under another ce_id still counts once.
        let repeated = Self.event(
            "C2", paidAt: nil, time: Self.noon.addingTimeInterval(60), kind: PayFleetLedger.refundSucceededType,
            extra: ["out_refund_no": .string("RF1"), "refund_amount_fen": .integer(120)])
        // Refunded on the next day (GMT+8): not in this day's ledger.
        let tomorrow = Self.event(
            "C3", paidAt: nil, kind: PayFleetLedger.refundSucceededType,
            extra: [
                "out_refund_no": .string("RF2"), "refund_amount_fen": .integer(50),
                "refunded_at": .string("2026-11-30T16:00:00.000Z"),
            ])
        // Without refund_amount_fen the event is not read as a refund of the order's amount.
        let noAmount = Self.event(
            "C4", paidAt: nil, kind: PayFleetLedger.refundSucceededType, extra: ["out_refund_no": .string("RF3")])
        let ledger = PayFleetLedger.entries(
            events: [combine, refund, refund, repeated, tomorrow, noAmount], merchant: "shop", date: Self.day)
        #expect(ledger.map(\.outTradeNo) == ["C1S0", "C1S1", "C2"])
        #expect(ledger.map(\.amount.fen) == [70, 30, 120])
        #expect(ledger[2].kind == .refund && ledger[2].outRefundNo == "RF1")
        #expect(ledger[0].order == "C1")
        let nextDay = PayFleetLedger.entries(events: [tomorrow], merchant: "shop", date: BillDate("2026-12-01")!)
        #expect(nextDay.map(\.outRefundNo) == ["RF2"] && nextDay.first?.amount == Money(fen: 50))
    }

    @Test func refundsOnOneSideAndPartialRefunds() {
        func refund(_ order: String, _ number: String, _ fen: Int64) -> LedgerEntry {
            LedgerEntry(
                kind: .refund, outTradeNo: order, order: order, amount: Money(fen: fen), outRefundNo: number,
                time: Self.noon)
        }
        // storepos: one line per order, its refunds as return_amount, no refund numbers.
        let storepos = VendorBill(
            channel: .storepos, date: Self.day,
            rows: [
                Self.row("S1", 990), Self.row("S1", 700, .refunded),  // two partial refunds: 500 + 200
                Self.row("S2", 300), Self.row("S2", 300, .refunded),  // refunded at the vendor only
                Self.row("S3", 400),  // refunded in PayFleet only
                Self.row("S4", 800), Self.row("S4", 100, .refunded),  // 100 at the vendor, 150 in PayFleet
            ])
        let storeposLedger = [
            Self.payment("S1", 990), Self.payment("S2", 300), Self.payment("S3", 400), Self.payment("S4", 800),
            refund("S1", "S1-a", 500), refund("S1", "S1-b", 200), refund("S3", "S3-a", 400), refund("S4", "S4-a", 150),
        ]
        let report = Reconciler.reconcile(bill: storepos, ledger: storeposLedger, merchant: "shop")
        #expect(report.matched == 5)
        #expect(
            report.discrepancies.map { "\($0.kind.rawValue):\($0.entry.rawValue):\($0.outTradeNo)" } == [
                "vendor_only:refund:S2", "payfleet_only:refund:S3", "amount_mismatch:refund:S4",
            ])
        #expect(report.discrepancies[1].outRefundNo == "S3-a" && report.discrepancies[1].payfleetAmountFen == 400)
        #expect(report.discrepancies[2].vendorAmountFen == 100 && report.discrepancies[2].payfleetAmountFen == 150)

        // YunGouOS: one REFUND line per refund with the merchant's refund number.
        let yungouos = VendorBill(
            channel: .yungouos, date: Self.day,
            rows: [
                Self.row("Y1", 500), Self.row("Y1", 100, .refunded, refund: "Y1-a"),
                Self.row("Y1", 50, .refunded, refund: "Y1-b"), Self.row("Y2", 300),
                Self.row("Y2", 30, .refunded, refund: "Y2-a"),
            ])
        let yungouosLedger = [
            Self.payment("Y1", 500), Self.payment("Y2", 300), refund("Y1", "Y1-a", 100), refund("Y1", "Y1-b", 60),
            refund("Y2", "Y2-x", 30),
        ]
        let numbered = Reconciler.reconcile(bill: yungouos, ledger: yungouosLedger, merchant: "shop")
        #expect(numbered.matched == 3)
        #expect(
            numbered.discrepancies.map { "\($0.kind.rawValue):\($0.outRefundNo ?? "-")" } == [
                "amount_mismatch:Y1-b", "vendor_only:Y2-a", "payfleet_only:Y2-x",
            ])
        #expect(numbered.summaryLine.hasSuffix("matched=3 vendor_only=1 payfleet_only=1 amount_mismatch=1"))
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
