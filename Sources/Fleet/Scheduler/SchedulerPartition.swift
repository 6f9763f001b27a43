import Kafka

/// What the scheduler knows about one assigned delay-tier partition.
struct SchedulerPartition {
    /// Bumped on every assignment; work started under an older generation is ignored when it ends.
    let generation: Int
    let tier: DelayTier
    var tracker = TimerOffsetTracker()
    /// The next offset expected from the fetcher (`nil` until the first message).
    var position: Int64?
    /// Set while the partition is paused on a head that is not awake yet.
    var waiting: Waiting?
    /// Timers held in memory until due (the core's one wake-up task fires them).
    var held = HeldTimers()
    /// Forwards, hops and dead letters written and not yet acknowledged (shutdown waits for them).
    var sending = 0
    /// The last offset handed to the consumer's offset store.
    var stored: Int64?

    struct Waiting {
        /// The head record the fetch position was moved back to.
        var offset: Int64
        /// When to resume (Unix ms).
        var untilMilliseconds: Int64
        var wake: Task<Void, Never>
    }

    init(generation: Int, tier: DelayTier) {
        self.generation = generation
        self.tier = tier
    }

    /// Cancels the pending wake-up of a paused head (revocation, loss, shutdown). Held timers go
    /// with the partition value: they are uncommitted and re-read by the next owner.
    func cancelAll() {
        waiting?.wake.cancel()
    }
}
