import Foundation
import Payments

/// One output of the order state machine: a record the worker must have acknowledged by the broker
/// before it stores the input's offset.
public enum OrderOutput: Sendable, Hashable {
    /// Write the order's state to `payfleet.order-state`.
    case persist(OrderState)
    /// Tombstone the order's state (it is forgotten).
    case forget(outTradeNo: String)
    /// Publish an event on `payfleet.payment-events`.
    case publish(PaymentEvent)
    /// Ask the scheduler for a timer.
    case schedule(TimerJob)
    /// Dead-letter the input record being handled, with this reason.
    case deadLetter(reason: RejectionReason, detail: String)
}

/// A vendor call the state machine asks for; its answer goes back in through
/// ``OrderMachine/createAnswered(_:now:)``, ``OrderMachine/queryAnswered(_:now:)`` or
/// ``OrderMachine/closeAnswered(_:now:)``.
public enum VendorCall: Sendable, Hashable {
    case create(PaymentOrder)
    case query(OrderReference)
    case close(OrderReference)
    /// Ask the vendor to refund (the channel is a `RefundingChannel`); the answer goes back in
    /// through ``OrderMachine/refundAnswered(_:result:now:)``.
    case refund(RefundOrder)
    /// Ask the vendor for a refund's state; the answer goes back in through
    /// ``OrderMachine/refundQueryAnswered(_:result:now:)``.
    case queryRefund(RefundReference)

    /// A bounded name for metrics and logs.
    public var operation: String {
        switch self {
        case .create: "create"
        case .query: "query"
        case .close: "close"
        case .refund: "refund"
        case .queryRefund: "refund_query"
        }
    }
}

/// What the worker does after feeding one event into the machine: write ``outputs`` (in order), and
/// if ``call`` is set, wait for those outputs to be acknowledged, make the call and feed its answer back.
public struct OrderStep: Sendable, Hashable {
    public var outputs: [OrderOutput]
    public var call: VendorCall?

    public init(outputs: [OrderOutput] = [], call: VendorCall? = nil) {
        self.outputs = outputs
        self.call = call
    }

    /// The events among the outputs.
    public var events: [PaymentEvent] {
        outputs.compactMap { if case .publish(let event) = $0 { event } else { nil } }
    }

    /// The timers among the outputs.
    public var timers: [TimerJob] {
        outputs.compactMap { if case .schedule(let job) = $0 { job } else { nil } }
    }

    /// The dead-letter reasons among the outputs.
    public var deadLetters: [RejectionReason] {
        outputs.compactMap { if case .deadLetter(let reason, _) = $0 { reason } else { nil } }
    }

    /// The last state persisted among the outputs.
    public var persisted: OrderState? {
        outputs.last { if case .persist = $0 { true } else { false } }.flatMap {
            if case .persist(let state) = $0 { state } else { nil }
        }
    }
}

/// The result of verifying a callback, as the worker hands it to the machine.
public enum CallbackCheck: Sendable, Hashable {
    /// The signature verified; the parsed content.
    case verified(VerifiedCallback)
    /// The callback was not accepted as genuine.
    case rejected(CallbackError)
}

/// A callback record as the machine needs it: where it came from and what it proves.
public struct CallbackInput: Sendable, Hashable {
    /// The merchant alias of the notify URL the callback arrived at.
    public var merchant: String
    /// The record key (the order the ingress found in the callback).
    public var outTradeNo: String
    /// SHA-256 hex of the callback body (evidence in anomaly ids).
    public var evidence: String
    public var check: CallbackCheck

    public init(merchant: String, outTradeNo: String, evidence: String, check: CallbackCheck) {
        self.merchant = merchant
        self.outTradeNo = outTradeNo
        self.evidence = evidence
        self.check = check
    }
}
