import Foundation
import Payments

/// The life of one order (`out_trade_no`) as a pure value: events in, outputs and vendor calls out.
///
/// `creating → prepared → (pending) → succeeded | failed | closed`; terminal states never move
/// backwards. The machine does no I/O and reads no clock: every event carries `now`, and the
/// worker performs the returned ``OrderStep``: it writes the outputs, and when the step asks for a
/// vendor call it first waits until those outputs are acknowledged (so the intent to create is
/// durable before the vendor sees the order), then feeds the answer back in.
///
/// A machine is built per input message from the order's state (or `nil`) and dropped afterwards;
/// ``state`` is what the partition keeps.
public struct OrderMachine: Sendable {
    /// What the machine is waiting for, between a step that asked for a vendor call and its answer.
    enum Awaiting: Sendable, Hashable {
        case create
        case query(QueryPurpose)
        case close
        /// The refund call of this `out_refund_no`.
        case refund(String)
        /// The refund query of this `out_refund_no`.
        case refundQuery(String)
    }

    /// Why a query is made; decides what follows its answer.
    enum QueryPurpose: Sendable, Hashable {
        case pendingChain(attempt: Int)
        case fallback(attempt: Int)
        case anomaly
        case upstream
        case retry
        case afterDuplicate
        case beforeClose
        case afterAlreadyPaid
    }

    /// The order's state; `nil` when this partition does not know the order.
    public internal(set) var state: OrderState?
    public let configuration: OrderMachineConfiguration
    public let context: OrderContext
    var awaiting: Awaiting?

    public init(state: OrderState?, configuration: OrderMachineConfiguration, context: OrderContext) {
        self.state = state
        self.configuration = configuration
        self.context = context
    }

    /// Whether the machine waits for a vendor answer.
    public var isAwaitingVendor: Bool { awaiting != nil }

    var policy: ChannelPolicy { context.policy }

    // MARK: Helpers shared by the event handlers

    /// Bumps the revision and returns the persist output.
    mutating func persist() -> OrderOutput? {
        guard var current = state else { return nil }
        current.revision += 1
        state = current
        return .persist(current)
    }

    func job(_ kind: TimerJob.Job, _ reason: TimerJob.Reason, attempt: Int, due: Date) -> OrderOutput? {
        guard let state else { return nil }
        return .schedule(
            TimerJob(
                job: kind, outTradeNo: state.outTradeNo, merchant: state.merchant, channel: state.channel.rawValue,
                dueAt: due, reason: reason, attempt: attempt))
    }

    /// The time the expiry close may run: the order's expiry, but not before the vendor's minimum age.
    func closeDue(_ state: OrderState) -> Date {
        max(state.expiresAt, state.createdAt + policy.closeMinimumAge.timeInterval)
    }

    /// The next fallback query after `now` (1-based index into the policy's fallback offsets).
    func nextFallback(after handled: Int, now: Date) -> (attempt: Int, due: Date)? {
        guard let state else { return nil }
        for (index, offset) in policy.fallbackQueries.enumerated() where index + 1 > handled {
            let due = state.createdAt + offset.timeInterval
            if due > now && due < closeDue(state) { return (index + 1, due) }
        }
        return nil
    }

    /// Starts (or continues) the pending query chain from `now`.
    mutating func schedulePendingQuery(now: Date, first: Bool) -> [OrderOutput] {
        guard let state else { return [] }
        let delay = first ? policy.pendingFirstQuery : policy.pendingQueryInterval
        let due = now + delay.timeInterval
        let since = state.pendingSince ?? now
        if due.timeIntervalSince(since) <= policy.pendingQueryLimit.timeInterval, due < closeDue(state) {
            return [job(.query, .pending, attempt: state.pendingQueries + 1, due: due)].compactMap { $0 }
        }
        // Past the vendor's polling limit: fall back to the slower schedule (the expiry close ends it).
        if let next = nextFallback(after: state.fallbackQueries, now: now) {
            return [job(.query, .fallback, attempt: next.attempt, due: next.due)].compactMap { $0 }
        }
        return []
    }

    /// A retry of the failed vendor call after a backoff.
    mutating func scheduleRetry(now: Date) -> [OrderOutput] {
        guard var current = state, !current.status.isTerminal else { return [] }
        current.retryAttempt += 1
        state = current
        let due = now + configuration.retryDelay(attempt: current.retryAttempt).timeInterval
        return [persist(), job(.query, .retry, attempt: current.retryAttempt, due: due)].compactMap { $0 }
    }

    /// A close attempt later (close job chain).
    mutating func scheduleClose(at due: Date) -> [OrderOutput] {
        guard var current = state, !current.status.isTerminal else { return [] }
        current.closeAttempts += 1
        state = current
        return [persist(), job(.close, .expiry, attempt: current.closeAttempts, due: due)].compactMap { $0 }
    }

    /// At most one anomaly query per ``OrderMachineConfiguration/anomalyQueryInterval``, never for
    /// terminal orders (their query jobs cost no vendor call).
    mutating func scheduleAnomalyQuery(now: Date) -> [OrderOutput] {
        guard var current = state, !current.status.isTerminal else { return [] }
        if let last = current.lastAnomalyQueryAt,
            now.timeIntervalSince(last) < configuration.anomalyQueryInterval.timeInterval
        {
            return []
        }
        current.lastAnomalyQueryAt = now
        state = current
        let delay = max(Duration.seconds(5), policy.minimumQueryInterval)
        return [persist(), job(.query, .anomaly, attempt: 1, due: now + delay.timeInterval)].compactMap { $0 }
    }

    /// The retention timer of a terminal order (its state is tombstoned when it fires).
    func retentionJob() -> OrderOutput? {
        guard let state, let terminalAt = state.terminalAt else { return nil }
        return job(.query, .expiry, attempt: 1, due: terminalAt + configuration.stateRetention.timeInterval)
    }
}

extension Duration {
    /// The duration in seconds as a `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
