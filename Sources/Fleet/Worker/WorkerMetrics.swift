import Metrics
import Observability
import Payments

/// The worker's instruments, built once per worker from a `MetricsFactory`: the Kafka client
/// metrics of its consumer group and the business metrics. Label values come from typed keys
/// (channels, operations, error codes, reasons, event types, the configured topics), never an
/// order id; an instrument is made the first time its key is used and cached.
struct WorkerInstruments: Sendable {
    /// What the worker found checking a callback (the `result` label).
    enum CallbackResult: Hashable, Sendable {
        /// The channel verified it.
        case verified
        /// The record could not be used (a malformed callback record, an unconfigured merchant).
        case refused(RejectionReason)
        /// The channel did not verify it (bad signature, stale timestamp, …).
        case notVerified(CallbackError.Kind)

        var label: String {
            switch self {
            case .verified: "verified"
            case .refused(let reason): reason.rawValue
            case .notVerified(let kind): kind.rawValue
            }
        }
    }

    /// A vendor operation (the `operation` label).
    enum VendorOperation: String, Hashable, Sendable {
        case create, query, close, refund
        case refundQuery = "refund_query"

        init(_ call: VendorCall) {
            switch call {
            case .create: self = .create
            case .query: self = .query
            case .close: self = .close
            case .refund: self = .refund
            case .queryRefund: self = .refundQuery
            }
        }
    }

    /// The state class of the orders a worker holds (the `state` label of `payfleet_worker_orders`).
    enum OrderStateClass: String, Hashable, Sendable, CaseIterable {
        /// Orders that can still change (created, pending, paying).
        case live
        /// Orders in a final state, kept until their time to live ends.
        case terminal
    }

    private struct VendorCallKey: Hashable, Sendable {
        var channel: ChannelID
        var operation: VendorOperation
        /// `nil` for a call that succeeded (`ok`).
        var error: ChannelError.Code?
    }

    private struct CallbackKey: Hashable, Sendable {
        /// `nil` when the callback's merchant or record could not be resolved (`unknown`).
        var channel: ChannelID?
        var result: CallbackResult
    }

    /// The Kafka client metrics (consumed, sent, process duration) of the worker's group.
    let messaging: MessagingInstruments
    private let vendorCallDuration: InstrumentFamily<VendorCallKey, Metrics.Timer>
    private let callbacks: InstrumentFamily<CallbackKey, Counter>
    private let events: InstrumentFamily<PaymentEvent.Kind, Counter>
    private let deadLetters: InstrumentFamily<RejectionReason, Counter>
    private let reroutes: InstrumentFamily<String, Counter>
    /// `payfleet_worker_restored_records_total`: order-state records read while restoring partitions.
    private let restoredRecords: InstrumentFamily<Unlabeled, Counter>
    /// `payfleet_worker_restore_seconds_total`: time spent restoring partitions' orders.
    private let restoreSeconds: InstrumentFamily<Unlabeled, FloatingPointCounter>
    /// `payfleet_worker_orders{state}`: orders held in memory, live or terminal.
    private let orders: InstrumentFamily<OrderStateClass, Gauge>
    /// `payfleet_worker_transactions_total{outcome}`: output transactions committed or aborted.
    private let transactions: InstrumentFamily<TransactionOutcome, Counter>
    /// `payfleet_worker_fenced_writes_total`: writes refused after their partition was revoked.
    private let fencedWrites: InstrumentFamily<Unlabeled, Counter>

    /// How an output transaction ended (the `outcome` label).
    enum TransactionOutcome: String, Hashable, Sendable {
        case committed, aborted
    }
    /// `payfleet_worker_consumer_lag{topic}`: uncommitted messages of the assigned input partitions.
    private let consumerLag: InstrumentFamily<String, Gauge>

    init(group: String, factory: any MetricsFactory = MetricsSystem.factory) {
        messaging = MessagingInstruments(group: group, factory: factory)
        vendorCallDuration = MetricDefinition.vendorCallDuration.timers(factory: factory) { (key: VendorCallKey) in
            [key.channel.rawValue, key.operation.rawValue, key.error?.rawValue ?? "ok"]
        }
        callbacks = MetricDefinition.workerCallbacks.counters(factory: factory) { (key: CallbackKey) in
            [key.channel?.rawValue ?? "unknown", key.result.label]
        }
        events = MetricDefinition.paymentEvents.counters(factory: factory) { (kind: PaymentEvent.Kind) in
            [kind.shortName]
        }
        deadLetters = MetricDefinition.deadLetterCounters(role: .worker, factory: factory)
        reroutes = MetricDefinition.requestsRerouted.counters(factory: factory) { (topic: String) in [topic] }
        restoredRecords = MetricDefinition.workerRestoredRecords.counters(factory: factory) { (_: Unlabeled) in [] }
        restoreSeconds = MetricDefinition.workerRestoreSeconds.floatingPointCounters(factory: factory) {
            (_: Unlabeled) in []
        }
        orders = MetricDefinition.workerOrders.gauges(factory: factory) { (state: OrderStateClass) in [state.rawValue] }
        transactions = MetricDefinition.workerTransactions.counters(factory: factory) {
            (outcome: TransactionOutcome) in [outcome.rawValue]
        }
        fencedWrites = MetricDefinition.workerFencedWrites.counters(factory: factory) { (_: Unlabeled) in [] }
        consumerLag = MetricDefinition.workerConsumerLag.gauges(factory: factory) { (topic: String) in [topic] }
    }

    func consumed(topic: String) {
        messaging.consumed(topic: topic)
    }

    func sent(topic: String, count: Int, errorType: String? = nil) {
        messaging.sent(topic: topic, count: count, errorType: errorType)
    }

    func processed(topic: String, duration: Duration) {
        messaging.processed(topic: topic, duration: duration)
    }

    /// One vendor call of `channel` answered (`error` nil) or failed with `error`, in `duration`.
    func vendorCall(channel: ChannelID, operation: VendorOperation, error: ChannelError.Code?, duration: Duration) {
        vendorCallDuration[VendorCallKey(channel: channel, operation: operation, error: error)].record(
            duration: duration)
    }

    /// One callback checked; `channel` nil when its merchant or record could not be resolved.
    func callback(channel: ChannelID?, result: CallbackResult) {
        callbacks[CallbackKey(channel: channel, result: result)].increment()
    }

    /// One input forwarded from `topic` to the partition owning its key.
    func rerouted(topic: String) {
        reroutes[topic].increment()
    }

    /// Counts the events and dead letters among `outputs`, once the broker acknowledged them.
    func acknowledged(_ outputs: [OrderOutput]) {
        for output in outputs {
            switch output {
            case .publish(let event): events[event.kind].increment()
            case .deadLetter(let reason, _): deadLetters[reason].increment()
            case .persist, .forget, .schedule: break
            }
        }
    }

    /// The orders held in memory: `live` and `terminal` ones.
    func orders(live: Int, terminal: Int) {
        orders[.live].record(live)
        orders[.terminal].record(terminal)
    }

    /// The uncommitted messages of the assigned partitions of `topic`.
    func lag(topic: String, messages: Int64) {
        consumerLag[topic].record(messages)
    }

    /// One restore of assigned partitions: `records` order-state records read in `duration`.
    func restored(records: Int, duration: Duration) {
        restoredRecords[.instance].increment(by: records)
        let parts = duration.components
        restoreSeconds[.instance].increment(by: Double(parts.seconds) + Double(parts.attoseconds) / 1e18)
    }

    /// One output transaction ended.
    func transaction(_ outcome: TransactionOutcome) {
        transactions[outcome].increment()
    }

    /// One write refused because its partition was revoked.
    func fencedWrite() {
        fencedWrites[.instance].increment()
    }
}
