import Fleet
import Foundation
import Payments

/// The order-request target. Input: the record key, a newline, then the record value (no newline:
/// no key; empty input: a tombstone).
///
/// A request whose only fault is the key (the key must equal `out_trade_no`) is decoded again
/// under its own `out_trade_no`, as an upstream that keys its records correctly would send it, so
/// mutations reach every field check. A decoded request then goes where the worker sends it: its
/// merchant's order state machine (for a create, the channel's `validate`), whose outputs are
/// written as records.
///
/// Properties: nothing traps; decoding is deterministic; a decoded request is keyed by its own
/// `out_trade_no`, and a create has a positive amount within the limit and a description; the
/// order state and timer jobs written for it read back.
enum OrderRequestFuzzing {
    static let decoder = OrderRequestDecoder()
    /// The record timestamp and the worker's clock: 2025-12-01T03:33:20Z.
    static let createdAt = Date(timeIntervalSince1970: 1_764_560_000)

    static func run(_ input: [UInt8]) throws(FuzzFinding) -> FuzzOutcome {
        let key: String?
        let value: Data?
        if input.isEmpty {
            key = nil
            value = nil
        } else if let newline = input.firstIndex(of: UInt8(ascii: "\n")) {
            key = String(decoding: input[..<newline], as: UTF8.self)
            value = Data(input[(newline + 1)...])
        } else {
            key = nil
            value = Data(input)
        }
        var result = try decode(value: value, key: key)
        if case .failure(let rejection) = result, rejection.reason == .keyMismatch, let own = rejection.outTradeNo {
            result = try decode(value: value, key: own)
        }
        if case .success = result { return FuzzOutcome(acceptedAsReceived: true) }
        return FuzzOutcome()
    }

    static func decode(value: Data?, key: String?) throws(FuzzFinding) -> Result<OrderRequest, RequestRejection> {
        let target = FuzzTarget.orderRequest
        let result = decoder.decode(value: value, key: key)
        guard decoder.decode(value: value, key: key) == result else {
            throw FuzzFinding(target, "decoding the same record twice gave different results")
        }
        guard case .success(let request) = result else { return result }
        guard request.outTradeNo == key else {
            throw FuzzFinding(target, "a request was accepted under a key other than its out_trade_no")
        }
        if request.action == .create {
            guard let amount = request.amount, amount.fen > 0, amount <= decoder.maximumAmount else {
                throw FuzzFinding(target, "a create was accepted without a positive amount within the limit")
            }
            guard let description = request.description, !description.isEmpty else {
                throw FuzzFinding(target, "a create was accepted without a description")
            }
        }
        try drive(request)
        return result
    }

    /// What the worker does with a decoded request: resolve its merchant, feed it to a fresh order
    /// state machine (which runs the channel's `validate` for a create) and write the outputs as
    /// records; the records the worker and the scheduler read back must decode.
    static func drive(_ request: OrderRequest) throws(FuzzFinding) {
        let target = FuzzTarget.orderRequest
        let registry = FuzzChannels.shared.registry
        guard let account = registry.directory.account(request.merchant), account.channel == request.channel,
            let context = registry.context(for: request.merchant)
        else { return }  // the worker rejects it as unknown_merchant / channel_mismatch
        var machine = OrderMachine(state: nil, configuration: OrderMachineConfiguration(), context: context)
        let step = machine.requestReceived(request, receivedAt: createdAt, now: createdAt)
        for output in step.outputs {
            switch output {
            case .persist(let state):
                do throws(OrderStateDecodingError) {
                    _ = try OrderState.decode(state.encoded())
                } catch {
                    throw FuzzFinding(
                        target, "the order state written for a decoded request does not read back: \(error.detail)")
                }
            case .schedule(let job):
                do throws(RequestRejection) {
                    _ = try TimerJob.decode(job.message(now: createdAt).value)
                } catch {
                    throw FuzzFinding(
                        target, "the timer job written for a decoded request does not read back: \(error.detail)")
                }
            case .publish(let event):
                _ = event.message()
            case .forget, .deadLetter:
                break
            }
        }
    }
}
