import Foundation
import Payments
import Testing

@testable import Fleet

@Suite("Order state machine: create")
struct OrderMachineCreateTests {
    @Test("a new create persists the intent and the expiry timer before asking for the vendor create")
    func createPersistsIntentFirst() throws {
        var machine = Fixture.machine()
        let step = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.at(0.5))
        #expect(step.isCreate)
        let persisted = try #require(step.persisted)
        #expect(persisted.status == .creating)
        #expect(persisted.createAttempts == 1)
        #expect(persisted.createdAt == Fixture.t0)
        #expect(persisted.expiresAt == Fixture.t0 + 7200)
        // The expiry close timer exists from the start, so every order ends even if the vendor never answers.
        let close = try #require(step.timers.first)
        #expect(close.job == .close && close.reason == .expiry)
        #expect(close.dueAt == Fixture.t0 + 7200)
        #expect(step.events.isEmpty)
        guard case .create(let order)? = step.call else {
            Issue.record("no create")
            return
        }
        #expect(order.notifyURL == Fixture.notifyURL)
        #expect(order.amount == Money(fen: 100))
    }

    @Test("prepared: payment.prepared with the pay data, the first fallback query scheduled")
    func prepared() throws {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        let step = machine.createAnswered(.success(.prepared(Fixture.prepared)), now: Fixture.at(1))
        #expect(step.call == nil)
        #expect(step.eventKinds == [.prepared])
        let event = try #require(step.events.first)
        #expect(event.data["code_url"] == .string("weixin://wxpay/bizpayurl?pr=abc"))
        #expect(event.discriminator == "digest-1")
        #expect(machine.state?.status == .prepared)
        #expect(machine.state?.memo["prepay_id"] == "wx-prepay-1")
        let fallback = try #require(step.timers.first)
        #expect(fallback.reason == .fallback && fallback.attempt == 1 && fallback.dueAt == Fixture.at(30))
    }

    @Test(
        "pending on create: payment.pending and a query at +5 s",
        arguments: [PendingReason.needQuery, .userPaying, .unknownResult])
    func pendingOnCreate(reason: PendingReason) throws {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        let step = machine.createAnswered(.success(.pending(reason, memo: ["trace": "t1"])), now: Fixture.at(1))
        #expect(step.eventKinds == [.pending])
        #expect(step.events.first?.data["reason"] == .string(reason.rawValue))
        #expect(machine.state?.status == .pending)
        #expect(machine.state?.memo["trace"] == "t1")
        let query = try #require(step.timers.first)
        #expect(query.reason == .pending && query.attempt == 1 && query.dueAt == Fixture.at(6))
    }

    @Test("a create that times out is pending with an unknown result, not an error")
    func createTimeout() {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        let step = machine.createAnswered(.failure(ChannelError(.timeout, "no answer")), now: Fixture.at(10))
        #expect(step.eventKinds == [.pending])
        #expect(machine.state?.pendingReason == PendingReason.unknownResult.rawValue)
    }

    @Test("failed on create: payment.failed with the vendor code, terminal")
    func failedOnCreate() throws {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        let step = machine.createAnswered(
            .success(.failed(VendorFailure(code: "NOAUTH", message: "no permission"))), now: Fixture.at(1))
        #expect(step.eventKinds == [.failed])
        #expect(step.events.first?.data["vendor_code"] == .string("NOAUTH"))
        #expect(machine.state?.status == .failed)
        // The retention timer is the only one.
        #expect(step.timers.map(\.reason) == [.expiry])
    }

    @Test("vendor_rejected on create is a failure, not retried")
    func vendorRejected() {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        let step = machine.createAnswered(
            .failure(ChannelError(.vendorRejected, "ORDERPAID", vendorCode: "ORDERPAID")), now: Fixture.at(1))
        #expect(step.eventKinds == [.failed])
        #expect(step.events.first?.data["vendor_code"] == .string("ORDERPAID"))
    }

    @Test("a duplicate out_trade_no at the vendor turns into a query, never a second create")
    func duplicateBecomesQuery() {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        let step = machine.createAnswered(.success(.duplicate), now: Fixture.at(1))
        #expect(step.isQuery)
        // The vendor has it unpaid but we hold no pay parameters: pending until the truth is known.
        let answered = machine.queryAnswered(.success(.notPaid), now: Fixture.at(2))
        #expect(answered.eventKinds == [.pending])
        #expect(machine.state?.pendingReason == "awaiting_payment")
        #expect(answered.timers.contains { $0.reason == .pending })
    }

    @Test("a duplicate whose query shows a payment succeeds")
    func duplicatePaid() {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        _ = machine.createAnswered(.success(.duplicate), now: Fixture.at(1))
        let step = machine.queryAnswered(.success(.succeeded(Fixture.payment())), now: Fixture.at(2))
        #expect(step.eventKinds == [.succeeded])
        #expect(machine.state?.status == .succeeded)
    }

    @Test("invalid_request from the vendor rejects the request and forgets the order")
    func invalidRequest() {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        let step = machine.createAnswered(.failure(.invalidRequest("openid is required for JSAPI")), now: Fixture.at(1))
        #expect(step.forgets)
        #expect(step.eventKinds == [.rejected])
        #expect(step.events.first?.data["reason"] == .string("invalid_request"))
        #expect(step.deadLetters == [.invalidRequest])
        #expect(machine.state == nil)
    }

    @Test("the channel's offline validation rejects before anything is persisted")
    func validationRejects() {
        let context = Fixture.context(validate: { _ throws(ChannelError) in
            throw .invalidRequest("amount exceeds the limit")
        })
        var machine = OrderMachine(state: nil, configuration: OrderMachineConfiguration(), context: context)
        let step = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        #expect(step.call == nil)
        #expect(step.persisted == nil)
        #expect(step.eventKinds == [.rejected])
        #expect(step.deadLetters == [.invalidRequest])
        #expect(machine.state == nil)
    }

    @Test("retryable create errors schedule a retry with backoff; the retry creates again with the same order")
    func retryableCreate() throws {
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        let failed = machine.createAnswered(
            .failure(ChannelError(.unreachable, "connection refused")), now: Fixture.at(1))
        // Upstream hears at once that the create is not answered yet (no create goes unanswered).
        #expect(failed.eventKinds == [.pending])
        #expect(failed.events.first?.data["reason"] == .string("create_unanswered"))
        #expect(failed.events.first?.data["vendor_code"] == .string("unreachable"))
        #expect(machine.state?.status == .creating)
        let retry = try #require(failed.timers.first)
        #expect(retry.reason == .retry && retry.attempt == 1 && retry.dueAt == Fixture.at(6))
        let again = machine.jobDue(retry, now: Fixture.at(6))
        guard case .create(let order)? = again.call else {
            Issue.record("expected a create")
            return
        }
        #expect(order.createdAt == Fixture.t0)
        #expect(machine.state?.createAttempts == 2)
        let second = machine.createAnswered(
            .failure(ChannelError(.vendorUnavailable, "SYSTEMERROR")), now: Fixture.at(7))
        #expect(second.timers.first?.dueAt == Fixture.at(17))  // 10 s: doubled
        #expect(second.events.isEmpty, "pending is announced once")
        // The first retry job, delivered again, is stale.
        #expect(machine.jobDue(retry, now: Fixture.at(8)) == OrderStep())
    }

    @Test(
        "every unreadable create answer (HTML page, 5xx, rate limit, refused connection) publishes pending once; the order is prepared when a create gets through"
    )
    func unreadableCreateAnswers() throws {
        let errors: [ChannelError] = [
            ChannelError(.badResponse, "answer is not XML: <html>"), ChannelError(.vendorUnavailable, "HTTP 502"),
            ChannelError(.rateLimited, "HTTP 429"), ChannelError(.unreachable, "connection refused"),
        ]
        for error in errors {
            var machine = Fixture.machine()
            _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
            let first = machine.createAnswered(.failure(error), now: Fixture.at(1))
            #expect(first.eventKinds == [.pending], "\(error)")
            #expect(first.persisted?.pendingReason == "create_unanswered")
            let retry = try #require(first.timers.first { $0.reason == .retry })
            let again = machine.jobDue(retry, now: retry.dueAt)
            #expect(again.isCreate, "the create is sent again, not queried: \(error)")
            let prepared = machine.createAnswered(.success(.prepared(Fixture.prepared)), now: retry.dueAt + 1)
            #expect(prepared.eventKinds == [.prepared])
            #expect(machine.state?.status == .prepared)
        }
        // A later unknown outcome (a timeout) moves it to the query chain without a second pending event.
        var machine = Fixture.machine()
        _ = machine.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        _ = machine.createAnswered(.failure(ChannelError(.vendorUnavailable, "HTTP 503")), now: Fixture.at(1))
        let retry = try #require(machine.jobDue(Fixture.job(.retry), now: Fixture.at(6)).call)
        guard case .create = retry else {
            Issue.record("expected a create")
            return
        }
        let timedOut = machine.createAnswered(.failure(ChannelError(.timeout, "no answer")), now: Fixture.at(8))
        #expect(timedOut.events.isEmpty)
        #expect(machine.state?.status == .pending)
    }

    @Test("the same create again: nothing new when prepared, a repeated create while still creating")
    func sameCreateAgain() {
        var prepared = Fixture.preparedMachine()
        #expect(prepared.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.at(5)) == OrderStep())

        var creating = Fixture.machine()
        _ = creating.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.t0)
        // Crash before the vendor answered; the restored state is `creating`, the request is replayed.
        var restored = Fixture.machine(creating.state)
        let step = restored.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.at(30))
        #expect(step.isCreate)
        #expect(restored.state?.createAttempts == 2)
    }

    @Test("another create with the same out_trade_no but different content is rejected")
    func conflictingCreate() {
        var machine = Fixture.preparedMachine()
        let step = machine.requestReceived(
            Fixture.request(amount: 999, digest: "digest-2"), receivedAt: Fixture.t0, now: Fixture.at(5))
        #expect(step.eventKinds == [.rejected])
        #expect(step.deadLetters == [.duplicateOutTradeNo])
        #expect(machine.state?.status == .prepared)
        #expect(machine.state?.amountFen == 100)
    }

    @Test("an expires_at that has passed is rejected")
    func expired() {
        var machine = Fixture.machine()
        let step = machine.requestReceived(
            Fixture.request(expiresAt: Fixture.at(10)), receivedAt: Fixture.t0, now: Fixture.at(20))
        #expect(step.deadLetters == [.badExpiry])
        #expect(machine.state == nil)
    }

    @Test("a create without amount is rejected by the machine too")
    func createWithoutAmount() {
        var machine = Fixture.machine()
        let step = machine.requestReceived(Fixture.request(amount: nil), receivedAt: Fixture.t0, now: Fixture.t0)
        #expect(step.deadLetters == [.missingField])
    }

    @Test("answers nobody asked for are ignored")
    func unexpectedAnswers() {
        var machine = Fixture.preparedMachine()
        #expect(machine.createAnswered(.success(.prepared(Fixture.prepared)), now: Fixture.at(3)) == OrderStep())
        #expect(machine.queryAnswered(.success(.closed), now: Fixture.at(3)) == OrderStep())
        #expect(machine.closeAnswered(.success(.closed), now: Fixture.at(3)) == OrderStep())
        #expect(machine.state?.status == .prepared)
    }
}
