import Foundation
import Payments

extension OrderMachine {
    /// The vendor's answer to the create this machine asked for.
    public mutating func createAnswered(_ result: Result<CreateOutcome, ChannelError>, now: Date) -> OrderStep {
        guard awaiting == .create, let current = state else { return OrderStep() }
        awaiting = nil
        switch result {
        case .success(.prepared(let prepared)):
            return OrderStep(outputs: prepare(prepared, now: now))
        case .success(.pending(let reason, let memo)):
            return OrderStep(outputs: enterPending(reason.rawValue, memo: memo, now: now))
        case .success(.failed(let failure)):
            return OrderStep(outputs: fail(failure, now: now))
        case .success(.duplicate):
            // The vendor already has this out_trade_no (a create retried after a crash): ask instead.
            return startQuery(.afterDuplicate, now: now)
        case .failure(let error):
            switch error.code {
            case .invalidRequest:
                if current.status == .creating {
                    // The order was never accepted: forget it, reject the request.
                    state = nil
                    let rejection = RequestRejection(
                        reason: .invalidRequest, detail: error.message, outTradeNo: current.outTradeNo,
                        merchant: current.merchant, channel: current.channel.rawValue, action: "create",
                        contentDigest: current.requestDigest)
                    return OrderStep(
                        outputs: [.forget(outTradeNo: current.outTradeNo)] + Self.rejection(rejection, now: now))
                }
                return OrderStep(
                    outputs: fail(
                        VendorFailure(code: error.vendorCode ?? error.code.rawValue, message: error.message), now: now))
            case .vendorRejected:
                return OrderStep(
                    outputs: fail(
                        VendorFailure(code: error.vendorCode ?? error.code.rawValue, message: error.message), now: now))
            case .timeout:
                // The request may have reached the vendor: its outcome is unknown until queried.
                return OrderStep(outputs: enterPending(PendingReason.unknownResult.rawValue, now: now))
            case .unreachable, .vendorUnavailable, .rateLimited, .badResponse, .configuration:
                return OrderStep(outputs: createUnanswered(error, now: now))
            }
        }
    }

    /// A create whose answer could not be read (refused connection, 5xx, rate limit, an answer that
    /// is not the vendor's format): the create is sent again later (idempotent by `out_trade_no`).
    /// Upstream hears of it at once: the first such answer publishes `payment.pending` with the
    /// reason, so no create goes unanswered while the retries run; the expiry still closes the
    /// order if it never gets through.
    private mutating func createUnanswered(_ error: ChannelError, now: Date) -> [OrderOutput] {
        guard var current = state, current.status == .creating else { return scheduleRetry(now: now) }
        guard current.pendingReason == nil else { return scheduleRetry(now: now) }
        current.pendingReason = Self.createUnansweredReason
        current.pendingSince = now
        state = current
        let event = Self.pendingEvent(current, now: now, vendor: error)
        var outputs = scheduleRetry(now: now)
        outputs.insert(
            .publish(event),
            at: outputs.firstIndex { if case .persist = $0 { true } else { false } }.map { $0 + 1 } ?? 0)
        return outputs
    }

    /// The `reason` of the pending event of a create whose answer could not be read.
    static let createUnansweredReason = "create_unanswered"

    /// The vendor's answer to the query this machine asked for.
    public mutating func queryAnswered(_ result: Result<TradeStatus, ChannelError>, now: Date) -> OrderStep {
        guard case .query(let purpose) = awaiting, state != nil else { return OrderStep() }
        awaiting = nil
        let status: TradeStatus
        switch result {
        case .failure:
            var outputs = [persist()].compactMap { $0 }  // lastQueryAt / chain counters
            switch purpose {
            case .pendingChain:
                outputs += schedulePendingQuery(now: now, first: false)
            case .fallback(let attempt):
                if let next = nextFallback(after: attempt, now: now) {
                    outputs += [job(.query, .fallback, attempt: next.attempt, due: next.due)].compactMap { $0 }
                }
            case .beforeClose, .afterAlreadyPaid:
                let attempt = (state?.closeAttempts ?? 0) + 1
                outputs += scheduleClose(at: now + configuration.retryDelay(attempt: attempt).timeInterval)
            case .anomaly, .upstream, .retry, .afterDuplicate:
                outputs += scheduleRetry(now: now)
            }
            return OrderStep(outputs: outputs)
        case .success(let found):
            status = found
        }

        if case .beforeClose = purpose {
            switch status {
            case .notPaid, .paying, .notFound:
                var step = closeAtVendor(found: status, now: now)
                step.outputs.insert(contentsOf: [persist()].compactMap { $0 }, at: 0)
                return step
            default:
                break
            }
        }

        var outputs: [OrderOutput] = []
        switch status {
        case .succeeded(let details), .refunded(let details):
            outputs += paid(details, now: now).outputs
        case .closed:
            // Closed at the vendor: by our own expiry/close flow, or by the vendor on its own.
            var reason = "vendor"
            if case .beforeClose = purpose { reason = state?.closeRequested == true ? "requested" : "expired" }
            outputs += close(reason: reason, atVendor: true, now: now)
        case .failed(let failure):
            outputs += fail(failure, now: now)
        case .paying:
            if let current = state, current.status == .creating || current.status == .prepared {
                outputs += enterPending(PendingReason.userPaying.rawValue, now: now)
            }
        case .notPaid:
            if let current = state, current.status == .creating {
                // Created at the vendor (duplicate or unknown result) but we hold no pay parameters.
                outputs += enterPending("awaiting_payment", now: now)
            }
        case .notFound:
            if let current = state, current.prepared == nil, current.status == .creating || current.status == .pending,
                current.createAttempts < configuration.maximumCreateAttempts
            {
                // The vendor never got the create: send it again (same parameters).
                var step = recreate(now: now)
                step.outputs.insert(contentsOf: outputs, at: 0)
                return step
            }
        }

        // Continue the chain the query belonged to, if the order is still open and nothing else was scheduled.
        if let current = state, !current.status.isTerminal {
            let scheduledSomething = outputs.contains { if case .schedule = $0 { true } else { false } }
            if !scheduledSomething {
                switch purpose {
                case .pendingChain:
                    if current.status == .pending { outputs += schedulePendingQuery(now: now, first: false) }
                case .fallback(let attempt):
                    if let next = nextFallback(after: attempt, now: now) {
                        outputs += [job(.query, .fallback, attempt: next.attempt, due: next.due)].compactMap { $0 }
                    }
                case .afterAlreadyPaid:
                    // The vendor refused the close as paid but the query does not show it: close again later.
                    outputs += scheduleClose(at: now + policy.pendingQueryInterval.timeInterval)
                case .retry:
                    state?.retryAttempt = 0
                case .anomaly, .upstream, .afterDuplicate, .beforeClose:
                    break
                }
            }
        }
        if !outputs.contains(where: { if case .persist = $0 { true } else { false } }), let output = persist() {
            outputs.insert(output, at: 0)
        }
        return OrderStep(outputs: outputs)
    }

    /// The vendor's answer to the close this machine asked for.
    public mutating func closeAnswered(_ result: Result<CloseOutcome, ChannelError>, now: Date) -> OrderStep {
        guard awaiting == .close, let current = state else { return OrderStep() }
        awaiting = nil
        let reason = current.closeRequested ? "requested" : "expired"
        switch result {
        case .success(.closed), .success(.alreadyClosed), .success(.notFound):
            return OrderStep(outputs: close(reason: reason, atVendor: true, now: now))
        case .success(.alreadyPaid):
            return startQuery(.afterAlreadyPaid, now: now)
        case .success(.tooEarly(let retryAfter)):
            return OrderStep(outputs: scheduleClose(at: now + max(retryAfter, .seconds(1)).timeInterval))
        case .failure:
            let attempt = current.closeAttempts + 1
            return OrderStep(outputs: scheduleClose(at: now + configuration.retryDelay(attempt: attempt).timeInterval))
        }
    }
}
