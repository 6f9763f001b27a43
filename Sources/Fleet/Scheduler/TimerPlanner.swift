/// The scheduling rules of the scheduler, free of I/O so they can be tested directly.
///
/// Within one partition of a delay tier, records are in write order, so every record's *tier wake
/// time* (record timestamp + tier delay) is in order too: the partition is FIFO by wake time, which
/// lets the scheduler pause a partition on its head. Writers choose the largest tier whose delay is
/// `<=` the time left (``DelayTier/forRemaining(_:)``), so a record's true due time (header
/// `payfleet-due-at-ms`) is never before its wake time — except in the smallest tier, which also
/// takes anything shorter than its own delay and which is therefore timed in memory.
///
/// For a record read from tier *T* with record timestamp *ts* and due time *due* (Unix ms):
/// 1. `due <= now` → ``TimerDecision/emit``.
/// 2. `due - now <= holdHorizon` → ``TimerDecision/hold(untilMilliseconds:)`` until `due`: short
///    remainders are timed in memory (uncommitted until forwarded), which keeps lateness in
///    milliseconds. In the smallest tier the horizon is the *next* tier's delay, i.e. everything a
///    writer puts there is held: that tier also takes jobs shorter than its own delay, so its
///    records are not FIFO by due time, and pausing it on a head would make a short job queued
///    behind that head late by up to the tier's delay. Every other tier is FIFO by due time
///    (a writer or hop puts a job in tier *T* only when at least *T.delay* is left), so pausing
///    it on its head delays nothing behind it.
/// 3. Its wake time in *T* is `min(due, ts + T.delay)`. While `wake - resumeLead > now` it is not
///    awake: ``TimerDecision/wait(untilMilliseconds:)`` until `wake - resumeLead` (resuming a little
///    early hides the re-fetch after seeking back).
/// 4. Otherwise ``TimerDecision/hop(to:)`` the largest tier whose delay is `<=` `due - now`, so a
///    hop never makes a job late.
public struct TimerPlanner: Sendable, Hashable {
    /// The tiers, shortest first. Never empty.
    public let tiers: [DelayTier]
    /// Remainders up to this are timed in memory (at least the smallest tier's delay).
    public let holdHorizon: Duration
    /// How long before a paused partition's head wakes it is resumed.
    public let resumeLead: Duration

    /// - Parameters:
    ///   - tiers: the delay tiers (default ``DelayTier/all``); an empty list means the default.
    ///   - holdHorizon: raised to the smallest tier's delay if shorter.
    ///   - resumeLead: default 1 s.
    public init(tiers: [DelayTier] = DelayTier.all, holdHorizon: Duration? = nil, resumeLead: Duration = .seconds(1)) {
        let sorted = tiers.isEmpty ? DelayTier.all : tiers.sorted()
        self.tiers = sorted
        self.holdHorizon = max(holdHorizon ?? sorted[0].delay, sorted[0].delay)
        self.resumeLead = max(resumeLead, .zero)
    }

    /// The largest tier whose delay is `<=` `remaining`, else the smallest.
    public func tier(forRemaining remaining: Duration) -> DelayTier {
        tiers.last { $0.delay <= remaining } ?? tiers[0]
    }

    /// The tier whose topic is `topic`.
    public func tier(topic: String) -> DelayTier? {
        tiers.first { $0.topic == topic }
    }

    /// Remainders up to this are held in memory for a record of `tier`: ``holdHorizon``, or in the
    /// smallest tier (when there are several) the next tier's delay.
    public func holdHorizon(in tier: DelayTier) -> Duration {
        guard tiers.count > 1, tier == tiers[0] else { return holdHorizon }
        return max(holdHorizon, tiers[1].delay)
    }

    /// Decides what to do with a record of `tier`.
    /// - Parameters:
    ///   - tier: the tier the record was read from.
    ///   - recordTimestampMilliseconds: the record's Kafka timestamp (create time), if it has one.
    ///   - due: the `payfleet-due-at-ms` header.
    ///   - now: the current time (Unix ms).
    public func decide(
        tier: DelayTier,
        recordTimestampMilliseconds: Int64?,
        dueAtMilliseconds due: Int64,
        nowMilliseconds now: Int64
    ) -> TimerDecision {
        let remaining = due - now
        if remaining <= 0 { return .emit }
        if remaining <= holdHorizon(in: tier).wholeMilliseconds { return .hold(untilMilliseconds: due) }
        let tierWake = recordTimestampMilliseconds.map { $0 + tier.delay.wholeMilliseconds } ?? due
        let resumeAt = min(due, tierWake) - resumeLead.wholeMilliseconds
        if resumeAt > now { return .wait(untilMilliseconds: resumeAt) }
        return .hop(to: self.tier(forRemaining: .milliseconds(remaining)))
    }
}
