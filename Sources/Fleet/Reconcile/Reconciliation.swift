import Foundation
import Kafka
import Logging
import Payments

/// `payfleet reconcile`: download a merchant's bill of one China-time day, read the day's events
/// from `payfleet.payment-events`, match them and publish `payfleet.reconciliation.completed`.
public enum Reconciliation {
    /// What a run ended with.
    public enum Outcome: Sendable {
        /// The bill was read and matched (clean or not).
        case reconciled(ReconciliationReport)
        /// Reconciling was not possible: the reason (bill not available yet, vendor error, a channel
        /// without a bill, an unknown merchant, a day that has not begun).
        case cannotReconcile(String)
    }

    /// Reconciles `merchant` for `date`.
    ///
    /// - Parameters:
    ///   - publish: write `payfleet.reconciliation.completed` with the counts after a reconciled run.
    /// - Throws: Kafka errors (broker unreachable, reading the topic timed out).
    public static func run(
        merchant: String, date: BillDate, directory: MerchantDirectory, kafka: KafkaConfiguration, http: VendorHTTP,
        logger: Logger, publish: Bool = true, now: Date = Date(), timeout: Duration = .seconds(60)
    ) async throws -> Outcome {
        guard let account = directory.account(merchant) else {
            return .cannotReconcile("merchant \(merchant) is not in the merchants file")
        }
        guard date <= BillDate(containing: now) else {
            return .cannotReconcile("bill not available yet: \(date) has not begun in China time (GMT+8)")
        }
        let channel: any PaymentChannel
        do throws(ChannelError) {
            channel = try ChannelRegistry.makeChannel(account: account, http: http, logger: logger)
        } catch {
            return .cannotReconcile("merchant \(merchant): \(error.message)")
        }
        guard let billing = channel as? any BillingChannel else {
            return .cannotReconcile(
                "channel \(account.channel.rawValue) has no bill download: no citable source documents one")
        }
        let bill: VendorBill
        do throws(BillError) {
            bill = try await billing.downloadBill(date: date)
        } catch {
            return .cannotReconcile(error.description)
        }
        let records = try await TopicSnapshot.read(
            topics: [FleetTopic.paymentEvents], kafka: kafka, logger: logger, timeout: timeout)
        let ledger = PayFleetLedger.entries(
            records: records[FleetTopic.paymentEvents] ?? [], merchant: merchant, date: date)
        let report = Reconciler.reconcile(bill: bill, ledger: ledger, merchant: merchant)
        if publish {
            var configuration = kafka
            configuration.clientID = "payfleet-reconcile"
            try await withKafkaProducer(configuration: KafkaProducerConfiguration(kafka: configuration), logger: logger)
            {
                producer in
                _ = try await producer.send(ReconciliationEvent.message(report, time: now))
            }
        }
        return .reconciled(report)
    }
}

/// `payfleet.reconciliation.completed` on `payfleet.payment-events`: a CloudEvent like the order
/// events (binary mode), with `ce_source` `/payfleet/reconcile` and `ce_subject` (and key)
/// `reconciliation/<merchant>/<date>`, so no order's events are affected. `payfleet check` and the
/// order-event consumers skip it by type.
public enum ReconciliationEvent {
    public static let type = "payfleet.reconciliation.completed"
    public static let source = "/payfleet/reconcile"

    /// Whether a `ce_type` is a reconciliation event (not about one order).
    public static func isReconciliation(_ type: String) -> Bool { type.hasPrefix("payfleet.reconciliation.") }

    public static func subject(merchant: String, date: BillDate) -> String { "reconciliation/\(merchant)/\(date)" }

    public static func data(_ report: ReconciliationReport) -> [String: JSONValue] {
        [
            "merchant": .string(report.merchant), "channel": .string(report.channel.rawValue),
            "date": .string(report.date.description), "matched": .integer(Int64(report.matched)),
            "vendor_only": .integer(Int64(report.count(.vendorOnly))),
            "payfleet_only": .integer(Int64(report.count(.payfleetOnly))),
            "amount_mismatch": .integer(Int64(report.count(.amountMismatch))),
            "result": .string(report.isClean ? "matched" : "discrepancies"),
        ]
    }

    /// The record: deterministic `ce_id` over merchant, date and counts, so repeating an identical
    /// run repeats the same id.
    public static func message(
        _ report: ReconciliationReport, time: Date, topic: String = FleetTopic.paymentEvents
    ) -> KafkaProducerMessage {
        let key = Self.subject(merchant: report.merchant, date: report.date)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let value = (try? encoder.encode(JSONValue.object(Self.data(report)))) ?? Data("{}".utf8)
        let id = ContentDigest.sha256Hex("\(key)|\(type)|\(String(decoding: value, as: UTF8.self))")
        let headers = [
            KafkaHeader(key: "ce_id", string: id),
            KafkaHeader(key: "ce_source", string: source),
            KafkaHeader(key: "ce_type", string: type),
            KafkaHeader(key: "ce_specversion", string: PaymentEvent.specVersion),
            KafkaHeader(key: "ce_time", string: RFC3339.format(time)),
            KafkaHeader(key: "ce_subject", string: key),
            KafkaHeader(key: "content-type", string: "application/json"),
            KafkaHeader(key: "ce_dataschema", string: PaymentEvent.dataSchema),
        ]
        return KafkaProducerMessage(topic: topic, key: key, value: value, headers: headers)
    }
}
