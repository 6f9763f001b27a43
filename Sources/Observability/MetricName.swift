/// Every metric name PayFleet exports on `/metrics`, in one table so that dashboards, alerts and
/// code agree (docs/operations.md lists the same table).
///
/// Names follow the OpenTelemetry messaging conventions mapped to Prometheus: base units, `_total`
/// on counters, bounded label values, never an order id in a label. Each metric has exactly one
/// label set (``MetricDefinition/labels``); a label that does not apply to a sample is written
/// with the empty value, which Prometheus treats as an absent label.
public enum MetricName {
    // MARK: Kafka client (worker and scheduler)

    /// Counter: messages read from Kafka.
    public static let consumedMessages = "messaging_client_consumed_messages_total"
    /// Counter: messages written to Kafka (acknowledged by the broker, or failed with `error_type`).
    public static let sentMessages = "messaging_client_sent_messages_total"
    /// Histogram (seconds): handling one consumed message.
    public static let processDuration = "messaging_process_duration_seconds"

    // MARK: Every role

    /// Counter: records written to `payfleet.dead-letters`.
    public static let deadLetters = "payfleet_dead_letters_total"

    // MARK: Worker

    /// Histogram (seconds): one vendor call.
    public static let vendorCallDuration = "payfleet_vendor_call_duration_seconds"
    /// Counter: callbacks checked by the worker.
    public static let workerCallbacks = "payfleet_worker_callbacks_total"
    /// Counter: payment events published.
    public static let paymentEvents = "payfleet_payment_events_total"
    /// Counter: inputs found on a partition that does not own their key and forwarded to the owner.
    public static let requestsRerouted = "payfleet_requests_rerouted_total"
    /// Counter: order-state records read while restoring a partition's orders.
    public static let workerRestoredRecords = "payfleet_worker_restored_records_total"
    /// Counter (seconds): time spent restoring partitions' orders from `payfleet.order-state`.
    public static let workerRestoreSeconds = "payfleet_worker_restore_seconds_total"
    /// Gauge: orders held in memory by the worker, by state class.
    public static let workerOrders = "payfleet_worker_orders"
    /// Counter: the worker's output transactions, by outcome (`committed`, `aborted`).
    public static let workerTransactions = "payfleet_worker_transactions_total"
    /// Counter: writes refused because their partition was revoked (late work of a former owner).
    public static let workerFencedWrites = "payfleet_worker_fenced_writes_total"
    /// Gauge: messages of the worker's assigned input partitions not yet committed, per topic.
    public static let workerConsumerLag = "payfleet_worker_consumer_lag"

    // MARK: Vendor clients

    /// Counter: vendor answer messages no table entry explains (the order is queried later).
    public static let vendorUnmatchedMessages = "payfleet_vendor_unmatched_messages_total"

    // MARK: Ingress

    /// Counter: vendor callbacks received by the ingress.
    public static let ingressCallbacks = "payfleet_ingress_callbacks_total"
    /// Counter: refused callbacks not written to dead-letters because their merchant's sample budget
    /// for the minute was spent.
    public static let ingressSamplesDropped = "payfleet_ingress_dead_letter_samples_dropped_total"
    /// Histogram (seconds): from receiving a callback to answering it.
    public static let ingressAckDuration = "payfleet_ingress_ack_duration_seconds"

    // MARK: Scheduler

    /// Histogram (seconds): how late the scheduler emitted a due job (emission time − due time).
    public static let schedulerLateness = "payfleet_scheduler_lateness_seconds"
    /// Gauge: timer jobs not yet emitted, as consumer lag of the delay topics.
    public static let timersPending = "payfleet_scheduler_timers_pending"
    /// Counter: timer jobs handled by the scheduler.
    public static let schedulerJobs = "payfleet_scheduler_jobs_total"
    /// Gauge: partitions currently paused by the scheduler because their head is not due.
    public static let schedulerPausedPartitions = "payfleet_scheduler_paused_partitions"
    /// Counter: `payfleet.reconciliation.completed` events the scheduler read, by outcome.
    public static let reconciliations = "payfleet_reconciliations_total"
    /// Counter: discrepancies those events reported, by kind.
    public static let reconciliationDiscrepancies = "payfleet_reconciliation_discrepancies_total"
}

/// The label names of PayFleet's metrics (bounded values only).
public enum MetricLabel: String, Sendable, CaseIterable {
    /// Always `kafka`.
    case messagingSystem = "messaging_system"
    /// A Kafka topic name.
    case messagingDestinationName = "messaging_destination_name"
    /// The consumer group id of the role.
    case messagingConsumerGroupName = "messaging_consumer_group_name"
    /// A Kafka error code name on a failed write; empty on success.
    case errorType = "error_type"
    /// A dead-letter or refusal reason (`bad_signature`, `malformed_json`, …).
    case reason
    /// The role that wrote a dead letter (`worker`, `ingress`, `scheduler`).
    case role
    /// A payment channel id, or `unknown`.
    case channel
    /// A vendor operation (`create`, `query`, `close`).
    case operation
    /// How a vendor call or a callback ended.
    case outcome
    /// What the worker found checking a callback (`verified`, `bad_signature`, …).
    case result
    /// A payment event's short type (`prepared`, `succeeded`, …).
    case type
    /// A Kafka topic name (business metrics).
    case topic
    /// A delay tier name (`5s`, …, `4h`).
    case tier
    /// What the scheduler did with a timer job (`emitted`, `hopped`, `invalid`).
    case action
    /// An order's state class (`live`, `terminal`).
    case state
}

/// One exported metric: its name, type, unit and its one label set.
public struct MetricDefinition: Sendable, Hashable, CustomStringConvertible {
    /// The Prometheus type.
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    public let name: String
    public let kind: Kind
    /// `1` for counts, `seconds` for durations.
    public let unit: String
    /// The label names every sample carries, in order.
    public let labels: [MetricLabel]
    /// What the metric counts or measures.
    public let help: String

    public init(_ name: String, _ kind: Kind, unit: String, labels: [MetricLabel], help: String) {
        self.name = name
        self.kind = kind
        self.unit = unit
        self.labels = labels
        self.help = help
    }

    public var description: String {
        "\(name){\(labels.map(\.rawValue).joined(separator: ","))} \(kind.rawValue) (\(unit))"
    }

    /// The names of the label set.
    public var labelNames: [String] { labels.map(\.rawValue) }
}

extension MetricDefinition {
    private static let kafkaConsumer: [MetricLabel] = [
        .messagingSystem, .messagingDestinationName, .messagingConsumerGroupName,
    ]

    public static let consumedMessages = MetricDefinition(
        MetricName.consumedMessages, .counter, unit: "1", labels: kafkaConsumer,
        help: "Messages read from Kafka (worker inputs, scheduler delay tiers).")
    public static let sentMessages = MetricDefinition(
        MetricName.sentMessages, .counter, unit: "1",
        labels: [.messagingSystem, .messagingDestinationName, .errorType],
        help: "Messages written to Kafka: acknowledged (empty error_type) or failed (the Kafka error code name).")
    public static let processDuration = MetricDefinition(
        MetricName.processDuration, .histogram, unit: "seconds", labels: kafkaConsumer,
        help: "Handling one consumed message by the worker, from dispatch to its outputs acknowledged.")
    public static let deadLetters = MetricDefinition(
        MetricName.deadLetters, .counter, unit: "1", labels: [.reason, .role],
        help: "Records written to payfleet.dead-letters, by reason and by the role that wrote them.")
    public static let vendorCallDuration = MetricDefinition(
        MetricName.vendorCallDuration, .histogram, unit: "seconds", labels: [.channel, .operation, .outcome],
        help: "One vendor call; outcome is ok or the channel error code.")
    public static let workerCallbacks = MetricDefinition(
        MetricName.workerCallbacks, .counter, unit: "1", labels: [.channel, .result],
        help: "Callbacks checked by the worker: verified, or why not.")
    public static let paymentEvents = MetricDefinition(
        MetricName.paymentEvents, .counter, unit: "1", labels: [.type],
        help: "Payment events published (acknowledged).")
    public static let requestsRerouted = MetricDefinition(
        MetricName.requestsRerouted, .counter, unit: "1", labels: [.topic],
        help: "Inputs on a partition that does not own their key, forwarded to the owning partition.")
    public static let workerRestoredRecords = MetricDefinition(
        MetricName.workerRestoredRecords, .counter, unit: "1", labels: [],
        help: "Order-state records read while restoring assigned partitions.")
    public static let workerRestoreSeconds = MetricDefinition(
        MetricName.workerRestoreSeconds, .counter, unit: "seconds", labels: [],
        help: "Time spent restoring assigned partitions' orders.")
    public static let workerOrders = MetricDefinition(
        MetricName.workerOrders, .gauge, unit: "1", labels: [.state],
        help: "Orders held in memory by the worker: live or terminal.")
    public static let workerTransactions = MetricDefinition(
        MetricName.workerTransactions, .counter, unit: "1", labels: [.outcome],
        help: "Output transactions of the worker (outputs plus input offsets): committed or aborted.")
    public static let workerFencedWrites = MetricDefinition(
        MetricName.workerFencedWrites, .counter, unit: "1", labels: [],
        help: "Writes refused because their partition had been revoked from the worker (late work fenced).")
    public static let workerConsumerLag = MetricDefinition(
        MetricName.workerConsumerLag, .gauge, unit: "1", labels: [.topic],
        help: "Messages of the assigned input partitions not yet committed (high watermark minus committed offset).")
    public static let vendorUnmatchedMessages = MetricDefinition(
        MetricName.vendorUnmatchedMessages, .counter, unit: "1", labels: [.channel],
        help: "Vendor answer messages no table entry explains; the order is queried later.")
    public static let ingressCallbacks = MetricDefinition(
        MetricName.ingressCallbacks, .counter, unit: "1", labels: [.channel, .outcome, .reason],
        help: "Callbacks received by the ingress; reason is set for rejected and unroutable ones.")
    public static let ingressSamplesDropped = MetricDefinition(
        MetricName.ingressSamplesDropped, .counter, unit: "1", labels: [.reason],
        help: "Refused callbacks not sampled to dead-letters because the merchant's budget was spent.")
    public static let ingressAckDuration = MetricDefinition(
        MetricName.ingressAckDuration, .histogram, unit: "seconds", labels: [.channel],
        help: "From receiving a callback to answering it.")
    public static let schedulerLateness = MetricDefinition(
        MetricName.schedulerLateness, .histogram, unit: "seconds", labels: [],
        help: "How late a due timer job was emitted (emission time minus due time).")
    public static let timersPending = MetricDefinition(
        MetricName.timersPending, .gauge, unit: "1", labels: [.tier],
        help: "Timer jobs not yet emitted (consumer lag of the delay topic).")
    public static let schedulerJobs = MetricDefinition(
        MetricName.schedulerJobs, .counter, unit: "1", labels: [.tier, .action],
        help: "Timer jobs handled by the scheduler: emitted, hopped to a shorter tier, or invalid.")
    public static let schedulerPausedPartitions = MetricDefinition(
        MetricName.schedulerPausedPartitions, .gauge, unit: "1", labels: [],
        help: "Delay partitions paused because their head is not due.")
    public static let reconciliations = MetricDefinition(
        MetricName.reconciliations, .counter, unit: "1", labels: [.outcome],
        help: "Reconciliation results read from payfleet.reconciliation.completed events: matched or discrepancies.")
    public static let reconciliationDiscrepancies = MetricDefinition(
        MetricName.reconciliationDiscrepancies, .counter, unit: "1", labels: [.reason],
        help: "Discrepancies reported by reconciliation results: vendor_only, payfleet_only, amount_mismatch.")

    /// Every metric PayFleet exports.
    public static let all: [MetricDefinition] = [
        consumedMessages, sentMessages, processDuration, deadLetters,
        vendorCallDuration, workerCallbacks, paymentEvents, requestsRerouted,
        workerRestoredRecords, workerRestoreSeconds, workerOrders, workerTransactions, workerFencedWrites,
        workerConsumerLag, vendorUnmatchedMessages,
        ingressCallbacks, ingressSamplesDropped, ingressAckDuration,
        schedulerLateness, timersPending, schedulerJobs, schedulerPausedPartitions,
        reconciliations, reconciliationDiscrepancies,
    ]

    /// The definition named `name`, if it is in the table.
    public static func named(_ name: String) -> MetricDefinition? {
        all.first { $0.name == name }
    }
}

/// The role that writes a record (the `role` label of `payfleet_dead_letters_total`).
public enum ServiceRole: String, Sendable, CaseIterable {
    case worker, ingress, scheduler
}
