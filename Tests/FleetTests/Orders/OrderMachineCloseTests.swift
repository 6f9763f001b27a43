import Foundation
import Payments
import Testing

@testable import Fleet

@Suite("Order state machine: expiry and close")
struct OrderMachineCloseTests {
    /// Drives an expiry close of a prepared order up to the close call.
    private func expireToClose(_ machine: inout OrderMachine, at seconds: Double) -> OrderStep {
        let queried = machine.jobDue(Fixture.job(.close, .expiry), now: Fixture.at(seconds))
        #expect(queried.isQuery)  // a query first: never close (or cancel) a paid order
        return machine.queryAnswered(.success(.notPaid), now: Fixture.at(seconds))
    }

    @Test(
        "at expiry an unpaid order is closed at the vendor and payment.closed published",
        arguments: [CloseOutcome.closed, .alreadyClosed, .notFound])
    func closesAtExpiry(outcome: CloseOutcome) throws {
        var machine = Fixture.preparedMachine()
        #expect(expireToClose(&machine, at: 7200).isClose)
        let step = machine.closeAnswered(.success(outcome), now: Fixture.at(7201))
        #expect(step.eventKinds == [.closed])
        let event = try #require(step.events.first)
        #expect(event.data["reason"] == .string("expired"))
        #expect(event.data["closed_at_vendor"] == .bool(true))
        #expect(machine.state?.status == .closed)
    }

    @Test("WeChat's 5-minute minimum age: an earlier close waits until the order is old enough")
    func minimumAge() throws {
        var machine = Fixture.preparedMachine(expiresAt: Fixture.at(60))
        let early = machine.jobDue(Fixture.job(.close, .expiry, due: Fixture.at(60)), now: Fixture.at(60))
        #expect(early.call == nil)
        let retry = try #require(early.timers.first)
        #expect(retry.job == .close && retry.dueAt == Fixture.at(300))
        #expect(machine.jobDue(retry, now: Fixture.at(300)).isQuery)
    }

    @Test("the initial expiry timer already respects the minimum age")
    func initialCloseDue() throws {
        var machine = Fixture.machine()
        let step = machine.requestReceived(
            Fixture.request(expiresAt: Fixture.at(60)), receivedAt: Fixture.t0, now: Fixture.t0)
        #expect(try #require(step.timers.first).dueAt == Fixture.at(300))
    }

    @Test("the pre-close query finds the order already closed by the vendor: closed as expired, no close call")
    func vendorClosedAtExpiry() throws {
        var machine = Fixture.preparedMachine()
        _ = machine.jobDue(Fixture.job(.close, .expiry), now: Fixture.at(7200))
        let step = machine.queryAnswered(.success(.closed), now: Fixture.at(7200))
        #expect(step.call == nil)
        #expect(try #require(step.events.first).data["reason"] == .string("expired"))
    }

    @Test("the pre-close query finds the payment: succeeded, no close")
    func paidAtExpiry() {
        var machine = Fixture.preparedMachine()
        _ = machine.jobDue(Fixture.job(.close, .expiry), now: Fixture.at(7200))
        let step = machine.queryAnswered(.success(.succeeded(Fixture.payment())), now: Fixture.at(7200))
        #expect(step.eventKinds == [.succeeded])
        #expect(step.call == nil)
    }

    @Test("the vendor refuses the close as paid: query, succeeded")
    func alreadyPaid() {
        var machine = Fixture.preparedMachine()
        _ = expireToClose(&machine, at: 7200)
        #expect(machine.closeAnswered(.success(.alreadyPaid), now: Fixture.at(7201)).isQuery)
        #expect(
            machine.queryAnswered(.success(.succeeded(Fixture.payment())), now: Fixture.at(7202)).eventKinds == [
                .succeeded
            ])
    }

    @Test("too early, errors and a payer paying right now postpone the close; none closes")
    func postponed() throws {
        var tooEarly = Fixture.preparedMachine()
        _ = expireToClose(&tooEarly, at: 7200)
        let a = tooEarly.closeAnswered(.success(.tooEarly(retryAfter: .seconds(42))), now: Fixture.at(7201))
        #expect(try #require(a.timers.first).dueAt == Fixture.at(7243))
        #expect(a.events.isEmpty)

        var failing = Fixture.preparedMachine()
        _ = expireToClose(&failing, at: 7200)
        let b = failing.closeAnswered(.failure(ChannelError(.vendorUnavailable, "SYSTEMERROR")), now: Fixture.at(7201))
        let retry = try #require(b.timers.first)
        #expect(retry.job == .close && retry.attempt == 1)
        #expect(failing.state?.status == .prepared)

        var paying = Fixture.preparedMachine()
        _ = paying.jobDue(Fixture.job(.close, .expiry), now: Fixture.at(7200))
        let c = paying.queryAnswered(.success(.paying), now: Fixture.at(7200))
        #expect(c.call == nil)
        #expect(try #require(c.timers.first).job == .close)
    }

    @Test("乐收赢: its query says PAY_IN_PROCESS for any unpaid order, so 'paying' does not postpone the close at expiry")
    func payingWithoutActivePayer() {
        var machine = Fixture.preparedMachine(policy: ChannelPolicy(payingMeansPayerActive: false))
        _ = machine.jobDue(Fixture.job(.close, .expiry), now: Fixture.at(7200))
        let step = machine.queryAnswered(.success(.paying), now: Fixture.at(7200))
        guard case .close = step.call else {
            Issue.record("expected the close call at once, got \(String(describing: step.call))")
            return
        }
        #expect(step.timers.isEmpty)
    }

    @Test("storepos: past the cancel window the order is closed locally (the vendor cannot cancel it any more)")
    func cancelWindowPassed() throws {
        var machine = Fixture.preparedMachine(policy: Fixture.storeposPolicy)
        _ = machine.jobDue(Fixture.job(.close, .expiry), now: Fixture.at(7200))
        let step = machine.queryAnswered(.success(.notPaid), now: Fixture.at(7200))
        #expect(step.call == nil)
        #expect(step.eventKinds == [.closed])
        #expect(try #require(step.events.first).data["closed_at_vendor"] == .bool(false))
    }

    @Test("storepos: inside the cancel window the order is cancelled at the vendor")
    func insideCancelWindow() {
        var machine = Fixture.preparedMachine(policy: Fixture.storeposPolicy, expiresAt: Fixture.at(120))
        _ = machine.jobDue(Fixture.job(.close, .expiry, due: Fixture.at(120)), now: Fixture.at(120))
        #expect(machine.queryAnswered(.success(.notPaid), now: Fixture.at(120)).isClose)
    }

    @Test("upstream close of an open order closes it with reason requested; of a closed one does nothing")
    func upstreamClose() throws {
        var machine = Fixture.preparedMachine()
        let step = machine.requestReceived(
            Fixture.request(.close, amount: nil, digest: "c"), receivedAt: Fixture.at(400), now: Fixture.at(400))
        #expect(step.isQuery)
        #expect(machine.state?.closeRequested == true)
        #expect(machine.queryAnswered(.success(.notPaid), now: Fixture.at(400)).isClose)
        let closed = machine.closeAnswered(.success(.closed), now: Fixture.at(401))
        #expect(try #require(closed.events.first).data["reason"] == .string("requested"))
        #expect(
            machine.requestReceived(
                Fixture.request(.close, amount: nil, digest: "c"), receivedAt: Fixture.at(500), now: Fixture.at(500))
                == OrderStep())
    }

    @Test("an order still being created at expiry is closed (the vendor may never have seen it)")
    func creatingAtExpiry() {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        _ = machine.createAnswered(.failure(ChannelError(.unreachable, "down")), now: Fixture.at(1))
        _ = machine.jobDue(Fixture.job(.close, .expiry), now: Fixture.at(7200))
        #expect(machine.queryAnswered(.success(.notFound), now: Fixture.at(7200)).isClose)
        #expect(machine.closeAnswered(.success(.notFound), now: Fixture.at(7200)).eventKinds == [.closed])
        // The outstanding retry timer is now a no-op.
        #expect(machine.jobDue(Fixture.job(.retry), now: Fixture.at(7205)) == OrderStep())
    }

    @Test("terminal states never regress: a closed order ignores a later 'paying' or 'closed' query answer")
    func neverRegresses() {
        var machine = Fixture.preparedMachine()
        _ = expireToClose(&machine, at: 7200)
        _ = machine.closeAnswered(.success(.closed), now: Fixture.at(7201))
        let status = machine.state?.status
        for request in [OrderRequest.Action.create, .close] {
            _ = machine.requestReceived(
                Fixture.request(request, amount: request == .create ? 100 : nil), receivedAt: Fixture.t0,
                now: Fixture.at(7300))
        }
        #expect(machine.state?.status == status)
    }
}
