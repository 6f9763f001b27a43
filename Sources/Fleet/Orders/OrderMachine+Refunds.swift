import Foundation
import Payments

/// The refund lifecycle, next to the payment's: a `succeeded` order stays `succeeded`; each refund,
/// keyed by its `out_refund_no`, goes `requested → (processing) → succeeded | failed` and publishes
/// at most one `refund.pending` and exactly one of `refund.succeeded` / `refund.failed`.
///
/// - The refund is durable (state persisted, first timer written) before the vendor sees it; the
///   vendor dedupes by `out_refund_no`, so a crash before the answer only repeats the call.
/// - The refunds not failed never add up to more than was paid (per sub-order for combine orders).
/// - Timers per refund follow the channel's ``RefundPolicy``: a refund still `requested` (its call
///   never answered) is sent again, a `processing` one is queried; after the policy's limit it is
///   reported stuck (`payment.anomaly` `refund_stuck`) and no longer timed.
extension OrderMachine {
    // MARK: Request

    mutating func refundRequested(_ request: OrderRequest, receivedAt: Date, now: Date) -> OrderStep {
        guard let refund = request.refund, let amount = request.amount else {
            return reject(request, .missingField, "out_refund_no and amount_fen are required for refund", now: now)
        }
        guard var current = state else {
            return reject(request, .unknownOrder, "refund for an order this worker does not know", now: now)
        }
        if request.merchant != current.merchant {
            return reject(request, .invalidField, "merchant does not match the order's merchant", now: now)
        }
        if request.channel != current.channel {
            return reject(request, .invalidField, "channel does not match the order's channel", now: now)
        }
        let digest = Self.refundDigest(refund, amount: amount)
        if let existing = current.refund(refund.outRefundNo) {
            guard existing.digest == digest else {
                return reject(
                    request, .refundConflict,
                    "out_refund_no \(OrderRequestDecoder.clip(refund.outRefundNo)) already names a refund of \(existing.amountFen) fen with other parameters (status \(existing.status.rawValue))",
                    now: now)
            }
            return repeatRefund(existing, now: now)
        }
        guard let support = context.refunds else {
            return reject(
                request, .refundUnsupported,
                "channel \(current.channel.rawValue) does not refund (no vendor refund API PayFleet can cite)", now: now
            )
        }
        guard current.status == .succeeded, let payment = current.payment else {
            return reject(
                request, .orderNotPaid,
                "the order is \(current.status.rawValue); only a succeeded order can be refunded",
                now: now)
        }
        let live = current.refunds.filter { $0.status != .failed }
        let committed = live.reduce(Int64(0)) { $0 + $1.amountFen }
        guard committed + amount.fen <= payment.amountFen else {
            return reject(
                request, .refundExceedsPaid,
                "refunding \(amount.fen) fen would give back \(committed + amount.fen) fen of the \(payment.amountFen) fen paid (\(committed) fen already refunded or in flight)",
                now: now)
        }
        var subRefunds: [OrderState.RefundRecord.SubRefundRecord] = []
        if current.channel == .wechatV3Combine {
            switch Self.combineSubRefunds(refund, amount: amount, order: current, payment: payment, live: live) {
            case .success(let parts): subRefunds = parts
            case .failure(let problem): return reject(request, problem.reason, problem.detail, now: now)
            }
        }
        var record = OrderState.RefundRecord(
            outRefundNo: refund.outRefundNo, amountFen: amount.fen, reason: refund.reason, digest: digest,
            requestedAt: receivedAt, subRefunds: subRefunds)
        do throws(ChannelError) {
            try support.validate(refundOrder(record, of: current))
        } catch {
            return reject(request, .invalidRequest, error.message, now: now)
        }
        record.attempts = 1
        current.refunds.append(record)
        state = current
        awaiting = .refund(record.outRefundNo)
        let outputs = [persist(), refundTimer(record, attempt: 1, now: now)].compactMap { $0 }
        return OrderStep(outputs: outputs, call: .refund(refundOrder(record, of: current)))
    }

    /// The same refund again (upstream retry, or a replay after a crash): a terminal refund repeats
    /// its terminal event, a pending one its pending event (same `ce_id`, identical data), and a
    /// refund whose call was never answered is sent again (the vendor dedupes by `out_refund_no`).
    private mutating func repeatRefund(_ record: OrderState.RefundRecord, now: Date) -> OrderStep {
        guard let current = state else { return OrderStep() }
        if record.status == .requested {
            return resendRefund(record.outRefundNo)
        }
        guard record.status.isTerminal || record.pendingAt != nil,
            let event = Self.refundEvent(current, record)
        else { return OrderStep() }
        return OrderStep(outputs: [.publish(event)])
    }

    /// Calls the vendor's refund again with identical parameters.
    private mutating func resendRefund(_ outRefundNo: String) -> OrderStep {
        guard var current = state, var record = current.refund(outRefundNo), !record.status.isTerminal else {
            return OrderStep()
        }
        record.attempts += 1
        current.update(record)
        state = current
        awaiting = .refund(outRefundNo)
        return OrderStep(outputs: [persist()].compactMap { $0 }, call: .refund(refundOrder(record, of: current)))
    }

    // MARK: Vendor answers

    /// The vendor's answer to the refund call this machine asked for.
    public mutating func refundAnswered(
        _ outRefundNo: String, result: Result<RefundOutcome, ChannelError>, now: Date
    ) -> OrderStep {
        guard awaiting == .refund(outRefundNo), let current = state, var record = current.refund(outRefundNo) else {
            return OrderStep()
        }
        awaiting = nil
        switch result {
        case .success(.succeeded(let details)):
            return OrderStep(outputs: refundSucceeded(record, details, now: now))
        case .success(.failed(let failure)):
            return OrderStep(outputs: refundFailed(record, failure, now: now))
        case .success(.processing(let memo)):
            record.memo.merge(memo) { _, new in new }
            record.status = .processing
            return OrderStep(outputs: announcePending(record, reason: "processing", now: now))
        case .success(.pending(let reason, let memo)):
            record.memo.merge(memo) { _, new in new }
            record.status = .processing
            return OrderStep(outputs: announcePending(record, reason: reason.rawValue, now: now))
        case .failure(let error):
            switch error.code {
            case .invalidRequest, .vendorRejected:
                let failure = VendorFailure(code: error.vendorCode ?? error.code.rawValue, message: error.message)
                return OrderStep(outputs: refundFailed(record, failure, now: now))
            case .timeout:
                // It may have reached the vendor: query it.
                record.status = .processing
                return OrderStep(
                    outputs: announcePending(record, reason: PendingReason.unknownResult.rawValue, now: now))
            case .unreachable, .vendorUnavailable, .rateLimited, .badResponse, .configuration:
                // Not answered: the refund timer sends it again (the vendor dedupes by out_refund_no).
                return OrderStep(outputs: announcePending(record, reason: Self.refundUnansweredReason, now: now))
            }
        }
    }

    /// The `reason` of a refund's pending event when its call could not be answered.
    static let refundUnansweredReason = "refund_unanswered"

    /// The vendor's answer to the refund query this machine asked for.
    public mutating func refundQueryAnswered(
        _ outRefundNo: String, result: Result<RefundStatus, ChannelError>, now: Date
    ) -> OrderStep {
        guard awaiting == .refundQuery(outRefundNo), let current = state, var record = current.refund(outRefundNo)
        else { return OrderStep() }
        awaiting = nil
        switch result {
        case .success(.succeeded(let details)):
            return OrderStep(outputs: refundSucceeded(record, details, now: now))
        case .success(.failed(let failure)):
            return OrderStep(outputs: refundFailed(record, failure, now: now))
        case .success(.notFound):
            // The vendor never got it: send it again, a bounded number of times.
            if record.attempts < configuration.maximumCreateAttempts {
                return resendRefund(outRefundNo)
            }
            record.status = .requested
            return OrderStep(outputs: update(record))
        case .success(.processing), .failure:
            // The refund timer chain goes on.
            return OrderStep(outputs: update(record))
        }
    }

    // MARK: Timers

    /// A due refund timer: send the refund again (never answered) or query it (processing); past the
    /// policy's limit, report it stuck once and stop.
    mutating func refundJobDue(_ job: TimerJob, now: Date) -> OrderStep {
        guard let outRefundNo = job.outRefundNo, var current = state, var record = current.refund(outRefundNo),
            !record.status.isTerminal, !record.stuck, job.attempt > record.timerAttempts
        else { return OrderStep() }
        record.timerAttempts = job.attempt
        let limit = context.refunds?.policy.queryLimit ?? RefundPolicy().queryLimit
        if now.timeIntervalSince(record.requestedAt) >= limit.timeInterval {
            record.stuck = true
            current.update(record)
            state = current
            let event = Self.anomalyEvent(
                outTradeNo: current.outTradeNo, state: current, kind: "refund_stuck",
                detail:
                    "refund \(record.outRefundNo) has no final answer after \(Int(limit.timeInterval)) s; it is no longer queried",
                evidence: ContentDigest.sha256Hex("\(record.outRefundNo)|\(record.digest)"), now: now,
                extra: [
                    "out_refund_no": .string(record.outRefundNo), "refund_amount_fen": .integer(record.amountFen),
                ])
            return OrderStep(outputs: [persist(), .publish(event), retentionAfterRefund(now: now)].compactMap { $0 })
        }
        current.update(record)
        state = current
        let next = refundTimer(record, attempt: job.attempt + 1, now: now)
        if record.status == .requested {
            var step = resendRefund(outRefundNo)
            step.outputs += [next].compactMap { $0 }
            return step
        }
        awaiting = .refundQuery(outRefundNo)
        return OrderStep(
            outputs: [persist(), next].compactMap { $0 },
            call: .queryRefund(RefundReference(refund: refundOrder(record, of: current), memo: record.memo)))
    }

    /// The refund timer `attempt` (1: the policy's first query; then its intervals, the last repeating).
    func refundTimer(_ record: OrderState.RefundRecord, attempt: Int, now: Date) -> OrderOutput? {
        guard let state else { return nil }
        let policy = context.refunds?.policy ?? RefundPolicy()
        let delay: Duration
        if attempt <= 1 || policy.queryIntervals.isEmpty {
            delay = policy.firstQuery
        } else {
            delay = policy.queryIntervals[min(attempt - 2, policy.queryIntervals.count - 1)]
        }
        return .schedule(
            TimerJob(
                job: .query, outTradeNo: state.outTradeNo, merchant: state.merchant, channel: state.channel.rawValue,
                dueAt: now + max(delay, .seconds(1)).timeInterval, reason: .refund, attempt: attempt,
                outRefundNo: record.outRefundNo))
    }

    // MARK: Notifications

    /// A verified refund notification (merchant and vendor merchant id already checked).
    mutating func refundNoticeReceived(
        _ notice: RefundNotice, _ callback: CallbackInput, now: Date
    ) -> OrderStep {
        let named = state?.refunds.first { refund in
            (!notice.outRefundNo.isEmpty && refund.outRefundNo == notice.outRefundNo)
                || (notice.vendorRefundNo.map { refund.memo[RefundReference.vendorRefundNoMemoKey] == $0 } ?? false)
        }
        guard let current = state, let record = named else {
            let shown = notice.outRefundNo.isEmpty ? (notice.vendorRefundNo ?? "") : notice.outRefundNo
            let detail =
                "a verified refund notification for refund \(OrderRequestDecoder.clip(shown)), which this order does not have"
            let event = Self.anomalyEvent(
                outTradeNo: callback.outTradeNo, state: state, kind: RejectionReason.unknownRefund.rawValue,
                detail: detail, evidence: callback.evidence, now: now,
                extra: [
                    "out_refund_no": .string(shown), "callback_merchant": .string(callback.merchant),
                ])
            return OrderStep(outputs: [.publish(event), .deadLetter(reason: .unknownRefund, detail: detail)])
        }
        if record.status.isTerminal {
            switch (record.status, notice.status) {
            case (.succeeded, .succeeded), (.failed, .failed), (_, .processing), (_, .notFound):
                return OrderStep()  // a duplicate, or news older than what is known
            default:
                let detail =
                    "a refund notification reports \(Self.refundStatusWord(notice.status)) for refund \(record.outRefundNo), already \(record.status.rawValue)"
                let event = Self.anomalyEvent(
                    outTradeNo: current.outTradeNo, state: current, kind: "conflicting_refund", detail: detail,
                    evidence: callback.evidence, now: now, extra: ["out_refund_no": .string(record.outRefundNo)])
                return OrderStep(outputs: [.publish(event), .deadLetter(reason: .conflictingRefund, detail: detail)])
            }
        }
        switch notice.status {
        case .succeeded(let details):
            guard details.amount.fen == record.amountFen else {
                let isPart = record.subRefunds.contains { $0.amountFen == details.amount.fen }
                if record.subRefunds.count > 1, isPart {
                    // One sub-order's part of a combine refund (WeChat notifies per sub-order): the
                    // refund is final when every part is, which its query tells.
                    return OrderStep()
                }
                let detail =
                    "the refund notification reports \(details.amount.fen) fen refunded for a refund of \(record.amountFen) fen"
                let event = Self.anomalyEvent(
                    outTradeNo: current.outTradeNo, state: current, kind: RejectionReason.amountMismatch.rawValue,
                    detail: detail, evidence: callback.evidence, now: now,
                    extra: [
                        "out_refund_no": .string(record.outRefundNo),
                        "reported_amount_fen": .integer(details.amount.fen),
                    ])
                // The refund's timer keeps querying: the query is the source of truth.
                return OrderStep(outputs: [.publish(event), .deadLetter(reason: .amountMismatch, detail: detail)])
            }
            return OrderStep(outputs: refundSucceeded(record, details, now: now))
        case .failed(let failure):
            return OrderStep(outputs: refundFailed(record, failure, now: now))
        case .processing, .notFound:
            return OrderStep()
        }
    }

    static func refundStatusWord(_ status: RefundStatus) -> String {
        switch status {
        case .processing: "processing"
        case .succeeded: "succeeded"
        case .failed: "failed"
        case .notFound: "not_found"
        }
    }

    // MARK: Transitions

    private mutating func refundSucceeded(
        _ record: OrderState.RefundRecord, _ details: RefundDetails, now: Date
    ) -> [OrderOutput] {
        var done = record
        done.status = .succeeded
        done.vendorRefundIDs = details.vendorRefundIDs
        done.refundedFen = details.amount.fen
        done.refundedAt = details.refundedAt
        done.terminalAt = now
        return finishRefund(done, now: now)
    }

    private mutating func refundFailed(
        _ record: OrderState.RefundRecord, _ failure: VendorFailure, now: Date
    ) -> [OrderOutput] {
        var done = record
        done.status = .failed
        done.failure = failure
        done.terminalAt = now
        return finishRefund(done, now: now)
    }

    /// Records a terminal refund: its record, its one terminal event, and a retention timer so the
    /// order is kept at least `stateRetention` after its last refund.
    private mutating func finishRefund(_ record: OrderState.RefundRecord, now: Date) -> [OrderOutput] {
        guard var current = state, current.refund(record.outRefundNo)?.status.isTerminal == false else { return [] }
        current.update(record)
        state = current
        return [persist(), Self.refundEvent(current, record).map(OrderOutput.publish), retentionAfterRefund(now: now)]
            .compactMap { $0 }
    }

    /// Publishes `refund.pending` once per refund (its time is kept, so a repeat is identical).
    private mutating func announcePending(
        _ record: OrderState.RefundRecord, reason: String, now: Date
    ) -> [OrderOutput] {
        var pending = record
        var outputs: [OrderOutput] = []
        if pending.pendingAt == nil {
            pending.pendingAt = now
            pending.pendingReason = reason
            outputs = update(pending)
            if let current = state, let event = Self.refundEvent(current, pending) { outputs.append(.publish(event)) }
            return outputs
        }
        return update(pending)
    }

    /// Stores a changed refund and persists the order.
    private mutating func update(_ record: OrderState.RefundRecord) -> [OrderOutput] {
        guard var current = state else { return [] }
        current.update(record)
        state = current
        return [persist()].compactMap { $0 }
    }

    /// A retention timer measured from now (the order is kept that long after its last refund activity).
    private func retentionAfterRefund(now: Date) -> OrderOutput? {
        job(.query, .expiry, attempt: 1, due: now + configuration.stateRetention.timeInterval)
    }

    /// When the retention of a terminal order starts: its terminal time or its latest refund activity.
    static func retentionBase(_ state: OrderState) -> Date? {
        guard let terminalAt = state.terminalAt else { return nil }
        return state.refunds.reduce(terminalAt) { latest, refund in
            max(latest, refund.terminalAt ?? refund.requestedAt)
        }
    }

    /// Whether a refund still waits for its vendor's answer (the order must not be forgotten).
    static func hasRefundInFlight(_ state: OrderState) -> Bool {
        state.refunds.contains { !$0.status.isTerminal && !$0.stuck }
    }

    // MARK: Building blocks

    /// The refund as its channel needs it.
    func refundOrder(_ record: OrderState.RefundRecord, of state: OrderState) -> RefundOrder {
        RefundOrder(
            outRefundNo: record.outRefundNo, amount: Money(fen: record.amountFen), reason: record.reason,
            notifyURL: context.notifyURL, requestedAt: record.requestedAt,
            payment: state.reference(notifyURL: context.notifyURL), transactionID: state.payment?.transactionID,
            subRefunds: record.subRefunds.map { sub in
                SubRefund(
                    outTradeNo: sub.outTradeNo, amount: Money(fen: sub.amountFen), paid: Money(fen: sub.paidFen),
                    vendorMerchantID: sub.vendorMerchantID, transactionID: sub.transactionID)
            })
    }

    /// The identity of a refund's parameters (a repeat with another digest is a conflict).
    static func refundDigest(_ refund: OrderRequest.Refund, amount: Money) -> String {
        let subs = refund.subOrders.sorted { $0.outTradeNo < $1.outTradeNo }.map { "\($0.outTradeNo):\($0.amount.fen)" }
        return ContentDigest.sha256Hex(
            "\(refund.outRefundNo)|\(amount.fen)|\(refund.reason ?? "")|\(subs.joined(separator: ","))")
    }

    struct RefundProblem: Error {
        var reason: RejectionReason
        var detail: String
    }

    /// The sub-orders of a combine refund: the named ones (`options.sub_orders`), or every sub-order
    /// in full when none is named (then the refund must be the whole order).
    static func combineSubRefunds(
        _ refund: OrderRequest.Refund, amount: Money, order: OrderState, payment: OrderState.PaymentRecord,
        live: [OrderState.RefundRecord]
    ) -> Result<[OrderState.RefundRecord.SubRefundRecord], RefundProblem> {
        typealias Part = OrderState.RefundRecord.SubRefundRecord
        var paid: [Part] = payment.subPayments.map { sub in
            Part(
                outTradeNo: sub.outTradeNo, amountFen: sub.amountFen, paidFen: sub.amountFen,
                vendorMerchantID: sub.vendorMerchantID, transactionID: sub.transactionID)
        }
        if paid.isEmpty, case .array(let planned)? = order.options["sub_orders"] {
            paid = planned.compactMap { item in
                guard let number = item["out_trade_no"]?.stringValue, let fen = item["amount_fen"]?.integerValue else {
                    return nil
                }
                return Part(
                    outTradeNo: number, amountFen: fen, paidFen: fen, vendorMerchantID: item["mchid"]?.stringValue)
            }
        }
        guard !paid.isEmpty else {
            return .failure(RefundProblem(reason: .invalidRequest, detail: "the order's sub-orders are not known"))
        }
        if refund.subOrders.isEmpty {
            guard amount.fen == payment.amountFen else {
                return .failure(
                    RefundProblem(
                        reason: .invalidField,
                        detail:
                            "a wechat-v3-combine refund without options.sub_orders refunds the whole order: amount_fen must be \(payment.amountFen)"
                    ))
            }
            return .success(paid)
        }
        var parts: [Part] = []
        for named in refund.subOrders {
            guard var part = paid.first(where: { $0.outTradeNo == named.outTradeNo }) else {
                return .failure(
                    RefundProblem(
                        reason: .invalidField,
                        detail:
                            "options.sub_orders names \(OrderRequestDecoder.clip(named.outTradeNo)), which is not a sub-order of this order"
                    ))
            }
            let already = live.flatMap(\.subRefunds).filter { $0.outTradeNo == named.outTradeNo }.reduce(Int64(0)) {
                $0 + $1.amountFen
            }
            guard already + named.amount.fen <= part.paidFen else {
                return .failure(
                    RefundProblem(
                        reason: .refundExceedsPaid,
                        detail:
                            "sub-order \(named.outTradeNo): refunding \(named.amount.fen) fen would give back \(already + named.amount.fen) fen of the \(part.paidFen) fen paid"
                    ))
            }
            part.amountFen = named.amount.fen
            parts.append(part)
        }
        return .success(parts)
    }

    /// A refund event of the order, built from its state so that a repeat is identical:
    /// `refund.pending` (time = when announced), `refund.succeeded` / `refund.failed` (time = when final).
    static func refundEvent(_ state: OrderState, _ record: OrderState.RefundRecord) -> PaymentEvent? {
        var data = baseData(state)
        data["out_refund_no"] = .string(record.outRefundNo)
        data["refund_amount_fen"] = .integer(record.amountFen)
        if let reason = record.reason { data["refund_reason"] = .string(reason) }
        if let transactionID = state.payment?.transactionID { data["transaction_id"] = .string(transactionID) }
        if !record.subRefunds.isEmpty {
            data["sub_refunds"] = .array(
                record.subRefunds.map { sub in
                    .object(["out_trade_no": .string(sub.outTradeNo), "amount_fen": .integer(sub.amountFen)])
                })
        }
        let kind: PaymentEvent.Kind
        let time: Date
        switch record.status {
        case .succeeded:
            kind = .refundSucceeded
            time = record.terminalAt ?? record.requestedAt
            data["refund_status"] = .string("succeeded")
            data["vendor_refund_ids"] = .array(record.vendorRefundIDs.map { .string($0) })
            data["refunded_amount_fen"] = .integer(record.refundedFen ?? record.amountFen)
            if let at = record.refundedAt { data["refunded_at"] = .string(RFC3339.format(at)) }
        case .failed:
            kind = .refundFailed
            time = record.terminalAt ?? record.requestedAt
            let failure = record.failure ?? VendorFailure(code: "unknown", message: "")
            data["refund_status"] = .string("failed")
            data["vendor_code"] = .string(failure.code)
            data["vendor_message"] = .string(String(failure.message.prefix(200)))
        case .requested, .processing:
            guard let pendingAt = record.pendingAt else { return nil }
            kind = .refundPending
            time = pendingAt
            data["refund_status"] = .string("pending")
            data["reason"] = .string(record.pendingReason ?? "processing")
        }
        return PaymentEvent(
            kind: kind, outTradeNo: state.outTradeNo, discriminator: record.outRefundNo, time: time, data: data)
    }
}

extension OrderState {
    /// Replaces the refund with the same `out_refund_no` (or appends it).
    mutating func update(_ record: RefundRecord) {
        var all = refunds
        if let index = all.firstIndex(where: { $0.outRefundNo == record.outRefundNo }) {
            all[index] = record
        } else {
            all.append(record)
        }
        refunds = all
    }
}
