/// What the scheduler does with one timer record it has just read.
public enum TimerDecision: Sendable, Hashable {
    /// Due now (or overdue): forward it to `payfleet.query-jobs`.
    case emit
    /// Due within the hold horizon: keep it in memory (uncommitted) and forward it at `dueAtMilliseconds`.
    case hold(untilMilliseconds: Int64)
    /// Not awake yet in its tier: pause the partition, seek back to this record and resume at the given time.
    case wait(untilMilliseconds: Int64)
    /// Awake but not yet due and too far out to hold: re-publish it to `tier` (never larger than the
    /// remaining time) and commit it here.
    case hop(to: DelayTier)
}
