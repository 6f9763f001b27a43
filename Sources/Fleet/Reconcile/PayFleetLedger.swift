import Foundation
import Kafka
import Payments

/// What PayFleet says moved for a merchant on one day: the `succeeded` payments and, once refunds
/// exist, the `payfleet.refund.succeeded` refunds on `payfleet.payment-events`.
public struct LedgerEntry: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case payment
        case refund
    }

    public var kind: Kind
    /// The `out_trade_no` the vendor's bill lists: the order's, or a combine sub-order's.
    public var outTradeNo: String
    /// The PayFleet order (the combine order for a sub-order).
    public var order: String
    public var transactionID: String?
    public var amount: Money
    public var outRefundNo: String?
    /// Payment: the vendor's paid time (else the event's time); refund: the event's time.
    public var time: Date

    public init(
        kind: Kind, outTradeNo: String, order: String, transactionID: String? = nil, amount: Money,
        outRefundNo: String? = nil, time: Date
    ) {
        self.kind = kind
        self.outTradeNo = outTradeNo
        self.order = order
        self.transactionID = transactionID
        self.amount = amount
        self.outRefundNo = outRefundNo
        self.time = time
    }
}

public enum PayFleetLedger {
    /// `payfleet.refund.succeeded` (the refund contract on `payfleet.payment-events`).
    public static let refundSucceededType = "payfleet.refund.succeeded"

    /// The merchant's payments and refunds of `date` (GMT+8) from `payfleet.payment-events` records.
    ///
    /// A payment belongs to the day its `paid_at` falls on (the vendor's payment time, which is what
    /// the bill lists it by), else its `ce_time`; a refund to the day of its `refunded_at` /
    /// `succeeded_at`, else its `ce_time`, with its `refund_amount_fen` (an event without it is left
    /// out). Repeated events (a replay repeats `ce_id`) count once. A
    /// combine payment is listed per sub-order (`sub_payments`), as WeChat's bill lists it.
    public static func entries(records: [KafkaConsumerMessage], merchant: String, date: BillDate) -> [LedgerEntry] {
        entries(
            events: records.compactMap { ReceivedPaymentEvent(headers: $0.headers, value: $0.value) },
            merchant: merchant, date: date)
    }

    public static func entries(events: [ReceivedPaymentEvent], merchant: String, date: BillDate) -> [LedgerEntry] {
        var seen: Set<String> = []
        var refunds: Set<String> = []
        var entries: [LedgerEntry] = []
        for event in events where event.data["merchant"]?.stringValue == merchant {
            guard seen.insert(event.id).inserted else { continue }
            switch event.type {
            case PaymentEvent.Kind.succeeded.rawValue:
                let time = event.data["paid_at"]?.stringValue.flatMap(RFC3339.parse) ?? event.time
                guard let time, date.contains(time) else { continue }
                let subPayments = event.data["sub_payments"]?.arrayValue ?? []
                if !subPayments.isEmpty {
                    for sub in subPayments {
                        guard let outTradeNo = sub["out_trade_no"]?.stringValue,
                            let fen = sub["amount_fen"]?.integerValue
                        else { continue }
                        entries.append(
                            LedgerEntry(
                                kind: .payment, outTradeNo: outTradeNo, order: event.subject,
                                transactionID: sub["transaction_id"]?.stringValue, amount: Money(fen: fen),
                                time: time))
                    }
                    continue
                }
                guard let fen = event.data["paid_amount_fen"]?.integerValue ?? event.data["amount_fen"]?.integerValue
                else { continue }
                entries.append(
                    LedgerEntry(
                        kind: .payment, outTradeNo: event.subject, order: event.subject,
                        transactionID: event.data["transaction_id"]?.stringValue, amount: Money(fen: fen), time: time))
            case refundSucceededType:
                let outRefundNo = event.data["out_refund_no"]?.stringValue
                // Exactly one succeeded per out_refund_no; a repeat with another ce_id still counts once.
                if let outRefundNo, !refunds.insert(outRefundNo).inserted { continue }
                let time =
                    (event.data["refunded_at"]?.stringValue ?? event.data["succeeded_at"]?.stringValue)
                    .flatMap(RFC3339.parse) ?? event.time
                guard let time, date.contains(time) else { continue }
                // The refund's amount; the event's `amount_fen` is the order's, never the refund's.
                guard let fen = event.data["refund_amount_fen"]?.integerValue else { continue }
                entries.append(
                    LedgerEntry(
                        kind: .refund, outTradeNo: event.subject, order: event.subject,
                        transactionID: event.data["transaction_id"]?.stringValue, amount: Money(fen: fen),
                        outRefundNo: outRefundNo, time: time))
            default:
                continue
            }
        }
        return entries
    }
}
