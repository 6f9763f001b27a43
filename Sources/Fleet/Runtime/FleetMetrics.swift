import CoreMetrics
import Metrics
import Prometheus
import Synchronization

/// Process-wide metrics set-up: one Prometheus registry, installed as the swift-metrics backend once
/// per process, served as text on `/metrics`.
///
/// Names follow the OpenTelemetry messaging conventions mapped to Prometheus (docs/operations.md): base units,
/// `_total` on counters, bounded label values, never an order id in a label.
public enum FleetMetrics {
    private static let state = Mutex<PrometheusCollectorRegistry?>(nil)

    /// The registry behind `/metrics`, installing it as the swift-metrics backend on first use.
    public static var registry: PrometheusCollectorRegistry {
        bootstrap()
    }

    /// Installs the Prometheus backend (first call only) and returns its registry.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let (registry, isNew) = state.withLock { state -> (PrometheusCollectorRegistry, Bool) in
            if let existing = state { return (existing, false) }
            let created = PrometheusCollectorRegistry()
            state = created
            return (created, true)
        }
        if isNew {
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.durationHistogramBuckets = durationBuckets
            MetricsSystem.bootstrap(factory)
        }
        return registry
    }

    /// The Prometheus text exposition of every metric.
    public static func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }

    /// Histogram buckets for the duration metrics whose range differs from the defaults.
    static let durationBuckets: [String: [Duration]] = [
        MetricName.schedulerLateness: [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(30), .seconds(120),
        ],
        MetricName.ingressAckDuration: [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2), .seconds(5),
        ],
        MetricName.operationDuration: [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2), .seconds(5), .seconds(10),
        ],
    ]
}

/// Metric names shared by the roles (one table, so dashboards and code agree).
public enum MetricName {
    /// Counter: messages read from Kafka. Labels `messaging_system`, `messaging_destination_name`, `messaging_consumer_group_name`.
    public static let consumedMessages = "messaging_client_consumed_messages_total"
    /// Counter: messages acknowledged by Kafka. Labels `messaging_system`, `messaging_destination_name`, `error_type` on failure.
    public static let sentMessages = "messaging_client_sent_messages_total"
    /// Histogram (seconds): one produce from send to broker acknowledgement.
    public static let operationDuration = "messaging_client_operation_duration_seconds"
    /// Histogram (seconds): handling one consumed message.
    public static let processDuration = "messaging_process_duration_seconds"
    /// Counter: records written to `payfleet.dead-letters`, label `reason`.
    public static let deadLetters = "payfleet_dead_letters_total"
    /// Counter: vendor callbacks received by the ingress, labels `channel`, `outcome` (`accepted`,
    /// `rejected`, `unroutable`, `not_durable`) and, for `rejected` and `unroutable`, `reason`
    /// (`bad_signature`, `stale_timestamp`, `unknown_serial`, `decryption_failed`, `wrong_merchant`,
    /// `malformed`, `missing_order_key`, `unknown_channel`, `unknown_merchant`, `channel_mismatch`, `body_too_large`).
    public static let ingressCallbacks = "payfleet_ingress_callbacks_total"
    /// Counter: rejected or unroutable callbacks not written to dead-letters because their merchant's
    /// sample budget for the minute was spent, label `reason`.
    public static let ingressSamplesDropped = "payfleet_ingress_dead_letter_samples_dropped_total"
    /// Histogram (seconds): from receiving a callback to answering it, label `channel`.
    public static let ingressAckDuration = "payfleet_ingress_ack_duration_seconds"
    /// Histogram (seconds): how late the scheduler emitted a due job (emission time − due time).
    public static let schedulerLateness = "payfleet_scheduler_lateness_seconds"
    /// Gauge: timer jobs not yet emitted, per tier (label `tier`), as consumer lag of the delay topics.
    public static let timersPending = "payfleet_scheduler_timers_pending"
    /// Counter: timer jobs handled by the scheduler, labels `tier`, `action` (`emitted`, `hopped`, `invalid`).
    public static let schedulerJobs = "payfleet_scheduler_jobs_total"
    /// Gauge: partitions currently paused by the scheduler because their head is not due.
    public static let schedulerPausedPartitions = "payfleet_scheduler_paused_partitions"
}
