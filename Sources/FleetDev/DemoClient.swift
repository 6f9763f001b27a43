import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Logging
import NIOCore
import Payments
import Synchronization

/// Plays an upstream order system and a payer against a running fleet: writes create requests to
/// `payfleet.order-requests`, follows `payfleet.payment-events`, and (when autopay is off) pays
/// prepared orders through the sandbox's `/_sandbox/pay`. Used by `payfleet demo`, `payfleet dev
/// --demo`, the end-to-end tests and the rate benchmark.
public final class DemoClient: Sendable {
    private let kafka: KafkaConfiguration
    private let sandboxURL: String?
    private let logger: Logger
    private let producer: KafkaProducer
    private let httpClient: HTTPClient

    /// - Parameters:
    ///   - sandboxURL: where to pay orders as a payer (`nil`: never pay; autopay or a real payer does).
    public init(kafka: KafkaConfiguration, sandboxURL: String?, logger: Logger) throws {
        var producerKafka = kafka
        producerKafka.clientID = "payfleet-demo"
        if producerKafka.properties["linger.ms"] == nil { producerKafka.properties["linger.ms"] = "2" }
        self.kafka = kafka
        self.sandboxURL = sandboxURL
        self.logger = logger
        self.producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: producerKafka), logger: logger)
        self.httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    /// Flushes and closes the producer and the HTTP client.
    public func close() async {
        await producer.close(timeout: .seconds(5))
        try? await httpClient.shutdown()
    }

    /// The demo set: one order per channel, paid, plus a `yungouos` order with the sandbox's
    /// never-paid amount (`…04` fen) that expires after `closeAfter` and must end `closed`.
    public static func demoOrders(runID: String, closeAfter: Duration = .seconds(15)) -> [DemoOrder] {
        var orders: [DemoOrder] = []
        for (index, descriptor) in ChannelCatalog.all.enumerated() {
            orders.append(
                .sample(
                    channel: descriptor.id, outTradeNo: "DEMO\(runID)\(index + 1)",
                    amountFen: descriptor.demo.amountFen,
                    description: "PayFleet demo \(descriptor.id.rawValue)"))
        }
        let seconds = Double(closeAfter.components.seconds) + Double(closeAfter.components.attoseconds) / 1e18
        orders.append(
            .sample(
                channel: .yungouos, outTradeNo: "DEMO\(runID)9", amountFen: 504,
                description: "PayFleet demo, never paid",
                expiresAt: Date().addingTimeInterval(seconds)))
        return orders
    }

    /// Writes the create requests (keyed by out_trade_no) and waits for the broker's acknowledgements.
    /// Each record's timestamp is the moment it was handed to the producer.
    public func submit(_ orders: some Collection<DemoOrder>) async throws {
        try await submit(orders, recordingInto: nil)
    }

    private func submit(
        _ orders: some Collection<DemoOrder>, recordingInto times: LockedBox<[String: Date]>?
    )
        async throws
    {
        let now = Date()
        times?.withLock { times in for order in orders { times[order.outTradeNo] = now } }
        let messages = orders.map {
            KafkaProducerMessage(
                topic: FleetTopic.orderRequests, key: $0.outTradeNo, value: $0.requestJSON, timestamp: now)
        }
        _ = try await producer.sendAll(messages)
    }

    /// Writes the create requests at `rate` orders per second (all at once when `nil`): every few
    /// milliseconds the orders due by then are handed to the producer without waiting for the
    /// previous ones' acknowledgements. Returns once every request is acknowledged.
    public func submit(_ orders: [DemoOrder], rate: Double?) async throws {
        try await submit(orders, rate: rate, recordingInto: nil)
    }

    private func submit(
        _ orders: [DemoOrder], rate: Double?, recordingInto times: LockedBox<[String: Date]>?
    ) async throws {
        guard let rate, rate > 0 else {
            try await submit(orders, recordingInto: times)
            return
        }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var sent = 0
            while sent < orders.count {
                let elapsed = start.duration(to: .now)
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let due = min(orders.count, Int(seconds * rate) + 1)
                if due > sent {
                    let slice = orders[sent..<due]
                    group.addTask { try await self.submit(slice, recordingInto: times) }
                    sent = due
                }
                if sent < orders.count { try await Task.sleep(for: .milliseconds(2)) }
            }
            try await group.waitForAll()
        }
    }

    /// The rate benchmark: joins a follower group first (so its join is not timed), then submits
    /// `orders` (paced at `rate` orders/s, or all at once) while following their events.
    ///
    /// Latencies are measured between record timestamps: the request's (when the demo handed it
    /// to its producer) and the event's (when the worker handed it to its producer), so the demo's
    /// own consumer lag does not count.
    public func bench(
        _ orders: [DemoOrder], rate: Double?, payPrepared: Bool, timeout: Duration
    ) async throws -> DemoBenchResult {
        let follower = try await joinFollower()
        let requestTimes = LockedBox<[String: Date]>([:])
        let started = ContinuousClock.now
        let lastTerminal = LockedBox<ContinuousClock.Instant?>(nil)
        let latencies = LockedBox<(prepared: [Duration], succeeded: [Duration])>(([], []))
        async let followed = follower.follow(orders, payPrepared: payPrepared, timeout: timeout) { order, event in
            let kind = PaymentEvent.Kind(rawValue: event.event.type)
            if kind.isTerminal { lastTerminal.withLock { $0 = ContinuousClock.now } }
            guard kind == .prepared || kind == .succeeded, let eventTime = event.recordTime,
                let requestTime = requestTimes.withLock({ $0[order.outTradeNo] })
            else { return }
            let latency = Duration.milliseconds(Int64(((eventTime.timeIntervalSince(requestTime)) * 1000).rounded()))
            latencies.withLock {
                if kind == .prepared { $0.prepared.append(latency) } else { $0.succeeded.append(latency) }
            }
        }
        do {
            try await submit(orders, rate: rate, recordingInto: requestTimes)
        } catch {
            await follower.close()
            _ = try? await followed
            throw error
        }
        let submitted = started.duration(to: .now)
        let terminal = try await followed
        let end = lastTerminal.withLock { $0 } ?? .now
        let measured = latencies.withLock { $0 }
        return DemoBenchResult(
            terminal: terminal, elapsed: started.duration(to: end), submission: submitted,
            requestToPrepared: measured.prepared, requestToSucceeded: measured.succeeded)
    }

    /// Pays an order at the sandbox, as the payer would.
    public func pay(_ order: DemoOrder) async throws {
        guard let sandboxURL else { return }
        var request = HTTPClientRequest(url: "\(sandboxURL)/_sandbox/pay/\(order.channel.rawValue)/\(order.outTradeNo)")
        request.method = .POST
        let response = try await httpClient.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code < 300 else {
            throw DemoError("the sandbox refused to pay \(order.outTradeNo): HTTP \(response.status.code)")
        }
    }

    /// Follows the events of `orders` until each has a terminal event or `timeout` passes.
    ///
    /// - Parameters:
    ///   - payPrepared: pay every `prepared` order whose amount is not the never-paid scenario.
    ///   - onEvent: called for each event of one of the orders, in arrival order.
    /// - Returns: the terminal event type per out_trade_no (absent when none arrived in time).
    @discardableResult
    public func follow(
        _ orders: [DemoOrder], payPrepared: Bool, timeout: Duration,
        onEvent: @escaping @Sendable (DemoOrder, ReceivedPaymentEvent) -> Void = { _, _ in }
    ) async throws -> [String: String] {
        let follower = try await joinFollower()
        return try await follower.follow(orders, payPrepared: payPrepared, timeout: timeout) { order, event in
            onEvent(order, event.event)
        }
    }

    /// A consumer of `payfleet.payment-events` in a group of its own, from the beginning of the
    /// topic, returned once it owns its partitions (so what is submitted afterwards is not timed
    /// against the group join, which the embedded broker delays by 3 s for a new group).
    ///
    /// - Throws: ``DemoError`` when no partition was assigned within `timeout`.
    public func joinFollower(timeout: Duration = .seconds(60)) async throws -> DemoFollower {
        var configuration = kafka
        configuration.clientID = "payfleet-demo"
        configuration.properties["auto.offset.reset"] = "earliest"
        configuration.properties["enable.auto.commit"] = "false"
        configuration.properties["fetch.wait.max.ms"] = "50"
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                kafka: configuration, groupID: "payfleet-demo-\(UUID().uuidString.lowercased())"),
            logger: logger)
        try consumer.subscribe(topics: [FleetTopic.paymentEvents])
        let deadline = ContinuousClock.now + timeout
        while consumer.assignment.isEmpty {
            guard ContinuousClock.now < deadline else {
                await consumer.close(timeout: .seconds(5))
                throw DemoError("the demo's consumer was assigned no partition of \(FleetTopic.paymentEvents) in time")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return DemoFollower(consumer: consumer, client: self, logger: logger)
    }

    /// One human-readable line for an event.
    public static func describe(_ event: ReceivedPaymentEvent, order: DemoOrder) -> String {
        let kind = PaymentEvent.Kind(rawValue: event.type)
        let time = event.time.map { RFC3339.format($0) } ?? "-"
        func field(_ name: String) -> String? {
            guard let value = event.data[name] else { return nil }
            switch value {
            case .string(let text): return text
            case .integer(let number): return String(number)
            case .number(let number): return String(number)
            case .bool(let flag): return String(flag)
            default: return nil
            }
        }
        var details: [String] = []
        switch kind {
        case .prepared:
            for name in ["code_url", "qr_image_url"] {
                if let value = field(name) { details.append("\(name)=\(value)") }
            }
            if details.isEmpty, case .object(let parameters)? = event.data["pay_parameters"] {
                details.append("pay_parameters=\(parameters.keys.sorted().joined(separator: ","))")
            }
        case .succeeded:
            for name in ["transaction_id", "amount_fen", "paid_at"] {
                if let value = field(name) { details.append("\(name)=\(value)") }
            }
        case .failed, .anomaly, .rejected:
            for name in ["reason", "kind", "code", "message", "detail"] {
                if let value = field(name) { details.append("\(name)=\(value)") }
            }
        default:
            for name in ["reason"] { if let value = field(name) { details.append("\(name)=\(value)") } }
        }
        let yuan = Money(fen: order.amountFen).yuanString
        return
            "\(time)  \(order.merchant.padding(toLength: 22, withPad: " ", startingAt: 0)) \(order.outTradeNo)  ¥\(yuan)  "
            + "\(kind.shortName.uppercased().padding(toLength: 9, withPad: " ", startingAt: 0)) \(details.joined(separator: " "))"
    }
}

/// A demo step that could not be carried out.
public struct DemoError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One event of a followed order, with its record timestamp.
public struct DemoEvent: Sendable {
    public var event: ReceivedPaymentEvent
    /// The event record's timestamp (when the worker handed it to its producer).
    public var recordTime: Date?
}

/// A value behind a lock that closures can share.
final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// What ``DemoClient/bench(_:rate:payPrepared:timeout:)`` measured.
public struct DemoBenchResult: Sendable {
    /// The terminal event type per out_trade_no (absent when none arrived in time).
    public var terminal: [String: String]
    /// From the first submission to the last terminal event received.
    public var elapsed: Duration
    /// From the first submission until every request was acknowledged.
    public var submission: Duration
    /// Per order: request record → `prepared` record.
    public var requestToPrepared: [Duration]
    /// Per order: request record → `succeeded` record.
    public var requestToSucceeded: [Duration]

    /// The number of orders that ended `succeeded`.
    public var succeeded: Int { terminal.values.filter { $0 == "succeeded" }.count }
}

/// A joined consumer of `payfleet.payment-events` (see ``DemoClient/joinFollower(timeout:)``).
/// Follows once; it is closed when ``follow(_:payPrepared:timeout:onEvent:)`` returns.
public final class DemoFollower: Sendable {
    private let consumer: KafkaConsumer
    private let client: DemoClient
    private let logger: Logger

    init(consumer: KafkaConsumer, client: DemoClient, logger: Logger) {
        self.consumer = consumer
        self.client = client
        self.logger = logger
    }

    /// Closes the consumer (ends a running ``follow(_:payPrepared:timeout:onEvent:)``).
    public func close() async {
        await consumer.close(timeout: .seconds(5))
    }

    /// Follows the events of `orders` until each has a terminal event or `timeout` passes, then
    /// closes the consumer. Records of other orders are skipped by their `ce_subject` header
    /// before their data is decoded.
    ///
    /// - Parameters:
    ///   - payPrepared: pay every `prepared` order whose amount is not the never-paid scenario.
    ///   - onEvent: called for each event of one of the orders, in arrival order.
    /// - Returns: the terminal event type per out_trade_no (absent when none arrived in time).
    @discardableResult
    public func follow(
        _ orders: [DemoOrder], payPrepared: Bool, timeout: Duration,
        onEvent: @escaping @Sendable (DemoOrder, DemoEvent) -> Void = { _, _ in }
    ) async throws -> [String: String] {
        let byKey = Dictionary(orders.map { ($0.outTradeNo, $0) }, uniquingKeysWith: { first, _ in first })
        let consumer = self.consumer
        let timer = Task {
            try? await Task.sleep(for: timeout)
            await consumer.close(timeout: .seconds(5))
        }
        defer { timer.cancel() }
        var terminal: [String: String] = [:]
        var paid: Set<String> = []
        for try await message in consumer.messages {
            guard let subject = message.headers.string("ce_subject"), let order = byKey[subject],
                let event = ReceivedPaymentEvent(headers: message.headers, value: message.value)
            else { continue }
            onEvent(order, DemoEvent(event: event, recordTime: message.timestamp))
            let kind = PaymentEvent.Kind(rawValue: event.type)
            if kind.isTerminal { terminal[order.outTradeNo] = kind.shortName }
            if payPrepared, kind == .prepared, order.amountFen % 100 != 4, paid.insert(order.outTradeNo).inserted {
                do { try await client.pay(order) } catch {
                    logger.warning(
                        "demo could not pay an order",
                        metadata: [LogKey.outTradeNo: "\(order.outTradeNo)", LogKey.error: "\(error)"])
                }
            }
            if terminal.count == byKey.count { break }
        }
        await consumer.close(timeout: .seconds(5))
        return terminal
    }
}
