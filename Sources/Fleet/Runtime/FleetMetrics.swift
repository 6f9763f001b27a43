import CoreMetrics
import Metrics
import Observability
import Prometheus
import Synchronization

/// Process-wide metrics set-up: one Prometheus registry, installed as the swift-metrics backend once
/// per process, served as text on `/metrics`.
///
/// Every exported name, with its type, unit and label set, is in the `Observability` module's table
/// (``MetricName``, `MetricDefinition.all`); each role records through its instrument set
/// (``WorkerInstruments``, ``IngressInstruments``, ``SchedulerInstruments``, `VendorInstruments`),
/// built once from the backend's `MetricsFactory`. Names follow the OpenTelemetry messaging
/// conventions mapped to Prometheus (docs/operations.md): base units, `_total` on counters, bounded
/// label values, never an order id in a label.
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
            MetricsSystem.bootstrap(factory(registry: registry))
        }
        return registry
    }

    /// The Prometheus text exposition of every metric.
    public static func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }

    /// A Prometheus metrics factory over `registry` with PayFleet's histogram buckets (the one the
    /// process installs, or a fresh one for a test).
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = durationBuckets
        return factory
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
    ]
}

extension MetricDefinition {
    /// The `payfleet_dead_letters_total{reason, role}` counters of one role: every role writes the
    /// same label set, so dashboards sum by reason across roles or split by role.
    static func deadLetterCounters(
        role: ServiceRole, factory: any MetricsFactory
    ) -> InstrumentFamily<RejectionReason, CoreMetrics.Counter> {
        deadLetters.counters(factory: factory) { (reason: RejectionReason) in [reason.rawValue, role.rawValue] }
    }
}
