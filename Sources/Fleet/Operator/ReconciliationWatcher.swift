import Foundation
import Kafka
import Logging
import Metrics
import Observability
import ServiceLifecycle

/// Turns `payfleet.reconciliation.completed` events into metrics, so alerts can see reconciliation
/// discrepancies without a Pushgateway: `payfleet reconcile` runs as a short-lived CronJob that
/// Prometheus cannot scrape, but it publishes its result as a CloudEvent on
/// `payfleet.payment-events`, and the scheduler (a long-running role) counts it.
///
/// Counted: `payfleet_reconciliations_total{outcome}` (`matched`, or `discrepancies` when any count
/// is non-zero) and `payfleet_reconciliation_discrepancies_total{reason}` increased by the event's
/// `vendor_only`, `payfleet_only` and `amount_mismatch` counts. The consumer has its own group
/// (`<scheduler group>-reconciliation`), stores the offset of every event it read, and a new group
/// starts at the end of the topic (only results published from then on are counted). Replicas share
/// the group, so each event is counted once across the fleet (`sum` over instances).
public final class ReconciliationWatcher: Service, Sendable {
    /// The CloudEvents type the reconcile command publishes.
    public static let eventType = "payfleet.reconciliation.completed"
    /// The event data fields holding discrepancy counts; each is a `reason` label value.
    public static let discrepancyFields = ["vendor_only", "payfleet_only", "amount_mismatch"]

    private let kafka: KafkaConfiguration
    private let groupID: String
    private let topic: String
    private let logger: Logger
    private let instruments: ReconciliationInstruments

    public init(
        kafka: KafkaConfiguration, groupID: String, topic: String = FleetTopic.paymentEvents, logger: Logger,
        instruments: ReconciliationInstruments = ReconciliationInstruments()
    ) {
        self.kafka = kafka
        self.groupID = groupID
        self.topic = topic
        self.logger = logger
        self.instruments = instruments
    }

    /// The discrepancy counts of a reconciliation result; `nil` for any other record.
    public static func discrepancies(headers: [KafkaHeader], value: Data?) -> [String: Int64]? {
        guard headers.string("ce_type") == eventType,
            let event = ReceivedPaymentEvent(headers: headers, value: value)
        else { return nil }
        var counts: [String: Int64] = [:]
        for field in discrepancyFields {
            switch event.data[field] {
            case .integer(let count)?: counts[field] = max(0, count)
            case .number(let count)? where count.isFinite && count >= 0: counts[field] = Int64(count)
            default: counts[field] = 0
            }
        }
        return counts
    }

    /// Counts one record (ignored unless it is a reconciliation result).
    public func record(headers: [KafkaHeader], value: Data?) {
        guard let counts = Self.discrepancies(headers: headers, value: value) else { return }
        instruments.completed(counts)
        if counts.values.contains(where: { $0 > 0 }) {
            logger.warning(
                "reconciliation reported discrepancies",
                metadata: counts.mapValues { "\($0)" }.reduce(into: Logger.Metadata()) {
                    $0[$1.key] = .string($1.value)
                })
        }
    }

    public func run() async throws {
        var consumerKafka = kafka
        consumerKafka.clientID = kafka.clientID + "-reconciliation"
        if consumerKafka.properties["auto.offset.reset"] == nil {
            consumerKafka.properties["auto.offset.reset"] = "latest"
        }
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(kafka: consumerKafka, groupID: groupID, messageBufferSize: 500),
            logger: logger)
        do {
            try consumer.subscribe(topics: [topic])
        } catch {
            await consumer.close(timeout: .seconds(1))
            throw error
        }
        // A read that fails for good stops the role (it exits non-zero and is restarted) rather
        // than leaving the alert without data.
        var failure: (any Error)?
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                do {
                    for try await message in consumer.messages {
                        record(headers: message.headers, value: message.value)
                        try? consumer.storeOffset(message)
                    }
                } catch is CancellationError {
                    // Shutting down.
                } catch {
                    failure = error
                    logger.error("reconciliation watcher stopped reading", metadata: [LogKey.error: "\(error)"])
                }
            } onGracefulShutdown: {
                Task { await consumer.close(timeout: .seconds(5)) }
            }
        } onCancel: {
            Task { await consumer.close(timeout: .seconds(5)) }
        }
        await consumer.close(timeout: .seconds(5))
        if let failure { throw failure }
    }
}

/// The reconciliation metrics, built once from the metrics backend.
public struct ReconciliationInstruments: Sendable {
    private let runs: InstrumentFamily<String, Counter>
    private let discrepancies: InstrumentFamily<String, Counter>

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        runs = MetricDefinition.reconciliations.counters(factory: factory) { (outcome: String) in [outcome] }
        discrepancies = MetricDefinition.reconciliationDiscrepancies.counters(factory: factory) {
            (reason: String) in [reason]
        }
    }

    /// One reconciliation result with its discrepancy counts per reason.
    func completed(_ counts: [String: Int64]) {
        runs[counts.values.contains { $0 > 0 } ? "discrepancies" : "matched"].increment()
        for field in ReconciliationWatcher.discrepancyFields {
            discrepancies[field].increment(by: counts[field] ?? 0)
        }
    }
}
