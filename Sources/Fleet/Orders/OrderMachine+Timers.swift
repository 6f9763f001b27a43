import Foundation
import Payments

extension OrderMachine {
    /// A due timer from `payfleet.query-jobs`.
    ///
    /// Jobs for terminal orders never cost a vendor call (the retention job tombstones the state).
    /// Chain jobs (pending, fallback, retry) that were already handled — a duplicate delivery — do nothing.
    public mutating func jobDue(_ job: TimerJob, now: Date) -> OrderStep {
        guard let current = state else { return OrderStep() }
        if job.reason == .refund { return refundJobDue(job, now: now) }
        if current.status.isTerminal {
            // Kept for `stateRetention` after it became terminal or after its last refund activity,
            // and never while a refund waits for its vendor.
            if job.job == .query, job.reason == .expiry, let base = Self.retentionBase(current),
                now.timeIntervalSince(base) >= configuration.stateRetention.timeInterval,
                !Self.hasRefundInFlight(current)
            {
                state = nil
                return OrderStep(outputs: [.forget(outTradeNo: current.outTradeNo)])
            }
            return OrderStep()
        }
        switch (job.job, job.reason) {
        case (.close, _):
            if job.attempt < current.closeAttempts { return OrderStep() }
            return beginClose(now: now)
        case (.query, .pending):
            guard job.attempt > current.pendingQueries else { return OrderStep() }
            return startQuery(.pendingChain(attempt: job.attempt), now: now)
        case (.query, .fallback):
            guard job.attempt > current.fallbackQueries else { return OrderStep() }
            return startQuery(.fallback(attempt: job.attempt), now: now)
        case (.query, .retry):
            guard job.attempt == current.retryAttempt else { return OrderStep() }
            if current.status == .creating { return recreate(now: now) }
            return startQuery(.retry, now: now)
        case (.query, .anomaly):
            return startQuery(.anomaly, now: now)
        case (.query, .expiry):
            // A retention job can only be due for a terminal order; a live order ignores it.
            return OrderStep()
        case (.query, .refund):
            return OrderStep()  // handled above
        }
    }

    /// Starts a query, or defers it when the vendor's minimum interval between queries has not passed.
    mutating func startQuery(_ purpose: QueryPurpose, now: Date) -> OrderStep {
        guard var current = state else { return OrderStep() }
        if let last = current.lastQueryAt, policy.minimumQueryInterval > .zero {
            let allowed = last + policy.minimumQueryInterval.timeInterval
            if allowed > now {
                let deferred: OrderOutput?
                switch purpose {
                case .pendingChain(let attempt): deferred = job(.query, .pending, attempt: attempt, due: allowed)
                case .fallback(let attempt): deferred = job(.query, .fallback, attempt: attempt, due: allowed)
                case .retry: deferred = job(.query, .retry, attempt: current.retryAttempt, due: allowed)
                case .beforeClose, .afterAlreadyPaid:
                    deferred = job(.close, .expiry, attempt: current.closeAttempts, due: allowed)
                case .anomaly, .upstream, .afterDuplicate: deferred = job(.query, .anomaly, attempt: 1, due: allowed)
                }
                return OrderStep(outputs: [deferred].compactMap { $0 })
            }
        }
        switch purpose {
        case .pendingChain(let attempt): current.pendingQueries = max(current.pendingQueries, attempt)
        case .fallback(let attempt): current.fallbackQueries = max(current.fallbackQueries, attempt)
        default: break
        }
        current.lastQueryAt = now
        state = current
        awaiting = .query(purpose)
        return OrderStep(call: .query(current.reference(notifyURL: context.notifyURL)))
    }

    /// Expiry or an upstream close: wait for the vendor's minimum age, then query first (a close of a
    /// paid order would be wrong, and storepos' cancel reverses a payment), then close.
    mutating func beginClose(now: Date) -> OrderStep {
        guard let current = state, !current.status.isTerminal else { return OrderStep() }
        let earliest = current.createdAt + policy.closeMinimumAge.timeInterval
        if earliest > now {
            return OrderStep(outputs: scheduleClose(at: earliest))
        }
        return startQuery(.beforeClose, now: now)
    }

    /// After the pre-close query found the order unpaid: close at the vendor, or record the close
    /// locally when the vendor's close window has passed.
    mutating func closeAtVendor(found status: TradeStatus, now: Date) -> OrderStep {
        guard let current = state else { return OrderStep() }
        if case .paying = status, policy.payingMeansPayerActive,
            current.closeAttempts < configuration.maximumCloseDeferrals
        {
            // The payer is paying right now; look again shortly instead of closing under them.
            return OrderStep(outputs: scheduleClose(at: now + policy.pendingQueryInterval.timeInterval))
        }
        if let maximum = policy.closeMaximumAge, now.timeIntervalSince(current.createdAt) > maximum.timeInterval {
            return OrderStep(
                outputs: close(reason: current.closeRequested ? "requested" : "expired", atVendor: false, now: now))
        }
        awaiting = .close
        return OrderStep(call: .close(current.reference(notifyURL: context.notifyURL)))
    }
}
