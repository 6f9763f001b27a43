import Foundation
import Kafka
import Payments
import Testing

@testable import Fleet

@Suite("Invariant checker: refunds")
struct RefundInvariantTests {
    static func record(_ event: PaymentEvent, offset: Int64) -> KafkaConsumerMessage {
        let message = event.message()
        return KafkaConsumerMessage(
            topic: FleetTopic.paymentEvents, partition: 0, offset: offset, key: Data(event.outTradeNo.utf8),
            value: message.value, headers: message.headers)
    }

    static func events(_ refunds: [(String, Int64, PaymentEvent.Kind, Double)]) -> [KafkaConsumerMessage] {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        var all = [
            PaymentEvent(
                kind: .succeeded, outTradeNo: "O1", discriminator: "T1", time: t0,
                data: ["out_trade_no": .string("O1"), "amount_fen": .integer(100), "paid_amount_fen": .integer(100)])
        ]
        for (number, fen, kind, seconds) in refunds {
            all.append(
                PaymentEvent(
                    kind: kind, outTradeNo: "O1", discriminator: number, time: t0 + seconds,
                    data: [
                        "out_trade_no": .string("O1"), "out_refund_no": .string(number),
                        "refund_amount_fen": .integer(fen), "refund_status": .string(kind.shortName),
                    ]))
        }
        return all.enumerated().map { record($1, offset: Int64($0)) }
    }

    @Test("refunds adding up to the payment, each finished once (a repeat with the same ce_id), are clean")
    func clean() {
        var records = Self.events([
            ("R1", 60, .refundPending, 1), ("R1", 60, .refundSucceeded, 2), ("R2", 40, .refundSucceeded, 3),
        ])
        records.append(records[2])  // the repeated terminal event of R1 (earlier ce_time, same ce_id)
        let report = InvariantChecker(requireTerminal: true).check(requests: [], events: records, callbacks: [])
        #expect(report.violations.isEmpty, "\(report.violations)")
        #expect(report.refundTerminalCounts == ["refund_succeeded": 2])
    }

    @Test("two terminal events for one out_refund_no, and refunds above the payment, are violations")
    func violations() {
        let report = InvariantChecker(requireTerminal: true).check(
            requests: [],
            events: Self.events([
                ("R1", 60, .refundSucceeded, 1), ("R1", 60, .refundFailed, 2), ("R2", 50, .refundSucceeded, 3),
            ]), callbacks: [])
        let kinds = report.violations.map(\.kind)
        #expect(kinds.contains(.multipleRefundTerminal))
        #expect(kinds.contains(.refundExceedsPaid))
    }
}
