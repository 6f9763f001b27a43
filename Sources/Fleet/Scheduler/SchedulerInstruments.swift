import Metrics
import Observability

/// The scheduler's instruments, built once per scheduler from a `MetricsFactory`: the Kafka client
/// metrics of its group, jobs by tier and action, lateness, pending timers, paused partitions and
/// dead letters. Tiers are the configured delay tiers (`unknown` for a topic that is none of them).
struct SchedulerInstruments: Sendable {
    /// What the scheduler did with a timer job (the `action` label).
    enum JobAction: String, Hashable, Sendable, CaseIterable {
        /// Forwarded to `payfleet.query-jobs` (due).
        case emitted
        /// Moved to a shorter tier.
        case hopped
        /// Not a timer job: dead-lettered.
        case invalid
    }

    private struct JobKey: Hashable, Sendable {
        var tier: DelayTier?
        var action: JobAction
    }

    /// The Kafka client metrics (consumed, sent) of the scheduler's group.
    let messaging: MessagingInstruments
    private let jobs: InstrumentFamily<JobKey, Counter>
    private let lateness: Metrics.Timer
    private let deadLetters: InstrumentFamily<RejectionReason, Counter>
    private let pausedPartitions: Gauge
    private let timersPending: InstrumentFamily<DelayTier, Gauge>

    init(group: String, factory: any MetricsFactory = MetricsSystem.factory) {
        messaging = MessagingInstruments(group: group, factory: factory)
        jobs = MetricDefinition.schedulerJobs.counters(factory: factory) { (key: JobKey) in
            [key.tier?.name ?? "unknown", key.action.rawValue]
        }
        lateness = MetricDefinition.schedulerLateness.timer(factory: factory)
        deadLetters = MetricDefinition.deadLetterCounters(role: .scheduler, factory: factory)
        pausedPartitions = MetricDefinition.schedulerPausedPartitions.gauge(factory: factory)
        timersPending = MetricDefinition.timersPending.gauges(factory: factory) { (tier: DelayTier) in [tier.name] }
    }

    /// A due job of `tier` forwarded `latenessMilliseconds` after its due time (0 when early).
    func emitted(tier: DelayTier?, latenessMilliseconds: Int64) {
        lateness.recordMilliseconds(max(0, latenessMilliseconds))
        jobs[JobKey(tier: tier, action: .emitted)].increment()
    }

    /// Due jobs of `tier` forwarded with these latenesses (milliseconds, 0 when early), one each.
    func emitted(tier: DelayTier?, latenessMilliseconds lateness: [Int64]) {
        for milliseconds in lateness { self.lateness.recordMilliseconds(max(0, milliseconds)) }
        jobs[JobKey(tier: tier, action: .emitted)].increment(by: Int64(lateness.count))
    }

    /// A job of `tier` moved to a shorter tier.
    func hopped(tier: DelayTier?) {
        jobs[JobKey(tier: tier, action: .hopped)].increment()
    }

    /// A record of `tier` that is not a timer job, dead-lettered with `reason`.
    func invalid(tier: DelayTier?, reason: RejectionReason) {
        jobs[JobKey(tier: tier, action: .invalid)].increment()
        deadLetters[reason].increment()
    }

    /// The number of delay partitions paused on a head that is not due.
    func paused(partitions: Int) {
        pausedPartitions.record(partitions)
    }

    /// Timer jobs of `tier` not yet emitted.
    func pending(tier: DelayTier, count: Int64) {
        timersPending[tier].record(count)
    }
}
