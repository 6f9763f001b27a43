import Foundation
import Kafka
import Logging
import Payments

/// Handles one input message of one order: decodes it, runs the order's state machine, performs
/// the vendor calls it asks for and writes its outputs. Stateless; the caller owns the order state
/// and hands in a snapshot (nothing else touches that order while this runs).
struct MessageProcessor: Sendable {
    /// What happened to the order's state.
    enum StateChange: Sendable {
        case unchanged
        case set(OrderState)
        case removed
    }

    let registry: ChannelRegistry
    let configuration: OrderMachineConfiguration
    let writer: OutputWriter
    let metrics: WorkerInstruments
    let logger: Logger
    /// Which partition owns each key; `nil` skips the check (tests that feed messages directly).
    let ownership: PartitionOwnership?
    let reroutes = RerouteReporter()
    let decoder = OrderRequestDecoder()

    /// Processes `message` for the order whose current state is `state`.
    ///
    /// - Throws: `CancellationError` when the work was abandoned before its outputs were all
    ///   acknowledged (the offset must not be stored).
    func process(_ message: KafkaConsumerMessage, state: OrderState?) async throws -> StateChange {
        var logger = self.logger
        if let key = message.keyString { logger[metadataKey: LogKey.outTradeNo] = .string(key) }
        logger[metadataKey: LogKey.topic] = .string(message.topic)
        logger[metadataKey: LogKey.partition] = .stringConvertible(message.partition)
        logger[metadataKey: LogKey.offset] = .stringConvertible(message.offset)
        if let owner = ownership?.misplacement(of: message) {
            // Its order lives on `owner` (state, callbacks, timers): handling it here would act on
            // an order this partition does not know. Forwarded in this key's lane, so the key's
            // order is kept, and acknowledged before this offset can be stored.
            try await writer.forward([PartitionOwnership.forwarded(message, to: owner)], logger: logger)
            metrics.rerouted(topic: message.topic)
            reroutes.forwarded(message, to: owner, logger: logger)
            return .unchanged
        }
        switch message.topic {
        case FleetTopic.orderRequests: return try await request(message, state: state, logger: logger)
        case FleetTopic.callbacks: return try await callback(message, state: state, logger: logger)
        case FleetTopic.queryJobs: return try await job(message, state: state, logger: logger)
        default:
            try await deadLetter(
                message, .invalidField, "the worker does not consume topic \(message.topic)", logger: logger)
            return .unchanged
        }
    }

    // MARK: Inputs

    private func request(
        _ message: KafkaConsumerMessage, state: OrderState?, logger: Logger
    ) async throws -> StateChange {
        let now = Date()
        let request: OrderRequest
        switch decoder.decode(value: message.value, key: message.keyString) {
        case .failure(let rejection):
            return try await reject(rejection, message, now: now, logger: logger)
        case .success(let decoded):
            request = decoded
        }
        guard let account = registry.directory.account(request.merchant),
            let context = registry.context(for: request.merchant)
        else {
            return try await reject(
                rejection(
                    request, .unknownMerchant,
                    "merchant \"\(OrderRequestDecoder.clip(request.merchant))\" is not configured"),
                message, now: now, logger: logger)
        }
        guard account.channel == request.channel else {
            return try await reject(
                rejection(
                    request, .channelMismatch,
                    "merchant \(request.merchant) is a \(account.channel.rawValue) account, not \(request.channel.rawValue)"
                ),
                message, now: now, logger: logger)
        }
        var machine = OrderMachine(state: state, configuration: configuration, context: context)
        let step = machine.requestReceived(request, receivedAt: message.timestamp ?? now, now: now)
        return try await drive(step, machine: &machine, input: message, before: state, logger: logger)
    }

    private func callback(
        _ message: KafkaConsumerMessage, state: OrderState?, logger: Logger
    ) async throws -> StateChange {
        let now = Date()
        let record: CallbackRecord
        do throws(RequestRejection) {
            record = try CallbackRecord.decode(key: message.keyString, value: message.value, headers: message.headers)
        } catch {
            metrics.callback(channel: nil, result: .refused(error.reason))
            try await deadLetter(message, error.reason, error.detail, logger: logger)
            return .unchanged
        }
        guard let channel = registry.channel(for: record.merchant) else {
            metrics.callback(channel: nil, result: .refused(.unknownMerchant))
            let event = OrderMachine.anomalyEvent(
                outTradeNo: record.outTradeNo, state: state, kind: RejectionReason.unknownMerchant.rawValue,
                detail:
                    "a callback arrived for merchant \(OrderRequestDecoder.clip(record.merchant)), which is not configured",
                evidence: record.bodyDigest, now: now)
            try await writer.write(
                [
                    .publish(event),
                    .deadLetter(reason: .unknownMerchant, detail: "callback for an unconfigured merchant"),
                ],
                input: message, now: now, logger: logger)
            return .unchanged
        }
        let check: CallbackCheck
        do throws(CallbackError) {
            check = .verified(try await channel.verifyCallback(record.raw))
            metrics.callback(channel: channel.channel, result: .verified)
        } catch {
            check = .rejected(error)
            metrics.callback(channel: channel.channel, result: .notVerified(error.kind))
            logger.notice(
                "callback not accepted",
                metadata: [LogKey.reason: "\(error.kind.rawValue)", LogKey.merchant: "\(record.merchant)"])
        }
        // The order's own account decides the rules; an unknown order uses the notify URL's account.
        let merchant = state?.merchant ?? record.merchant
        guard let context = registry.context(for: merchant) ?? registry.context(for: record.merchant) else {
            return .unchanged
        }
        var machine = OrderMachine(state: state, configuration: configuration, context: context)
        let input = CallbackInput(
            merchant: record.merchant, outTradeNo: record.outTradeNo, evidence: record.bodyDigest, check: check)
        let step = machine.callbackReceived(input, now: now)
        return try await drive(step, machine: &machine, input: message, before: state, logger: logger)
    }

    private func job(_ message: KafkaConsumerMessage, state: OrderState?, logger: Logger) async throws -> StateChange {
        let now = Date()
        let job: TimerJob
        do throws(RequestRejection) {
            job = try TimerJob.decode(message.value)
        } catch {
            try await deadLetter(message, error.reason, error.detail, logger: logger)
            return .unchanged
        }
        guard job.outTradeNo == message.keyString else {
            try await deadLetter(
                message, .keyMismatch, "the timer job's out_trade_no is not its record key", logger: logger)
            return .unchanged
        }
        guard let state else {
            logger.debug(
                "timer for an order this partition does not hold; nothing to do",
                metadata: [LogKey.timerID: "\(job.timerID)"])
            return .unchanged
        }
        guard let context = registry.context(for: state.merchant) else {
            logger.error(
                "order's merchant is no longer configured; timer cannot run",
                metadata: [LogKey.merchant: "\(state.merchant)"])
            try await deadLetter(
                message, .unknownMerchant, "the order's merchant \(state.merchant) is not configured", logger: logger)
            return .unchanged
        }
        var machine = OrderMachine(state: state, configuration: configuration, context: context)
        let step = machine.jobDue(job, now: now)
        return try await drive(step, machine: &machine, input: message, before: state, logger: logger)
    }

    // MARK: Driving the machine

    /// Writes each step's outputs (acknowledged before any vendor call), performs the call, feeds
    /// the answer back, until a step asks for no call.
    private func drive(
        _ first: OrderStep, machine: inout OrderMachine, input: KafkaConsumerMessage, before: OrderState?,
        logger: Logger
    ) async throws -> StateChange {
        var step = first
        while true {
            try await writer.write(step.outputs, input: input, now: Date(), logger: logger, finishes: step.call == nil)
            log(step, logger: logger)
            guard let call = step.call else { break }
            guard let merchant = machine.state?.merchant, let channel = registry.channel(for: merchant) else { break }
            step = await perform(call, channel: channel, machine: &machine, logger: logger)
        }
        switch (before, machine.state) {
        case (_, let after?): return after == before ? .unchanged : .set(after)
        case (nil, nil): return .unchanged
        case (_?, nil): return .removed
        }
    }

    private func perform(
        _ call: VendorCall, channel: any PaymentChannel, machine: inout OrderMachine, logger: Logger
    ) async -> OrderStep {
        let clock = ContinuousClock()
        let start = clock.now
        let channelID = channel.channel
        func record(_ error: ChannelError.Code?) {
            metrics.vendorCall(channel: channelID, operation: .init(call), error: error, duration: clock.now - start)
        }
        switch call {
        case .create(let order):
            let result: Result<CreateOutcome, ChannelError>
            do throws(ChannelError) { result = .success(try await channel.create(order)) } catch {
                result = .failure(error)
            }
            record(Self.outcome(result))
            logVendor(call, result.failureValue, logger: logger)
            return machine.createAnswered(result, now: Date())
        case .query(let reference):
            let result: Result<TradeStatus, ChannelError>
            do throws(ChannelError) { result = .success(try await channel.query(reference)) } catch {
                result = .failure(error)
            }
            record(Self.outcome(result))
            logVendor(call, result.failureValue, logger: logger)
            return machine.queryAnswered(result, now: Date())
        case .close(let reference):
            let result: Result<CloseOutcome, ChannelError>
            do throws(ChannelError) { result = .success(try await channel.close(reference)) } catch {
                result = .failure(error)
            }
            record(Self.outcome(result))
            logVendor(call, result.failureValue, logger: logger)
            return machine.closeAnswered(result, now: Date())
        case .refund(let refund):
            let result: Result<RefundOutcome, ChannelError>
            if let refunding = channel as? any RefundingChannel {
                do throws(ChannelError) { result = .success(try await refunding.refund(refund)) } catch {
                    result = .failure(error)
                }
            } else {
                result = .failure(.invalidRequest("channel \(channelID.rawValue) does not refund"))
            }
            record(Self.outcome(result))
            logVendor(call, result.failureValue, logger: logger)
            return machine.refundAnswered(refund.outRefundNo, result: result, now: Date())
        case .queryRefund(let reference):
            let result: Result<RefundStatus, ChannelError>
            if let refunding = channel as? any RefundingChannel {
                do throws(ChannelError) { result = .success(try await refunding.queryRefund(reference)) } catch {
                    result = .failure(error)
                }
            } else {
                result = .failure(.invalidRequest("channel \(channelID.rawValue) does not refund"))
            }
            record(Self.outcome(result))
            logVendor(call, result.failureValue, logger: logger)
            return machine.refundQueryAnswered(reference.refund.outRefundNo, result: result, now: Date())
        }
    }

    /// The error code of a failed call (`nil`: the call answered; the metric's `outcome` is `ok`).
    static func outcome<T>(_ result: Result<T, ChannelError>) -> ChannelError.Code? {
        switch result {
        case .success: nil
        case .failure(let error): error.code
        }
    }

    // MARK: Rejections and dead letters

    private func rejection(_ request: OrderRequest, _ reason: RejectionReason, _ detail: String) -> RequestRejection {
        RequestRejection(
            reason: reason, detail: detail, outTradeNo: request.outTradeNo, merchant: request.merchant,
            channel: request.channel.rawValue, action: request.action.rawValue, contentDigest: request.contentDigest)
    }

    private func reject(
        _ rejection: RequestRejection, _ message: KafkaConsumerMessage, now: Date, logger: Logger
    ) async throws -> StateChange {
        logger.notice("order request rejected", metadata: [LogKey.reason: "\(rejection.reason.rawValue)"])
        try await writer.write(OrderMachine.rejection(rejection, now: now), input: message, now: now, logger: logger)
        return .unchanged
    }

    private func deadLetter(
        _ message: KafkaConsumerMessage, _ reason: RejectionReason, _ detail: String, logger: Logger
    ) async throws {
        logger.notice("input dead-lettered", metadata: [LogKey.reason: "\(reason.rawValue)"])
        try await writer.write(
            [.deadLetter(reason: reason, detail: detail)], input: message, now: Date(), logger: logger)
    }

    private func log(_ step: OrderStep, logger: Logger) {
        for event in step.events {
            if event.kind == .anomaly {
                logger.warning("payment anomaly", metadata: ["kind": "\(event.data["anomaly"]?.stringValue ?? "")"])
            } else {
                logger.debug("event published", metadata: ["type": "\(event.kind.shortName)"])
            }
        }
    }

    private func logVendor(_ call: VendorCall, _ error: ChannelError?, logger: Logger) {
        guard let error else { return }
        logger.notice(
            "vendor call failed",
            metadata: [
                "operation": "\(call.operation)", LogKey.reason: "\(error.code.rawValue)",
                LogKey.error: "\(error.message)",
            ])
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
