import Foundation
import Payments
import Testing

@testable import Fleet

@Suite("Order state machine: callbacks")
struct OrderMachineCallbackTests {
    @Test("a verified, matching payment callback succeeds exactly once; its duplicate produces nothing")
    func succeedsOnce() throws {
        var machine = Fixture.preparedMachine()
        let step = machine.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(60))
        #expect(step.eventKinds == [.succeeded])
        let event = try #require(step.events.first)
        #expect(event.data["transaction_id"] == .string("4200001"))
        #expect(event.data["paid_amount_fen"] == .integer(100))
        #expect(event.id == "2c7f55dadcd5a4625a82456d85a1ab2c27110a444db758479c6fecccb71d65f1")
        #expect(machine.state?.status == .succeeded)
        #expect(step.timers.map(\.reason) == [.expiry])  // retention

        let duplicate = machine.callbackReceived(
            Fixture.callback(.succeeded(Fixture.payment()), evidence: "other-body"), now: Fixture.at(61))
        #expect(duplicate == OrderStep())
    }

    @Test("succeeded through a callback and through a query carry the same ce_id")
    func sameIDAnyPath() throws {
        var viaCallback = Fixture.preparedMachine()
        let a = viaCallback.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(60))
        var viaQuery = Fixture.preparedMachine()
        _ = viaQuery.jobDue(Fixture.job(.fallback), now: Fixture.at(30))
        let b = viaQuery.queryAnswered(.success(.succeeded(Fixture.payment())), now: Fixture.at(31))
        #expect(try #require(a.events.first).id == (try #require(b.events.first).id))
    }

    @Test("a pending order succeeds from a callback")
    func pendingSucceeds() {
        var machine = Fixture.pendingMachine()
        let step = machine.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(20))
        #expect(step.eventKinds == [.succeeded])
    }

    @Test(
        "a callback that does not verify: anomaly + dead letter + one rate-limited query, never succeeded",
        arguments: [
            CallbackError.Kind.badSignature, .staleTimestamp, .unknownSerial, .decryptionFailed, .malformed,
            .wrongMerchant,
        ])
    func unverified(kind: CallbackError.Kind) throws {
        var machine = Fixture.preparedMachine()
        let input = CallbackInput(
            merchant: "shop", outTradeNo: "order-1", evidence: "forged", check: .rejected(CallbackError(kind, "nope")))
        let step = machine.callbackReceived(input, now: Fixture.at(60))
        #expect(step.eventKinds == [.anomaly])
        let event = try #require(step.events.first)
        #expect(event.data["anomaly"] == .string(kind.rawValue))
        #expect(event.discriminator == "\(kind.rawValue)|forged")
        let expected: RejectionReason =
            kind == .malformed ? .malformedCallback : kind == .wrongMerchant ? .merchantMismatch : .badSignature
        #expect(step.deadLetters == [expected])
        #expect(step.timers.map(\.reason) == [.anomaly])
        #expect(machine.state?.status == .prepared)

        // A second forged callback 10 s later: reported and dead-lettered again, but no second query.
        let again = machine.callbackReceived(input, now: Fixture.at(70))
        #expect(again.eventKinds == [.anomaly])
        #expect(again.timers.isEmpty)
        // After the interval a query may be scheduled again.
        let later = machine.callbackReceived(input, now: Fixture.at(95))
        #expect(later.timers.map(\.reason) == [.anomaly])
    }

    @Test("an amount that does not match: anomaly, dead letter, query; never succeeded")
    func amountMismatch() {
        var machine = Fixture.preparedMachine()
        let step = machine.callbackReceived(
            Fixture.callback(.succeeded(Fixture.payment(amount: 1)), amount: 1), now: Fixture.at(60))
        #expect(step.eventKinds == [.anomaly])
        #expect(step.events.first?.data["anomaly"] == .string("amount_mismatch"))
        #expect(step.deadLetters == [.amountMismatch])
        #expect(step.timers.map(\.reason) == [.anomaly])
        #expect(machine.state?.status == .prepared)
    }

    @Test("a payment whose details disagree with the order amount (callback amount absent) is an anomaly")
    func paymentDetailsMismatch() {
        var machine = Fixture.preparedMachine()
        let step = machine.callbackReceived(
            Fixture.callback(.succeeded(Fixture.payment(amount: 99)), amount: nil), now: Fixture.at(60))
        #expect(step.eventKinds == [.anomaly])
        #expect(step.deadLetters == [.amountMismatch])
        #expect(machine.state?.status == .prepared)
    }

    @Test("a callback for another merchant alias or vendor merchant id is an anomaly")
    func merchantMismatch() {
        var byAlias = Fixture.preparedMachine()
        let a = byAlias.callbackReceived(
            Fixture.callback(.succeeded(Fixture.payment()), merchant: "other-shop"), now: Fixture.at(60))
        #expect(a.eventKinds == [.anomaly])
        #expect(a.deadLetters == [.merchantMismatch])

        var byVendorID = Fixture.preparedMachine()
        let b = byVendorID.callbackReceived(
            Fixture.callback(.succeeded(Fixture.payment(merchant: "999")), vendorMerchantID: "999"), now: Fixture.at(60)
        )
        #expect(b.eventKinds == [.anomaly])
        #expect(b.deadLetters == [.merchantMismatch])
        #expect(byVendorID.state?.status == .prepared)
    }

    @Test("a callback naming another out_trade_no than its key is an anomaly")
    func outTradeNoMismatch() {
        var machine = Fixture.preparedMachine()
        let verified = VerifiedCallback(
            outTradeNo: "order-2", status: .succeeded(Fixture.payment()), vendorMerchantID: "10000100",
            amount: Money(fen: 100))
        let step = machine.callbackReceived(
            CallbackInput(merchant: "shop", outTradeNo: "order-1", evidence: "e", check: .verified(verified)),
            now: Fixture.at(60))
        #expect(step.deadLetters == [.outTradeNoMismatch])
        #expect(machine.state?.status == .prepared)
    }

    @Test("a genuine callback for an order this partition never saw is reported, not dropped")
    func unknownOrder() throws {
        var machine = Fixture.machine()
        let step = machine.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(60))
        #expect(step.eventKinds == [.anomaly])
        let event = try #require(step.events.first)
        #expect(event.data["anomaly"] == .string("unknown_order_callback"))
        #expect(event.data["transaction_id"] == .string("4200001"))
        #expect(step.deadLetters == [.unknownOrderCallback])
        #expect(step.call == nil)
        #expect(machine.state == nil)
    }

    @Test("a payment after close is an anomaly and the order stays closed")
    func paidAfterClose() throws {
        var machine = Fixture.preparedMachine()
        _ = machine.jobDue(Fixture.job(.close, .expiry), now: Fixture.at(7200))
        _ = machine.queryAnswered(.success(.notPaid), now: Fixture.at(7200))
        _ = machine.closeAnswered(.success(.closed), now: Fixture.at(7201))
        #expect(machine.state?.status == .closed)
        let step = machine.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(7300))
        #expect(step.eventKinds == [.anomaly])
        #expect(step.events.first?.data["anomaly"] == .string("paid_after_close"))
        #expect(machine.state?.status == .closed)
        // Terminal orders get no anomaly query (query jobs for terminal orders cost no vendor call).
        #expect(step.timers.isEmpty)
    }

    @Test("a payment after failure is an anomaly; a second transaction on a succeeded order is an anomaly")
    func terminalNeverRegresses() {
        var failed = Fixture.machine()
        _ = failed.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        _ = failed.createAnswered(.success(.failed(VendorFailure(code: "X", message: "y"))), now: Fixture.at(1))
        let a = failed.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(5))
        #expect(a.events.first?.data["anomaly"] == .string("paid_after_failure"))
        #expect(failed.state?.status == .failed)

        var succeeded = Fixture.preparedMachine()
        _ = succeeded.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(60))
        let b = succeeded.callbackReceived(
            Fixture.callback(.succeeded(Fixture.payment("4200002"))), now: Fixture.at(61))
        #expect(b.events.first?.data["anomaly"] == .string("conflicting_transaction"))
        #expect(succeeded.state?.payment?.transactionID == "4200001")
    }

    @Test(
        "a verified non-payment callback only triggers a query",
        arguments: [
            TradeStatus.notPaid, .paying, .closed, .notFound, .failed(VendorFailure(code: "PAYERROR", message: "bank")),
        ])
    func nonPaymentCallback(status: TradeStatus) {
        var machine = Fixture.preparedMachine()
        let step = machine.callbackReceived(Fixture.callback(status), now: Fixture.at(60))
        #expect(step.events.isEmpty)
        #expect(step.timers.map(\.reason) == [.anomaly])
        #expect(machine.state?.status == .prepared)
    }

    @Test("a refunded payment reported by callback still records that the order was paid")
    func refunded() {
        var machine = Fixture.preparedMachine()
        let step = machine.callbackReceived(Fixture.callback(.refunded(Fixture.payment())), now: Fixture.at(60))
        #expect(step.eventKinds == [.succeeded])
    }
}
