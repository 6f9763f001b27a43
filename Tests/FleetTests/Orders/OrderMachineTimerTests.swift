import Foundation
import Payments
import Testing

@testable import Fleet

@Suite("Order state machine: queries and timers")
struct OrderMachineTimerTests {
    @Test("the pending chain queries every 5 s to the vendor's limit, then falls back")
    func pendingChain() throws {
        var machine = Fixture.pendingMachine()
        var due = Fixture.at(6)
        var attempt = 1
        // pendingSince = t0+1, limit 30 s: queries at +6, +11, +16, +21, +26, +31 would pass the limit.
        while true {
            let step = machine.jobDue(Fixture.job(.pending, attempt: attempt, due: due), now: due)
            #expect(step.isQuery)
            let answered = machine.queryAnswered(.success(.paying), now: due)
            #expect(answered.events.isEmpty)  // still pending: no second pending event
            let next = try #require(answered.timers.first)
            if next.reason == .fallback {
                // Past the limit: the next fallback after now (offsets 30, 60, 120 from creation).
                #expect(next.dueAt > due)
                #expect(attempt >= 5)
                break
            }
            #expect(next.reason == .pending)
            #expect(next.attempt == attempt + 1)
            #expect(next.dueAt == due + 5)
            attempt += 1
            due = next.dueAt
        }
    }

    @Test("a duplicated chain job (scheduler at-least-once) does nothing the second time")
    func staleChainJob() {
        var machine = Fixture.pendingMachine()
        let job = Fixture.job(.pending, attempt: 1, due: Fixture.at(6))
        #expect(machine.jobDue(job, now: Fixture.at(6)).isQuery)
        _ = machine.queryAnswered(.success(.notPaid), now: Fixture.at(6))
        #expect(machine.jobDue(job, now: Fixture.at(7)) == OrderStep())
    }

    @Test("a pending query that finds the payment succeeds; a failure fails; a closed order closes")
    func pendingOutcomes() {
        var paid = Fixture.pendingMachine()
        _ = paid.jobDue(Fixture.job(.pending), now: Fixture.at(6))
        #expect(
            paid.queryAnswered(.success(.succeeded(Fixture.payment())), now: Fixture.at(6)).eventKinds == [.succeeded])

        var failed = Fixture.pendingMachine()
        _ = failed.jobDue(Fixture.job(.pending), now: Fixture.at(6))
        let f = failed.queryAnswered(
            .success(.failed(VendorFailure(code: "PAYERROR", message: "bank refused"))), now: Fixture.at(6))
        #expect(f.eventKinds == [.failed])

        var closed = Fixture.pendingMachine()
        _ = closed.jobDue(Fixture.job(.pending), now: Fixture.at(6))
        let c = closed.queryAnswered(.success(.closed), now: Fixture.at(6))
        #expect(c.eventKinds == [.closed])
        #expect(c.events.first?.data["reason"] == .string("vendor"))
    }

    @Test("a prepared order that a query finds USERPAYING becomes pending and starts the 5 s chain")
    func preparedToPending() throws {
        var machine = Fixture.preparedMachine()
        _ = machine.jobDue(Fixture.job(.fallback), now: Fixture.at(30))
        let step = machine.queryAnswered(.success(.paying), now: Fixture.at(30))
        #expect(step.eventKinds == [.pending])
        #expect(step.events.first?.data["reason"] == .string("user_paying"))
        #expect(try #require(step.timers.first).reason == .pending)
        #expect(try #require(step.timers.first).dueAt == Fixture.at(35))
    }

    @Test("fallback queries follow the policy's offsets from creation")
    func fallbackChain() throws {
        var machine = Fixture.preparedMachine()
        #expect(machine.jobDue(Fixture.job(.fallback, attempt: 1, due: Fixture.at(30)), now: Fixture.at(30)).isQuery)
        let first = machine.queryAnswered(.success(.notPaid), now: Fixture.at(30))
        let second = try #require(first.timers.first)
        #expect(second.reason == .fallback && second.attempt == 2 && second.dueAt == Fixture.at(60))
        _ = machine.jobDue(second, now: Fixture.at(60))
        let third = try #require(
            machine.queryAnswered(.failure(ChannelError(.timeout, "slow")), now: Fixture.at(60)).timers.first)
        #expect(third.attempt == 3 && third.dueAt == Fixture.at(120))
        _ = machine.jobDue(third, now: Fixture.at(120))
        // No fourth fallback: the expiry close ends the order.
        #expect(machine.queryAnswered(.success(.notPaid), now: Fixture.at(120)).timers.isEmpty)
    }

    @Test("an order the vendor does not know after an unknown result is created again, up to the limit")
    func recreateAfterNotFound() {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        _ = machine.createAnswered(.failure(ChannelError(.timeout, "no answer")), now: Fixture.at(10))
        _ = machine.jobDue(Fixture.job(.pending), now: Fixture.at(15))
        let step = machine.queryAnswered(.success(.notFound), now: Fixture.at(15))
        #expect(step.isCreate)
        #expect(machine.state?.createAttempts == 2)
        _ = machine.createAnswered(.failure(ChannelError(.timeout, "no answer")), now: Fixture.at(25))
        _ = machine.jobDue(Fixture.job(.pending, attempt: 2), now: Fixture.at(30))
        #expect(machine.queryAnswered(.success(.notFound), now: Fixture.at(30)).isCreate)
        _ = machine.createAnswered(.success(.prepared(Fixture.prepared)), now: Fixture.at(31))
        #expect(machine.state?.status == .prepared)
        #expect(machine.state?.createAttempts == 3)
    }

    @Test("a prepared order reported not found is not created again")
    func preparedNotFound() {
        var machine = Fixture.preparedMachine()
        _ = machine.jobDue(Fixture.job(.fallback), now: Fixture.at(30))
        let step = machine.queryAnswered(.success(.notFound), now: Fixture.at(30))
        #expect(!step.isCreate)
        #expect(machine.state?.status == .prepared)
    }

    @Test("query jobs for terminal orders cost no vendor call; the retention job tombstones the state")
    func terminalJobs() throws {
        var machine = Fixture.preparedMachine()
        let done = machine.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(60))
        for reason in TimerJob.Reason.allCases {
            #expect(machine.jobDue(Fixture.job(.query, reason), now: Fixture.at(90)).call == nil)
        }
        #expect(machine.jobDue(Fixture.job(.close, .expiry), now: Fixture.at(7200)) == OrderStep())
        let retention = try #require(done.timers.first)
        #expect(retention.dueAt == Fixture.at(60) + WorkerSettings.defaultStateRetention.timeInterval)
        #expect(machine.jobDue(retention, now: Fixture.at(100)) == OrderStep())  // too early: kept
        let forget = machine.jobDue(retention, now: retention.dueAt)
        #expect(forget.forgets)
        #expect(machine.state == nil)
    }

    @Test("jobs for an unknown order do nothing")
    func unknownOrderJob() {
        var machine = Fixture.machine()
        #expect(machine.jobDue(Fixture.job(.pending), now: Fixture.t0) == OrderStep())
    }

    @Test("the vendor's minimum interval between queries defers a query instead of calling")
    func minimumQueryInterval() throws {
        var policy = Fixture.wechatPolicy
        policy.minimumQueryInterval = .seconds(10)
        var machine = Fixture.preparedMachine(policy: policy)
        _ = machine.jobDue(Fixture.job(.fallback, attempt: 1, due: Fixture.at(30)), now: Fixture.at(30))
        _ = machine.queryAnswered(.success(.notPaid), now: Fixture.at(30))
        let deferred = machine.jobDue(Fixture.job(.anomaly), now: Fixture.at(35))
        #expect(deferred.call == nil)
        #expect(try #require(deferred.timers.first).dueAt == Fixture.at(40))
        #expect(machine.jobDue(Fixture.job(.anomaly), now: Fixture.at(40)).isQuery)
    }

    @Test("upstream query: a vendor call for an open order, the same terminal event again for a finished one")
    func upstreamQuery() throws {
        var open = Fixture.preparedMachine()
        #expect(
            open.requestReceived(
                Fixture.request(.query, amount: nil, digest: "q"), receivedAt: Fixture.at(10), now: Fixture.at(10)
            ).isQuery)

        var done = Fixture.preparedMachine()
        let original = try #require(
            done.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(60)).events.first)
        let repeated = done.requestReceived(
            Fixture.request(.query, amount: nil, digest: "q"), receivedAt: Fixture.at(99), now: Fixture.at(99))
        #expect(repeated.call == nil)
        let again = try #require(repeated.events.first)
        #expect(again == original)
        #expect(again.value == original.value)
    }

    @Test("upstream close or query for an unknown order, or naming another merchant, is rejected")
    func upstreamRejections() {
        var unknown = Fixture.machine()
        #expect(
            unknown.requestReceived(Fixture.request(.close, amount: nil), receivedAt: Fixture.t0, now: Fixture.t0)
                .deadLetters == [.unknownOrder])
        #expect(
            unknown.requestReceived(Fixture.request(.query, amount: nil), receivedAt: Fixture.t0, now: Fixture.t0)
                .deadLetters == [.unknownOrder])
        var known = Fixture.preparedMachine()
        let step = known.requestReceived(
            Fixture.request(.close, merchant: "other", amount: nil), receivedAt: Fixture.t0, now: Fixture.t0)
        #expect(step.deadLetters == [.invalidField])
        #expect(step.eventKinds == [.rejected])
        let wrongAmount = known.requestReceived(
            Fixture.request(.query, amount: 5), receivedAt: Fixture.t0, now: Fixture.t0)
        #expect(wrongAmount.deadLetters == [.invalidField])
    }

    @Test("retention and TTL come from the configuration")
    func configuration() throws {
        var configuration = OrderMachineConfiguration()
        configuration.defaultTTL = .seconds(600)
        var machine = OrderMachine(state: nil, configuration: configuration, context: Fixture.context())
        let step = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        #expect(try #require(step.persisted).expiresAt == Fixture.at(600))
        #expect(configuration.retryDelay(attempt: 1) == .seconds(5))
        #expect(configuration.retryDelay(attempt: 3) == .seconds(20))
        #expect(configuration.retryDelay(attempt: 30) == .seconds(300))
    }
}
