import Fleet
import FleetDev
import Foundation
import Kafka
import Logging
import Payments
import Testing

/// Crashes and rebalances with the real `payfleet` binary for every role, under load, over four
/// channels (wechat-v2, yungouos, 乐收赢, storepos) and a mix of sandbox scenarios (paid, NEED_QUERY,
/// create timeout, duplicate callback, never paid). Afterwards the invariant checker reads the
/// topics: every order has exactly one terminal event of the expected kind, nothing regressed or
/// conflicts, every create was answered, and every callback the sandbox saw acknowledged is in
/// `payfleet.callbacks`.
///
/// The members run with `session.timeout.ms` 6 s, so a SIGKILLed member is noticed within seconds
/// (the embedded broker then waits `session.timeout.ms` − 1 s more before it completes the rebalance).
@Suite("Crashes and rebalances (payfleet binary)", .serialized)
struct CrashTests {
    /// Paid normally, NEED_QUERY (queried to success), create timeout (pending, queried), a
    /// duplicate callback, and — on the aggregators — never paid (closed at expiry).
    static func mixedScenario(_ index: Int, _ channel: ChannelID) -> Int64 {
        switch index % 10 {
        case 1: return 1
        case 3: return 3
        case 5: return 5
        case 7 where channel != .wechatV2: return 4
        default: return 0
        }
    }

    /// Waits for every order's terminal event, then checks each order's events and the invariants.
    ///
    /// A SIGKILLed worker's open transaction is never committed. A Kafka broker hides its records
    /// from read-committed consumers; the embedded broker (librdkafka 2.0.2's mock cluster) does
    /// not: its Fetch answers give the end of the log as the last stable offset and list no aborted
    /// transactions. The two parameters let through what follows from that, and nothing else.
    ///
    /// - Parameters:
    ///   - repeatsAllowed: an order's terminal event may be read more than once with the same
    ///     `ce_id`: the killed worker's output and the next owner's output for the same input (still
    ///     one event: consumers dedupe on `ce_source` + `ce_id`, and the invariant checker counts it
    ///     once). Without transactions this is at-least-once delivery itself. A second terminal
    ///     event with another `ce_id` or type fails either way.
    ///   - openTransactionVisible: the upstream producer, when the killed worker wrote in
    ///     transactions. The part of its open transaction that reached the broker can hold an
    ///     order's terminal state record without its terminal event; the next owner restores that
    ///     state, takes the replayed input as a duplicate and publishes nothing. Such an order is
    ///     accepted only when its last state record is the expected terminal state, and only once
    ///     an upstream `query` for it (what upstream does for an order it has heard nothing of)
    ///     brings its terminal event.
    static func expectSettled(
        _ orders: [DemoOrder], fleet: ProcessFleet, collector: EventCollector, timeout: Duration,
        repeatsAllowed: Bool = false, openTransactionVisible upstream: KafkaProducer? = nil
    ) async throws {
        let expected = Dictionary(
            uniqueKeysWithValues: orders.map { ($0.outTradeNo, ProcessFleet.expectedTerminal($0)) })
        func settled(_ events: [ReceivedPaymentEvent]) -> Set<String> {
            Set(events.filter { expected[$0.subject] == $0.type }.map(\.subject))
        }
        var events: [ReceivedPaymentEvent]
        do {
            events = try await collector.waitUntil(timeout: timeout) { settled($0).count == expected.count }
        } catch {
            // Which orders did not settle, and how far each got: the first thing to read in a failure.
            let seen = collector.snapshot()
            let done = settled(seen)
            let unsettled = orders.filter { !done.contains($0.outTradeNo) }
            let described = unsettled.map { order in
                "\(order.channel.rawValue) \(order.outTradeNo) amount \(order.amountFen): "
                    + "\(seen.filter { $0.subject == order.outTradeNo }.map { "\($0.type) \($0.time.map { "\($0)" } ?? "-")" })"
            }.joined(separator: "; ")
            guard let upstream else {
                throw FleetProcessError("\(error); not settled: \(described)")
            }
            let stateAhead = try await Self.terminalStateWithoutEvent(unsettled, fleet: fleet)
            guard stateAhead.count == unsettled.count else {
                throw FleetProcessError(
                    "\(error); not settled: \(described); of these, terminal in order-state: \(stateAhead.sorted())")
            }
            print(
                "terminal state without its terminal event (the killed worker's open transaction, visible on the embedded broker): \(stateAhead.sorted()); querying"
            )
            _ = try await upstream.sendAll(unsettled.map(Self.queryRequest))
            events = try await collector.waitUntil(timeout: .seconds(30)) { settled($0).count == expected.count }
        }
        // Late duplicates (callback retries, queries) have a moment to show up before the check.
        try await Task.sleep(for: .seconds(3))
        let terminal = Set([PaymentEvent.Kind.succeeded, .failed, .closed].map(\.rawValue))
        var repeated = 0
        for order in orders {
            let orderEvents = events.filter { $0.subject == order.outTradeNo }
            let terminals = orderEvents.filter { terminal.contains($0.type) }
            // One entry per distinct event when repeats are allowed, one per record otherwise.
            var distinct: [String] = []
            var seen: Set<String> = []
            for event in terminals where !repeatsAllowed || seen.insert(event.id).inserted {
                distinct.append(event.type)
            }
            repeated += terminals.count - distinct.count
            #expect(
                distinct == [expected[order.outTradeNo]!],
                "\(order.channel.rawValue) \(order.outTradeNo) amount \(order.amountFen): \(orderEvents.map { "\($0.type) \($0.id.prefix(12))" })"
            )
        }
        if repeated > 0 { print("terminal events read again with the same ce_id: \(repeated)") }
        // The slowest order, for the log: which path took longest to settle.
        let firstSeen = Dictionary(events.map { ($0.subject, $0.time ?? .distantPast) }, uniquingKeysWith: min)
        let settledAt = Dictionary(
            events.filter { terminal.contains($0.type) }.map { ($0.subject, $0.time ?? .distantPast) },
            uniquingKeysWith: min)
        if let slowest = orders.max(by: {
            (settledAt[$0.outTradeNo] ?? .distantPast) < (settledAt[$1.outTradeNo] ?? .distantPast)
        }),
            let end = settledAt[slowest.outTradeNo], let begin = firstSeen.values.min()
        {
            print(
                "settled \(orders.count) orders; the last, \(slowest.channel.rawValue) \(slowest.outTradeNo) (amount \(slowest.amountFen)), \(String(format: "%.1f", end.timeIntervalSince(begin))) s after the first event: \(events.filter { $0.subject == slowest.outTradeNo }.map { PaymentEvent.Kind(rawValue: $0.type).shortName })"
            )
        }
        let report = try await fleet.check(orders)
        #expect(report.violations.isEmpty, "\(report.violations)")
        #expect(report.acceptedOrders == orders.count)
        #expect(report.callbackRecords > 0)
    }

    @Test(
        "SIGKILL a worker mid-stream, start another: every order ends once, no acknowledged callback is missing",
        .timeLimit(.minutes(5)))
    func killWorkerMidStream() async throws {
        try await Self.killWorkerMidStream(name: "kill-worker", environment: [:])
    }

    /// Without transactions a crash can leave part of a group of outputs durable; the state is
    /// written last, so it is never ahead of its events and the replay repeats them.
    @Test(
        "SIGKILL a worker writing without transactions mid-stream: every order ends once, no terminal state without its event",
        .timeLimit(.minutes(5)))
    func killWorkerWithoutTransactions() async throws {
        try await Self.killWorkerMidStream(
            name: "kill-plain", environment: ["PAYFLEET_WORKER_TRANSACTIONS": "false"])
    }

    static func killWorkerMidStream(name: String, environment: [String: String]) async throws {
        let fleet = try await ProcessFleet(name: name)
        defer { fleet.stop() }
        _ = try await fleet.startScheduler("scheduler")
        let workerA = try await fleet.startWorker("worker-a", environment: environment)
        let collector = try EventCollector(kafka: fleet.kafka, logger: fleet.logger)
        let collecting = Task { try await collector.run() }
        defer { collecting.cancel() }
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: fleet.kafka), logger: fleet.logger)

        let run = UUID().uuidString.prefix(5).uppercased()
        let orders = ProcessFleet.orders(prefix: "KW\(run)", count: 120, scenario: Self.mixedScenario)
        try await fleet.submit(Array(orders[..<80]), producer: upstream)
        // Kill it while it is busy: some orders answered, others in flight or not yet read.
        try await collector.waitUntil(timeout: .seconds(60)) { events in
            Set(events.map(\.subject)).count >= 25
        }
        workerA.process.kill()
        #expect(try await workerA.process.waitForExit(timeout: .seconds(5)) != nil, "worker A survived SIGKILL")
        // Load (and the sandbox's callbacks) keep coming while no worker runs.
        try await fleet.submit(Array(orders[80...]), producer: upstream)
        _ = try await fleet.startWorker("worker-b", environment: environment)

        // Without transactions nothing is hidden from readers, so there is no open transaction to
        // see: a terminal state without its event is a failure.
        let transactions = environment["PAYFLEET_WORKER_TRANSACTIONS"] != "false"
        try await Self.expectSettled(
            orders, fleet: fleet, collector: collector, timeout: .seconds(150), repeatsAllowed: true,
            openTransactionVisible: transactions ? upstream : nil)
        await collector.close()
        await upstream.close(timeout: .seconds(5))
    }

    @Test(
        "two workers rebalance under load (one joins, later one leaves): every order ends once",
        .timeLimit(.minutes(5)))
    func rebalanceUnderLoad() async throws {
        let fleet = try await ProcessFleet(name: "rebalance")
        defer { fleet.stop() }
        _ = try await fleet.startScheduler("scheduler")
        let workerA = try await fleet.startWorker("worker-a")
        let collector = try EventCollector(kafka: fleet.kafka, logger: fleet.logger)
        let collecting = Task { try await collector.run() }
        defer { collecting.cancel() }
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: fleet.kafka), logger: fleet.logger)

        let run = UUID().uuidString.prefix(5).uppercased()
        let orders = ProcessFleet.orders(prefix: "RB\(run)", count: 150, scenario: Self.mixedScenario)
        // A steady stream: 10 orders every 250 ms, while the group changes twice.
        let feeding = Task {
            for batch in stride(from: 0, to: orders.count, by: 10) {
                try await fleet.submit(Array(orders[batch..<min(batch + 10, orders.count)]), producer: upstream)
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        try await collector.waitUntil(timeout: .seconds(60)) { Set($0.map(\.subject)).count >= 20 }
        let workerB = try await fleet.startWorker("worker-b")
        try await collector.waitUntil(timeout: .seconds(90)) { Set($0.map(\.subject)).count >= 90 }
        workerA.process.terminate()
        let status = try await workerA.process.waitForExit(timeout: .seconds(40))
        #expect(status == 0, "worker A exit status \(String(describing: status)): \(workerA.process.stderrTail)")
        try await feeding.value

        try await Self.expectSettled(orders, fleet: fleet, collector: collector, timeout: .seconds(150))
        // Both members worked: B took partitions over while A still ran.
        #expect(workerB.process.logRecords().contains { $0["msg"] as? String == "partitions assigned" })
        await collector.close()
        await upstream.close(timeout: .seconds(5))
    }

    @Test(
        "SIGKILL the scheduler with query and close timers pending: a new scheduler fires them all",
        .timeLimit(.minutes(5)))
    func killSchedulerWithTimersPending() async throws {
        let fleet = try await ProcessFleet(name: "kill-scheduler")
        defer { fleet.stop() }
        let schedulerA = try await fleet.startScheduler("scheduler-a")
        _ = try await fleet.startWorker("worker")
        let collector = try EventCollector(kafka: fleet.kafka, logger: fleet.logger)
        let collecting = Task { try await collector.run() }
        defer { collecting.cancel() }
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: fleet.kafka), logger: fleet.logger)

        // Every order needs a timer to end: NEED_QUERY and create timeouts need queries (the first
        // at +5 s), never-paid orders need their close at expiry (20 s out).
        let run = UUID().uuidString.prefix(5).uppercased()
        let orders = ProcessFleet.orders(prefix: "KS\(run)", count: 40) { index, channel in
            switch index % 3 {
            case 0: return 1
            case 1: return 3
            default: return channel == .wechatV2 ? 1 : 4
            }
        }
        try await fleet.submit(orders, producer: upstream)
        // Every order has started (pending or prepared), so its timers are in the delay topics.
        try await collector.waitUntil(timeout: .seconds(60)) {
            Set($0.map(\.subject)).isSuperset(of: orders.map(\.outTradeNo))
        }
        schedulerA.process.kill()
        #expect(try await schedulerA.process.waitForExit(timeout: .seconds(5)) != nil, "scheduler A survived SIGKILL")
        let settledBefore = collector.snapshot().filter {
            $0.type == PaymentEvent.Kind.succeeded.rawValue || $0.type == PaymentEvent.Kind.closed.rawValue
        }.count
        try await Task.sleep(for: .seconds(2))
        _ = try await fleet.startScheduler("scheduler-b")

        try await Self.expectSettled(orders, fleet: fleet, collector: collector, timeout: .seconds(150))
        #expect(settledBefore < orders.count, "the timers were still pending when the scheduler was killed")
        await collector.close()
        await upstream.close(timeout: .seconds(5))
    }

    /// The orders among `orders` whose last `payfleet.order-state` record is their expected terminal state.
    static func terminalStateWithoutEvent(_ orders: [DemoOrder], fleet: ProcessFleet) async throws -> [String] {
        let last = try await fleet.lastOrderStates()
        return orders.filter { order in
            guard let state = last[order.outTradeNo] else { return false }
            let terminal: OrderState.Status =
                ProcessFleet.expectedTerminal(order) == PaymentEvent.Kind.closed.rawValue ? .closed : .succeeded
            return state.status == terminal
        }.map(\.outTradeNo)
    }

    /// The refunds among `numbers` (out_refund_no → out_trade_no in `refunds`) whose order's last
    /// `payfleet.order-state` record has them succeeded.
    static func refundsSucceededInState(
        _ numbers: [String], of refunds: [String: String], fleet: ProcessFleet
    ) async throws -> [String] {
        let last = try await fleet.lastOrderStates()
        return numbers.filter { number in
            guard let outTradeNo = refunds[number] else { return false }
            return last[outTradeNo]?.refund(number)?.status == .succeeded
        }
    }

    /// A query request as upstream writes it (JSON, keyed by the order): a terminal order answers
    /// with its terminal event again.
    static func queryRequest(_ order: DemoOrder) -> KafkaProducerMessage {
        let json =
            #"{"action":"query","out_trade_no":"\#(order.outTradeNo)","merchant":"\#(order.merchant)","channel":"\#(order.channel.rawValue)"}"#
        return KafkaProducerMessage(topic: FleetTopic.orderRequests, key: order.outTradeNo, value: Data(json.utf8))
    }

    /// A refund request as upstream writes it (JSON, keyed by the order).
    static func refundRequest(_ order: DemoOrder, _ outRefundNo: String, fen: Int64) -> KafkaProducerMessage {
        let json =
            #"{"action":"refund","out_trade_no":"\#(order.outTradeNo)","merchant":"\#(order.merchant)","channel":"\#(order.channel.rawValue)","out_refund_no":"\#(outRefundNo)","amount_fen":\#(fen),"reason":"crash test"}"#
        return KafkaProducerMessage(topic: FleetTopic.orderRequests, key: order.outTradeNo, value: Data(json.utf8))
    }

    @Test(
        "SIGKILL a worker with refunds in flight: the successor finishes each with exactly one refund.succeeded",
        .timeLimit(.minutes(5)))
    func killWorkerMidRefund() async throws {
        let fleet = try await ProcessFleet(name: "kill-refund")
        defer { fleet.stop() }
        _ = try await fleet.startScheduler("scheduler")
        let workerA = try await fleet.startWorker("worker-a")
        let collector = try EventCollector(kafka: fleet.kafka, logger: fleet.logger)
        let collecting = Task { try await collector.run() }
        defer { collecting.cancel() }
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: fleet.kafka), logger: fleet.logger)

        // Paid storepos and YunGouOS orders of 1200 fen.
        let run = UUID().uuidString.prefix(5).uppercased()
        let orders = (0..<16).map { index in
            DemoOrder.sample(
                channel: index % 2 == 0 ? .storepos : .yungouos, outTradeNo: "KR\(run)\(String(format: "%04d", index))",
                amountFen: 1200, description: "refund crash test")
        }
        try await fleet.submit(orders, producer: upstream)
        try await collector.waitUntil(timeout: .seconds(90)) { events in
            Set(events.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject)).count
                == orders.count
        }
        // Two partial refunds per order adding up to the payment: one plain, one whose answer is a
        // vendor system error (…99), so it is only settled by a query timer. YunGouOS refunds finish
        // asynchronously (refund callback or query).
        var refunds: [String: String] = [:]  // out_refund_no -> out_trade_no
        var messages: [KafkaProducerMessage] = []
        for order in orders {
            let suffix = order.outTradeNo.suffix(9)
            refunds["RA\(suffix)"] = order.outTradeNo
            refunds["RB\(suffix)"] = order.outTradeNo
            messages.append(Self.refundRequest(order, "RA\(suffix)", fen: 601))
            messages.append(Self.refundRequest(order, "RB\(suffix)", fen: 599))
        }
        _ = try await upstream.sendAll(messages)
        // Kill it as soon as refunds are being answered: the rest are requested, processing or unread.
        try await collector.waitUntil(timeout: .seconds(60)) { events in
            events.contains { $0.type.hasPrefix("payfleet.refund.") }
        }
        workerA.process.kill()
        #expect(try await workerA.process.waitForExit(timeout: .seconds(5)) != nil, "worker A survived SIGKILL")
        let finishedBefore = Set(
            collector.snapshot().filter { $0.type == PaymentEvent.Kind.refundSucceeded.rawValue }.compactMap {
                $0.data["out_refund_no"]?.stringValue
            })
        _ = try await fleet.startWorker("worker-b")

        func finished(_ events: [ReceivedPaymentEvent]) -> Set<String> {
            Set(
                events.filter { $0.type == PaymentEvent.Kind.refundSucceeded.rawValue }.compactMap {
                    $0.data["out_refund_no"]?.stringValue
                })
        }
        var events: [ReceivedPaymentEvent]
        do {
            events = try await collector.waitUntil(timeout: .seconds(150)) { finished($0).count == refunds.count }
        } catch {
            // As in `expectSettled`: the killed worker's open transaction, visible on the embedded
            // broker, can hold a refund's terminal state without its `refund.succeeded`. Accepted only
            // when the order's last state record has the refund succeeded, and only once upstream's
            // retry of the same refund request (which repeats a terminal refund's event) brings it.
            let missing = Set(refunds.keys).subtracting(finished(collector.snapshot())).sorted()
            let ahead = try await Self.refundsSucceededInState(missing, of: refunds, fleet: fleet)
            guard ahead.count == missing.count else {
                throw FleetProcessError(
                    "\(error); refunds without refund.succeeded: \(missing); of these, succeeded in order-state: \(ahead)"
                )
            }
            print(
                "refund succeeded in state without its event (the killed worker's open transaction, visible on the embedded broker): \(missing); requesting again"
            )
            let byNumber = Dictionary(uniqueKeysWithValues: orders.map { ($0.outTradeNo, $0) })
            _ = try await upstream.sendAll(
                missing.map { number in
                    Self.refundRequest(byNumber[refunds[number]!]!, number, fen: number.hasPrefix("RA") ? 601 : 599)
                })
            events = try await collector.waitUntil(timeout: .seconds(30)) { finished($0).count == refunds.count }
        }
        try await Task.sleep(for: .seconds(3))
        #expect(finishedBefore.count < refunds.count, "every refund had finished before the worker was killed")
        let all = collector.snapshot()
        for (number, outTradeNo) in refunds.sorted(by: { $0.key < $1.key }) {
            let terminal = all.filter {
                $0.subject == outTradeNo && $0.data["out_refund_no"]?.stringValue == number
                    && ($0.type == PaymentEvent.Kind.refundSucceeded.rawValue
                        || $0.type == PaymentEvent.Kind.refundFailed.rawValue)
            }
            #expect(Set(terminal.map(\.id)).count == 1, "refund \(number): \(terminal.map(\.type))")
            #expect(terminal.allSatisfy { $0.type == PaymentEvent.Kind.refundSucceeded.rawValue })
        }
        #expect(events.filter { $0.type == PaymentEvent.Kind.rejected.rawValue }.isEmpty)
        let report = try await fleet.check(orders)
        #expect(report.violations.isEmpty, "\(report.violations)")
        #expect(report.refundTerminalCounts["refund_succeeded"] == refunds.count)
        await collector.close()
        await upstream.close(timeout: .seconds(5))
    }
}
