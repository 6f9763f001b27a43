import Foundation
import Payments
import Testing

@testable import Fleet

/// The refund lifecycle of the order state machine: one terminal event per `out_refund_no`, refunds
/// never above what was paid, idempotent repeats, conflicts, timers, notifications, persistence.
@Suite struct OrderMachineRefundTests {
    static let refundPolicy = RefundPolicy(
        firstQuery: .seconds(5), queryIntervals: [.seconds(10), .seconds(60)], queryLimit: .seconds(600))

    static func refundingContext(
        validate: @escaping @Sendable (RefundOrder) throws(ChannelError) -> Void = { _ throws(ChannelError) in }
    ) -> OrderContext {
        var context = Fixture.context()
        context.refunds = RefundSupport(policy: refundPolicy, validate: validate)
        return context
    }

    /// A machine whose order (100 fen) was paid at t0+60.
    static func paidMachine(context: OrderContext = refundingContext()) -> OrderMachine {
        var machine = OrderMachine(state: nil, configuration: OrderMachineConfiguration(), context: context)
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        _ = machine.createAnswered(.success(.prepared(Fixture.prepared)), now: Fixture.at(1))
        _ = machine.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(60))
        return machine
    }

    static func refund(
        _ number: String, amount: Int64, reason: String? = nil, channel: ChannelID = .wechatV2,
        subOrders: [OrderRequest.Refund.SubOrder] = []
    ) -> OrderRequest {
        var request = Fixture.request(.refund, channel: channel, amount: amount, digest: "refund-\(number)-\(amount)")
        request.refund = OrderRequest.Refund(outRefundNo: number, reason: reason, subOrders: subOrders)
        return request
    }

    static func details(_ id: String = "R1", amount: Int64) -> RefundDetails {
        RefundDetails(vendorRefundIDs: [id], amount: Money(fen: amount), refundedAt: Fixture.at(100))
    }

    static func done(_ id: String = "R1", amount: Int64) -> RefundOutcome {
        .succeeded(details(id, amount: amount))
    }

    @Test(
        "a refund is durable before the vendor call, and a synchronous success publishes exactly one refund.succeeded")
    func synchronousSuccess() throws {
        var machine = Self.paidMachine()
        let step = machine.requestReceived(
            Self.refund("RF1", amount: 40), receivedAt: Fixture.at(90), now: Fixture.at(90))
        guard case .refund(let order)? = step.call else {
            Issue.record("expected a refund call")
            return
        }
        #expect(order.outRefundNo == "RF1" && order.amount.fen == 40 && order.transactionID == "4200001")
        #expect(step.persisted?.refunds.first?.status == .requested)
        #expect(step.timers.first?.reason == .refund && step.timers.first?.outRefundNo == "RF1")
        let answered = machine.refundAnswered("RF1", result: .success(Self.done(amount: 40)), now: Fixture.at(91))
        #expect(answered.eventKinds == [.refundSucceeded])
        let event = try #require(answered.events.first)
        #expect(event.data["out_refund_no"] == .string("RF1"))
        #expect(event.data["refund_amount_fen"] == .integer(40))
        #expect(event.data["status"] == .string("succeeded"))
        #expect(machine.state?.status == .succeeded)  // the payment stays succeeded
        // The safety timer later finds the refund final: no vendor call, no event.
        let late = machine.jobDue(try #require(step.timers.first), now: Fixture.at(96))
        #expect(late.call == nil && late.events.isEmpty)
    }

    @Test("two partial refunds adding up to the payment succeed; a third is rejected refund_exceeds_paid")
    func partialRefundsAndExceeding() {
        var machine = Self.paidMachine()
        _ = machine.requestReceived(Self.refund("RF1", amount: 60), receivedAt: Fixture.at(90), now: Fixture.at(90))
        _ = machine.refundAnswered("RF1", result: .success(Self.done(amount: 60)), now: Fixture.at(91))
        let second = machine.requestReceived(
            Self.refund("RF2", amount: 40), receivedAt: Fixture.at(92), now: Fixture.at(92))
        #expect(second.call != nil)
        _ = machine.refundAnswered("RF2", result: .success(Self.done("R2", amount: 40)), now: Fixture.at(93))
        let third = machine.requestReceived(
            Self.refund("RF3", amount: 1), receivedAt: Fixture.at(94), now: Fixture.at(94))
        #expect(third.call == nil)
        #expect(third.deadLetters == [.refundExceedsPaid])
        #expect(third.eventKinds == [.rejected])
    }

    @Test("refunds in flight count against what was paid; a failed refund frees its amount")
    func inFlightCountsFailedFrees() {
        var machine = Self.paidMachine()
        _ = machine.requestReceived(Self.refund("RF1", amount: 70), receivedAt: Fixture.at(90), now: Fixture.at(90))
        _ = machine.refundAnswered("RF1", result: .success(.processing(memo: [:])), now: Fixture.at(91))
        let over = machine.requestReceived(
            Self.refund("RF2", amount: 31), receivedAt: Fixture.at(92), now: Fixture.at(92))
        #expect(over.deadLetters == [.refundExceedsPaid])
        // RF1 fails: its 70 fen may be refunded again.
        var failing = Self.paidMachine()
        _ = failing.requestReceived(Self.refund("RF1", amount: 70), receivedAt: Fixture.at(90), now: Fixture.at(90))
        let failed = failing.refundAnswered(
            "RF1", result: .success(.failed(VendorFailure(code: "NOTENOUGH", message: "余额不足"))), now: Fixture.at(91))
        #expect(failed.eventKinds == [.refundFailed])
        let again = failing.requestReceived(
            Self.refund("RF2", amount: 100), receivedAt: Fixture.at(92), now: Fixture.at(92))
        #expect(again.call != nil)
    }

    @Test("an identical repeat is idempotent: the same terminal event again, no second vendor call")
    func identicalRepeat() throws {
        var machine = Self.paidMachine()
        _ = machine.requestReceived(Self.refund("RF1", amount: 40), receivedAt: Fixture.at(90), now: Fixture.at(90))
        let first = machine.refundAnswered("RF1", result: .success(Self.done(amount: 40)), now: Fixture.at(91))
        let repeated = machine.requestReceived(
            Self.refund("RF1", amount: 40), receivedAt: Fixture.at(200), now: Fixture.at(200))
        #expect(repeated.call == nil)
        #expect(repeated.events == first.events)  // same ce_id, byte-identical data and time
        #expect(repeated.deadLetters.isEmpty)
    }

    @Test("a reused out_refund_no with other parameters is rejected refund_conflict")
    func conflict() {
        var machine = Self.paidMachine()
        _ = machine.requestReceived(Self.refund("RF1", amount: 40), receivedAt: Fixture.at(90), now: Fixture.at(90))
        let other = machine.requestReceived(
            Self.refund("RF1", amount: 41), receivedAt: Fixture.at(91), now: Fixture.at(91))
        #expect(other.deadLetters == [.refundConflict] && other.call == nil)
        let otherReason = machine.requestReceived(
            Self.refund("RF1", amount: 40, reason: "damaged"), receivedAt: Fixture.at(92), now: Fixture.at(92))
        #expect(otherReason.deadLetters == [.refundConflict])
    }

    @Test("a refund of an order not paid is rejected order_not_paid; of an unknown order unknown_order")
    func notPaid() {
        var machine = OrderMachine(
            state: nil, configuration: OrderMachineConfiguration(), context: Self.refundingContext())
        let unknown = machine.requestReceived(Self.refund("RF1", amount: 10), receivedAt: Fixture.t0, now: Fixture.t0)
        #expect(unknown.deadLetters == [.unknownOrder])
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        _ = machine.createAnswered(.success(.prepared(Fixture.prepared)), now: Fixture.at(1))
        let prepared = machine.requestReceived(
            Self.refund("RF1", amount: 10), receivedAt: Fixture.at(2), now: Fixture.at(2))
        #expect(prepared.deadLetters == [.orderNotPaid] && prepared.call == nil)
    }

    @Test("a channel that does not refund rejects refunds refund_unsupported")
    func unsupported() {
        var machine = Self.paidMachine(context: Fixture.context())
        let step = machine.requestReceived(
            Self.refund("RF1", amount: 10), receivedAt: Fixture.at(90), now: Fixture.at(90))
        #expect(step.deadLetters == [.refundUnsupported] && step.call == nil)
        #expect(machine.state?.refunds.isEmpty == true)
    }

    @Test("the channel's refund rules reject before any call: invalid_request")
    func channelValidation() {
        let context = Self.refundingContext { _ throws(ChannelError) in throw .invalidRequest("bad out_refund_no") }
        var machine = Self.paidMachine(context: context)
        let step = machine.requestReceived(
            Self.refund("RF 1", amount: 10), receivedAt: Fixture.at(90), now: Fixture.at(90))
        #expect(step.deadLetters == [.invalidRequest] && step.call == nil)
    }

    @Test("processing: one refund.pending, queried on the policy's cadence until final")
    func processingThenQuery() throws {
        var machine = Self.paidMachine()
        let accepted = machine.requestReceived(
            Self.refund("RF1", amount: 40), receivedAt: Fixture.at(90), now: Fixture.at(90))
        let first = try #require(accepted.timers.first)
        #expect(first.dueAt == Fixture.at(95))
        let processing = machine.refundAnswered(
            "RF1", result: .success(.processing(memo: ["refund_id": "X"])), now: Fixture.at(91))
        #expect(processing.eventKinds == [.refundPending])
        let due = machine.jobDue(first, now: Fixture.at(95))
        guard case .queryRefund(let reference)? = due.call else {
            Issue.record("expected a refund query")
            return
        }
        #expect(reference.memo["refund_id"] == "X")
        let second = try #require(due.timers.first)
        #expect(second.attempt == 2 && second.dueAt == Fixture.at(105))
        // A duplicate delivery of the first timer does nothing.
        #expect(machine.refundQueryAnswered("RF1", result: .success(.processing), now: Fixture.at(96)).events.isEmpty)
        #expect(machine.jobDue(first, now: Fixture.at(97)).call == nil)
        let third = machine.jobDue(second, now: Fixture.at(105))
        #expect(third.timers.first?.dueAt == Fixture.at(165))
        let final = machine.refundQueryAnswered(
            "RF1", result: .success(.succeeded(Self.details(amount: 40))), now: Fixture.at(106))
        #expect(final.eventKinds == [.refundSucceeded])
    }

    @Test("an unanswered refund call is sent again by its timer; past the limit it is reported stuck once")
    func retryAndStuck() throws {
        var machine = Self.paidMachine()
        let accepted = machine.requestReceived(
            Self.refund("RF1", amount: 40), receivedAt: Fixture.at(90), now: Fixture.at(90))
        let unanswered = machine.refundAnswered(
            "RF1", result: .failure(ChannelError(.vendorUnavailable, "HTTP 502")), now: Fixture.at(91))
        #expect(unanswered.eventKinds == [.refundPending])
        #expect(machine.state?.refund("RF1")?.status == .requested)
        let resend = machine.jobDue(try #require(accepted.timers.first), now: Fixture.at(95))
        guard case .refund(let again)? = resend.call else {
            Issue.record("expected the refund sent again")
            return
        }
        #expect(again.outRefundNo == "RF1")
        _ = machine.refundAnswered("RF1", result: .success(.processing(memo: [:])), now: Fixture.at(96))
        let late = TimerJob(
            job: .query, outTradeNo: "order-1", merchant: "shop", channel: "wechat-v2", dueAt: Fixture.at(700),
            reason: .refund, attempt: 9, outRefundNo: "RF1")
        let stuck = machine.jobDue(late, now: Fixture.at(700))
        #expect(stuck.call == nil)
        #expect(stuck.eventKinds == [.anomaly])
        #expect(stuck.events.first?.data["anomaly"] == .string("refund_stuck"))
        #expect(machine.state?.refund("RF1")?.stuck == true)
        #expect(machine.jobDue(late, now: Fixture.at(701)) == OrderStep())
    }

    @Test(
        "a verified refund notification finishes the refund once; a duplicate or a contradiction never adds a terminal")
    func notifications() {
        var machine = Self.paidMachine()
        _ = machine.requestReceived(Self.refund("RF1", amount: 40), receivedAt: Fixture.at(90), now: Fixture.at(90))
        _ = machine.refundAnswered(
            "RF1", result: .success(.processing(memo: ["vendor_refund_no": "Y1"])), now: Fixture.at(91))
        func notice(_ status: RefundStatus, number: String = "", vendorNo: String? = "Y1") -> CallbackInput {
            var verified = VerifiedCallback(
                outTradeNo: "order-1", status: .notFound, vendorMerchantID: "10000100", amount: nil)
            verified.refund = RefundNotice(outRefundNo: number, status: status, vendorRefundNo: vendorNo)
            return CallbackInput(merchant: "shop", outTradeNo: "order-1", evidence: "e", check: .verified(verified))
        }
        let wrongAmount = machine.callbackReceived(
            notice(.succeeded(RefundDetails(amount: Money(fen: 41)))), now: Fixture.at(92))
        #expect(wrongAmount.eventKinds == [.anomaly] && wrongAmount.deadLetters == [.amountMismatch])
        let done = machine.callbackReceived(
            notice(.succeeded(RefundDetails(amount: Money(fen: 40)))), now: Fixture.at(93))
        #expect(done.eventKinds == [.refundSucceeded])
        let duplicate = machine.callbackReceived(
            notice(.succeeded(RefundDetails(amount: Money(fen: 40)))), now: Fixture.at(94))
        #expect(duplicate == OrderStep())
        let contradiction = machine.callbackReceived(
            notice(.failed(VendorFailure(code: "ABNORMAL", message: ""))), now: Fixture.at(95))
        #expect(contradiction.eventKinds == [.anomaly] && contradiction.deadLetters == [.conflictingRefund])
        let unknown = machine.callbackReceived(
            notice(.succeeded(RefundDetails(amount: Money(fen: 1))), number: "NOPE", vendorNo: nil), now: Fixture.at(96)
        )
        #expect(unknown.deadLetters == [.unknownRefund])
    }

    @Test("a crash between accepting and the vendor's answer: the replayed request sends the same refund again")
    func replayAfterCrash() throws {
        var machine = Self.paidMachine()
        let accepted = machine.requestReceived(
            Self.refund("RF1", amount: 40), receivedAt: Fixture.at(90), now: Fixture.at(90))
        let persisted = try #require(accepted.persisted)
        // The successor restores the persisted state (through the binary summary) and sees the request again.
        let restored = try OrderState.decode(persisted.encoded())
        var successor = OrderMachine(
            state: restored, configuration: OrderMachineConfiguration(), context: Self.refundingContext())
        let replay = successor.requestReceived(
            Self.refund("RF1", amount: 40), receivedAt: Fixture.at(90), now: Fixture.at(120))
        guard case .refund(let again)? = replay.call, case .refund(let original)? = accepted.call else {
            Issue.record("expected the refund sent again")
            return
        }
        // The same refund: number, amount, request time, payment and its memo (the summary drops
        // only what no refund reads, such as the description).
        #expect(again.outRefundNo == original.outRefundNo && again.amount == original.amount)
        #expect(again.requestedAt == original.requestedAt && again.transactionID == original.transactionID)
        #expect(again.payment.order.outTradeNo == original.payment.order.outTradeNo)
        #expect(again.payment.order.amount == original.payment.order.amount)
        #expect(again.payment.memo == original.payment.memo)
        #expect(
            successor.refundAnswered("RF1", result: .success(Self.done(amount: 40)), now: Fixture.at(121)).eventKinds
                == [.refundSucceeded])
    }

    @Test("retention keeps an order while a refund is in flight and for the retention after its last refund")
    func retention() throws {
        var machine = Self.paidMachine()
        let retention = OrderMachineConfiguration().stateRetention.timeInterval
        _ = machine.requestReceived(
            Self.refund("RF1", amount: 40), receivedAt: Fixture.at(60 + retention - 10),
            now: Fixture.at(60 + retention - 10))
        let expiry = Fixture.job(.query, .expiry, due: Fixture.at(60 + retention))
        #expect(!machine.jobDue(expiry, now: Fixture.at(60 + retention)).forgets)
        let done = machine.refundAnswered(
            "RF1", result: .success(Self.done(amount: 40)), now: Fixture.at(60 + retention - 5))
        let later = try #require(done.timers.first { $0.reason == .expiry })
        #expect(!machine.jobDue(expiry, now: Fixture.at(60 + retention + 1)).forgets)
        #expect(machine.jobDue(later, now: later.dueAt).forgets)
    }

    @Test("wechat-v3-combine: without sub_orders the refund covers every sub-order and must be the whole order")
    func combineSubRefunds() throws {
        var context = Self.refundingContext()
        context.vendorMerchantID = nil
        var state = OrderState(
            outTradeNo: "order-1", merchant: "shop", channel: .wechatV3Combine, amount: Money(fen: 300),
            description: "", createdAt: Fixture.t0, expiresAt: Fixture.at(7200), requestDigest: "d", status: .succeeded)
        state.terminalAt = Fixture.at(60)
        state.payment = OrderState.PaymentRecord(
            transactionID: "T", amountFen: 300, paidAt: nil, vendorMerchantID: nil,
            subPayments: [
                .init(
                    outTradeNo: "S1", vendorMerchantID: "1900000109", transactionID: "T1", amountFen: 100,
                    tradeState: "SUCCESS"),
                .init(
                    outTradeNo: "S2", vendorMerchantID: "1900000110", transactionID: "T2", amountFen: 200,
                    tradeState: "SUCCESS"),
            ])
        var machine = OrderMachine(state: state, configuration: OrderMachineConfiguration(), context: context)
        let partialWhole = machine.requestReceived(
            Self.refund("RF0", amount: 100, channel: .wechatV3Combine), receivedAt: Fixture.at(90), now: Fixture.at(90))
        #expect(partialWhole.deadLetters == [.invalidField])
        let one = machine.requestReceived(
            Self.refund(
                "RF1", amount: 50, channel: .wechatV3Combine,
                subOrders: [.init(outTradeNo: "S2", amount: Money(fen: 50))]),
            receivedAt: Fixture.at(91), now: Fixture.at(91))
        guard case .refund(let order)? = one.call else {
            Issue.record("expected a refund call")
            return
        }
        #expect(
            order.subRefunds == [
                SubRefund(
                    outTradeNo: "S2", amount: Money(fen: 50), paid: Money(fen: 200), vendorMerchantID: "1900000110",
                    transactionID: "T2")
            ])
        _ = machine.refundAnswered("RF1", result: .success(Self.done(amount: 50)), now: Fixture.at(92))
        let tooMuch = machine.requestReceived(
            Self.refund(
                "RF2", amount: 151, channel: .wechatV3Combine,
                subOrders: [.init(outTradeNo: "S2", amount: Money(fen: 151))]),
            receivedAt: Fixture.at(93), now: Fixture.at(93))
        #expect(tooMuch.deadLetters == [.refundExceedsPaid])
        let whole = machine.requestReceived(
            Self.refund("RF3", amount: 300, channel: .wechatV3Combine), receivedAt: Fixture.at(94), now: Fixture.at(94))
        #expect(whole.deadLetters == [.refundExceedsPaid])  // 50 fen already refunded

        // A two-part refund: a notification for one sub-order's part does not finish it (the query does).
        _ = machine.requestReceived(
            Self.refund(
                "RF4", amount: 150, channel: .wechatV3Combine,
                subOrders: [
                    .init(outTradeNo: "S1", amount: Money(fen: 100)), .init(outTradeNo: "S2", amount: Money(fen: 50)),
                ]),
            receivedAt: Fixture.at(95), now: Fixture.at(95))
        _ = machine.refundAnswered("RF4", result: .success(.processing(memo: [:])), now: Fixture.at(96))
        var part = VerifiedCallback(outTradeNo: "order-1", status: .notFound, vendorMerchantID: nil, amount: nil)
        part.refund = RefundNotice(outRefundNo: "RF4", status: .succeeded(RefundDetails(amount: Money(fen: 100))))
        let partStep = machine.callbackReceived(
            CallbackInput(merchant: "shop", outTradeNo: "order-1", evidence: "e", check: .verified(part)),
            now: Fixture.at(97))
        #expect(partStep == OrderStep())
        #expect(machine.state?.refund("RF4")?.status == .processing)
    }
}
