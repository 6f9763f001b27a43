import CoreMetrics
import Metrics
import Synchronization

/// The worker's metrics, created once per label set and cached (bounded labels only: topics,
/// channels, operations, outcomes, reasons — never an order id).
final class WorkerMetrics: Sendable {
    /// Histogram (seconds): one vendor call, labels `channel`, `operation` (create, query, close), `outcome`.
    static let vendorCallDuration = "payfleet_vendor_call_duration_seconds"
    /// Counter: callbacks verified by the worker, labels `channel`, `result` (`verified`, `bad_signature`, …).
    static let callbacks = "payfleet_worker_callbacks_total"
    /// Counter: events published, labels `type` (prepared, succeeded, …).
    static let events = "payfleet_payment_events_total"
    /// Counter: inputs found on a partition that does not own their key and forwarded to the owner, label `topic`.
    static let rerouted = "payfleet_requests_rerouted_total"
    /// Counter: `payfleet.order-state` records applied by restores (full and tail reads).
    static let restoredRecords = "payfleet_worker_restored_records_total"
    /// Counter: seconds spent restoring, summed over restores.
    static let restoreSeconds = "payfleet_worker_restore_seconds_total"
    /// Gauge: orders held in memory, label `state` (`live`, `terminal`).
    static let retainedOrders = "payfleet_worker_orders"

    private let group: String
    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])

    init(group: String) {
        self.group = group
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return counters.withLock { cache in
            if let existing = cache[key] { return existing }
            let created = Counter(label: label, dimensions: dimensions)
            cache[key] = created
            return created
        }
    }

    private func timer(_ label: String, _ dimensions: [(String, String)]) -> Timer {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return timers.withLock { cache in
            if let existing = cache[key] { return existing }
            let created = Timer(label: label, dimensions: dimensions, preferredDisplayUnit: .seconds)
            cache[key] = created
            return created
        }
    }

    func consumed(topic: String) {
        counter(MetricName.consumedMessages, [
            ("messaging_system", "kafka"), ("messaging_destination_name", topic), ("messaging_consumer_group_name", group),
        ]).increment()
    }

    func sent(topic: String, count: Int, error: String? = nil) {
        var dimensions = [("messaging_system", "kafka"), ("messaging_destination_name", topic)]
        if let error { dimensions.append(("error_type", error)) }
        counter(MetricName.sentMessages, dimensions).increment(by: count)
    }

    func processed(topic: String, duration: Duration, error: String? = nil) {
        var dimensions = [
            ("messaging_system", "kafka"), ("messaging_destination_name", topic), ("messaging_consumer_group_name", group),
        ]
        if let error { dimensions.append(("error_type", error)) }
        timer(MetricName.processDuration, dimensions).record(duration: duration)
    }

    func vendorCall(channel: String, operation: String, outcome: String, duration: Duration) {
        timer(Self.vendorCallDuration, [("channel", channel), ("operation", operation), ("outcome", outcome)]).record(duration: duration)
    }

    func callback(channel: String, result: String) {
        counter(Self.callbacks, [("channel", channel), ("result", result)]).increment()
    }

    func deadLetter(reason: String) {
        counter(MetricName.deadLetters, [("reason", reason)]).increment()
    }

    func rerouted(topic: String) {
        counter(Self.rerouted, [("topic", topic)]).increment()
    }

    func event(type: String) {
        counter(Self.events, [("type", type)]).increment()
    }

    func restored(records: Int, duration: Duration) {
        counter(Self.restoredRecords, []).increment(by: records)
        FloatingPointCounter(label: Self.restoreSeconds).increment(by: duration.timeInterval)
    }

    func retainedOrders(live: Int, terminal: Int) {
        Gauge(label: Self.retainedOrders, dimensions: [("state", "live")]).record(live)
        Gauge(label: Self.retainedOrders, dimensions: [("state", "terminal")]).record(terminal)
    }
}
