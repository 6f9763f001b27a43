/// Settings of the delay scheduler.
public struct SchedulerSettings: Sendable {
    /// The consumer group (`PAYFLEET_SCHEDULER_GROUP_ID`, default `payfleet-scheduler`).
    public var groupID: String = "payfleet-scheduler"
    /// The delay tiers consumed (default ``DelayTier/all``).
    public var tiers: [DelayTier] = DelayTier.all
    /// Where due jobs go.
    public var queryJobsTopic: String = FleetTopic.queryJobs
    /// Where undecodable timer records go.
    public var deadLettersTopic: String = FleetTopic.deadLetters
    /// How long before a paused partition's head wakes it is resumed.
    public var resumeLead: Duration = .seconds(1)
    /// Most timers one partition holds in memory; beyond it the partition is paused until some are emitted.
    public var maximumHeldPerPartition: Int = 20_000
    /// Held timers are forwarded at most this often: every wake-up writes all timers due by then as
    /// one batch, so timers due close together cost one wake-up and one producer batch. A timer is
    /// never forwarded before it is due; when timers are due more often than this, some wait up to
    /// this long.
    /// The query-jobs topic is keyed by order, so each batch costs one produce request per partition
    /// it touches: 20 ms keeps those requests to a few dozen timers each at thousands of timers a
    /// second, and lateness well under the 50 ms bound.
    public var wakeInterval: Duration = .milliseconds(20)
    /// How often stored offsets are refreshed and paused partitions are checked.
    public var sweepInterval: Duration = .milliseconds(250)
    /// How often the timers-pending gauge is refreshed from the broker's watermarks.
    public var pendingGaugeInterval: Duration = .seconds(5)
    /// How long graceful shutdown waits for in-flight forwards.
    public var drainTimeout: Duration = .seconds(10)

    public init() {}

    /// Reads `PAYFLEET_SCHEDULER_GROUP_ID` and `PAYFLEET_SCHEDULER_WAKE_INTERVAL` (``wakeInterval``,
    /// 1ms to 1s: a longer interval costs fewer wake-ups and produce requests, and up to that much
    /// lateness).
    ///
    /// - Throws: ``ConfigurationError`` naming the variable.
    public init(environment: [String: String]) throws(ConfigurationError) {
        if let group = environment["PAYFLEET_SCHEDULER_GROUP_ID"], !group.isEmpty { groupID = group }
        let name = "PAYFLEET_SCHEDULER_WAKE_INTERVAL"
        wakeInterval = try WorkerSettings.duration(
            environment, name, default: wakeInterval, minimum: .milliseconds(1))
        guard wakeInterval <= .seconds(1) else {
            throw ConfigurationError(setting: name, message: "must be at most 1s")
        }
    }
}
