import AsyncHTTPClient
import Foundation
import Kafka
import Logging
import Payments
import Sandbox
import ServiceLifecycle
import Synchronization
import Testing
import WeChatPay

@testable import Fleet

/// The worker against the embedded broker, the real sandbox and the real ingress: an order goes
/// create → prepared → (the sandbox pays it) → callback → ingress → succeeded, exactly once.
@Suite("Worker end to end", .serialized)
struct FleetWorkerEndToEndTests {
    static func logger() -> Logger {
        var logger = Logger(label: "fleet-worker-tests")
        logger.logLevel =
            ProcessInfo.processInfo.environment["FLEET_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            ?? .warning
        return logger
    }

    static let fastGroup = [
        "session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "1000",
    ]

    /// Reads payment events of the given orders until `done` says enough.
    static func collectEvents(
        _ cluster: EmbeddedKafkaCluster, logger: Logger, timeout: Duration,
        until done: @escaping @Sendable ([ReceivedPaymentEvent]) -> Bool
    ) async throws -> [ReceivedPaymentEvent] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                kafka: cluster.configuration(properties: fastGroup), groupID: "events-reader-\(UUID().uuidString)"),
            logger: logger)
        try consumer.subscribe(topics: [FleetTopic.paymentEvents])
        defer { Task { await consumer.close(timeout: .seconds(5)) } }
        let seen = EventLog()
        return try await withThrowingTaskGroup(of: [ReceivedPaymentEvent].self) { group in
            group.addTask {
                for try await message in consumer.messages {
                    guard let event = ReceivedPaymentEvent(headers: message.headers, value: message.value) else {
                        continue
                    }
                    let events = seen.append(event)
                    if done(events) { return events }
                }
                return seen.events
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                let summary = seen.events.map { "\($0.subject):\($0.type.split(separator: ".").last ?? "")" }
                throw KafkaError(
                    .timedOut, "events did not arrive within \(timeout); seen: \(summary.joined(separator: " "))")
            }
            let events = try await group.next() ?? []
            group.cancelAll()
            return events
        }
    }

    @Test(
        "create → prepared → pay → callback → succeeded, once; bad input is rejected and the partition keeps flowing",
        .timeLimit(.minutes(3)))
    func orderSucceeds() async throws {
        let stack = try await EndToEndStack(partitions: 2, autopay: .milliseconds(300), logger: Self.logger())
        let logger = stack.logger
        let cluster = stack.cluster
        let settings = stack.workerSettings()
        let worker = FleetWorker(settings: settings, channels: stack.registry, logger: logger, health: stack.health)
        let workerTask = Task { try await worker.run() }

        // Upstream: one good order, then garbage on the same key (same partition), then a second good order.
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: cluster.configuration()), logger: logger)
        func create(_ outTradeNo: String, amount: Int) -> KafkaProducerMessage {
            EndToEndStack.create(.wechatV2, outTradeNo: outTradeNo, amount: Int64(amount))
        }
        let first = "E2E\(Int.random(in: 100_000...999_999))A"
        let second = "E2E\(Int.random(in: 100_000...999_999))B"
        try await upstream.sendAll([
            create(first, amount: 1200),
            KafkaProducerMessage(topic: FleetTopic.orderRequests, key: first, value: Data("{not json".utf8)),
            KafkaProducerMessage(
                topic: FleetTopic.orderRequests, key: "E2E-unknown",
                value: Data(
                    #"{"action":"create","out_trade_no":"E2E-unknown","merchant":"nobody","channel":"wechat-v2","amount_fen":100,"description":"x"}"#
                        .utf8)),
            create(second, amount: 1300),
        ])

        let events = try await Self.collectEvents(cluster, logger: logger, timeout: .seconds(90)) { events in
            let succeeded = Set(events.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject))
            return succeeded.isSuperset(of: [first, second]) && events.contains { $0.subject == "E2E-unknown" }
        }

        for order in [first, second] {
            let mine = events.filter { $0.subject == order }
            let types = mine.map(\.type)
            #expect(types.first == PaymentEvent.Kind.prepared.rawValue, "\(order): \(types)")
            #expect(types.filter { $0 == PaymentEvent.Kind.succeeded.rawValue }.count == 1, "\(order): \(types)")
            let prepared = try #require(mine.first)
            #expect(prepared.data["code_url"]?.stringValue?.hasPrefix("weixin://") == true)
            let succeeded = try #require(mine.first { $0.type == PaymentEvent.Kind.succeeded.rawValue })
            #expect(succeeded.data["transaction_id"]?.stringValue?.isEmpty == false)
            #expect(
                succeeded.id
                    == PaymentEvent.id(
                        outTradeNo: order, kind: .succeeded,
                        discriminator: succeeded.data["transaction_id"]?.stringValue ?? ""))
        }
        let unknown = try #require(events.first { $0.subject == "E2E-unknown" })
        #expect(unknown.type == PaymentEvent.Kind.rejected.rawValue)
        #expect(unknown.data["reason"] == .string("unknown_merchant"))
        // The malformed request on the first order's key produced a rejected event for that key and did not block it.
        #expect(
            events.contains {
                $0.subject == first && $0.type == PaymentEvent.Kind.rejected.rawValue
                    && $0.data["reason"] == .string("malformed_json")
            })

        worker.triggerGracefulShutdown()
        try await workerTask.value
        #expect(!worker.isReady)
        await upstream.close(timeout: .seconds(5))
        await stack.stop()
    }

    @Test("a slow vendor does not serialize a partition; state survives a worker restart", .timeLimit(.minutes(3)))
    func slowVendorAndRestart() async throws {
        // One partition: every order shares it.
        let stack = try await EndToEndStack(partitions: 1, autopay: nil, logger: Self.logger())
        let logger = stack.logger
        let cluster = stack.cluster
        let registry = stack.registry
        let settings = stack.workerSettings()
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: cluster.configuration()), logger: logger)
        func create(_ outTradeNo: String, amount: Int) -> KafkaProducerMessage {
            EndToEndStack.create(.wechatV2, outTradeNo: outTradeNo, amount: Int64(amount))
        }
        let slow = "SLOW\(Int.random(in: 100_000...999_999))"
        let fast = "FAST\(Int.random(in: 100_000...999_999))"

        let first = FleetWorker(settings: settings, channels: registry, logger: logger)
        let firstTask = Task { try await first.run() }
        // The slow create (sandbox answers after 4 s, the client gives up after 2 s) goes first, on the same partition.
        try await upstream.sendAll([create(slow, amount: 1203), create(fast, amount: 1200)])
        let events = try await Self.collectEvents(cluster, logger: logger, timeout: .seconds(60)) { events in
            events.contains { $0.subject == slow } && events.contains { $0.subject == fast }
        }
        let order = events.map(\.subject)
        let fastIndex = try #require(order.firstIndex(of: fast))
        let slowIndex = try #require(order.firstIndex(of: slow))
        #expect(fastIndex < slowIndex, "the fast order waited for the slow vendor: \(order)")
        #expect(events[slowIndex].type == PaymentEvent.Kind.pending.rawValue)
        #expect(events[slowIndex].data["reason"] == .string("unknown_result"))
        #expect(events[fastIndex].type == PaymentEvent.Kind.prepared.rawValue)

        first.triggerGracefulShutdown()
        try await firstTask.value

        // A new worker restores the orders from payfleet.order-state: a conflicting create for the
        // fast order is recognised as a duplicate instead of creating a second order.
        let second = FleetWorker(settings: settings, channels: registry, logger: logger)
        let secondTask = Task { try await second.run() }
        try await upstream.send(create(fast, amount: 999))
        let after = try await Self.collectEvents(cluster, logger: logger, timeout: .seconds(60)) { events in
            events.contains { $0.subject == fast && $0.type == PaymentEvent.Kind.rejected.rawValue }
        }
        let rejected = try #require(
            after.first { $0.subject == fast && $0.type == PaymentEvent.Kind.rejected.rawValue })
        #expect(rejected.data["reason"] == .string("duplicate_out_trade_no"))
        #expect(after.filter { $0.subject == fast && $0.type == PaymentEvent.Kind.prepared.rawValue }.count == 1)

        second.triggerGracefulShutdown()
        try await secondTask.value
        await upstream.close(timeout: .seconds(5))
        await stack.stop()
    }

    @Test(
        "every channel: create → prepared → paid → callback through the ingress → succeeded exactly once; a pending create is queried to success",
        .timeLimit(.minutes(4)))
    func everyChannel() async throws {
        let stack = try await EndToEndStack(partitions: 3, autopay: .milliseconds(300), logger: Self.logger())
        let worker = FleetWorker(
            settings: stack.workerSettings(), channels: stack.registry, logger: stack.logger, health: stack.health)
        let workerTask = Task { try await worker.run() }
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: stack.cluster.configuration()), logger: stack.logger)
        let run = Int.random(in: 100_000...999_999)
        var orders: [String: ChannelID] = [:]
        var messages: [KafkaProducerMessage] = []
        for channel in ChannelID.allCases {
            let normal = "N\(run)\(channel.rawValue.prefix(3).uppercased())"
            orders[normal] = channel
            messages.append(EndToEndStack.create(channel, outTradeNo: normal, amount: 1200))
        }
        // …01: the create answers NEED_QUERY / USERPAYING and the order becomes paid after two queries.
        let pending = "P\(run)POS"
        orders[pending] = .storepos
        messages.append(EndToEndStack.create(.storepos, outTradeNo: pending, amount: 1201))
        try await upstream.sendAll(messages)

        let expected = Set(orders.keys)
        let events = try await Self.collectEvents(stack.cluster, logger: stack.logger, timeout: .seconds(150)) {
            events in
            let succeeded = Set(events.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject))
            return succeeded.isSuperset(of: expected)
        }
        for (order, channel) in orders.sorted(by: { $0.key < $1.key }) {
            let types = events.filter { $0.subject == order }.map(\.type)
            #expect(
                types.filter { $0 == PaymentEvent.Kind.succeeded.rawValue }.count == 1, "\(channel) \(order): \(types)")
            #expect(!types.contains(PaymentEvent.Kind.anomaly.rawValue), "\(channel) \(order): \(types)")
            #expect(types.last == PaymentEvent.Kind.succeeded.rawValue, "\(channel) \(order): \(types)")
        }
        #expect(events.filter { $0.subject == pending }.map(\.type).first == PaymentEvent.Kind.pending.rawValue)

        worker.triggerGracefulShutdown()
        try await workerTask.value
        await upstream.close(timeout: .seconds(5))
        await stack.stop()
    }

    @Test(
        """
        timers through the scheduler: NEED_QUERY is queried to success, an unpaid order is cancelled at expiry, \
        a forged callback is refused by the ingress; amount-mismatched callbacks and combine notifications with a \
        wrong sub-order amount or mchid become anomalies; the query finds every payment
        """, .timeLimit(.minutes(3)))
    func timers() async throws {
        let stack = try await EndToEndStack(
            partitions: 2, autopay: .milliseconds(300), scheduler: true, logger: Self.logger())
        let worker = FleetWorker(
            settings: stack.workerSettings(), channels: stack.registry, logger: stack.logger, health: stack.health)
        let workerTask = Task { try await worker.run() }
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: stack.cluster.configuration()), logger: stack.logger)
        let run = Int.random(in: 100_000...999_999)
        let pending = "TP\(run)"
        let unpaid = "TU\(run)"
        let forged = "TF\(run)"
        let mismatched = "TM\(run)"
        let subAmount = "TSA\(run)"
        let subMerchant = "TSM\(run)"
        try await upstream.sendAll([
            EndToEndStack.create(.storepos, outTradeNo: pending, amount: 1201),
            // Far enough ahead that a worker still joining the group on a loaded machine does not see it already expired.
            EndToEndStack.create(.storepos, outTradeNo: unpaid, amount: 1204, expiresAt: Date() + 20),
            EndToEndStack.create(.wechatV2, outTradeNo: forged, amount: 1206),
            EndToEndStack.create(.storepos, outTradeNo: mismatched, amount: 1207),
            EndToEndStack.create(.wechatV3Combine, outTradeNo: subAmount, amount: 1211),
            EndToEndStack.create(.wechatV3Combine, outTradeNo: subMerchant, amount: 1212),
        ])
        let events = try await Self.collectEvents(stack.cluster, logger: stack.logger, timeout: .seconds(90)) {
            events in
            let succeeded = Set(events.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject))
            return succeeded.isSuperset(of: [pending, forged, mismatched, subAmount, subMerchant])
                && events.contains { $0.subject == unpaid && $0.type == PaymentEvent.Kind.closed.rawValue }
        }
        // The ingress verifies callbacks: the forged one is answered with a failure and never written.
        let forgedTypes = events.filter { $0.subject == forged }.map(\.type)
        #expect(
            forgedTypes.filter { $0 == PaymentEvent.Kind.succeeded.rawValue }.count == 1, "\(forged): \(forgedTypes)")
        #expect(!forgedTypes.contains(PaymentEvent.Kind.anomaly.rawValue), "\(forged): \(forgedTypes)")
        for (order, anomaly) in [
            (mismatched, "amount_mismatch"), (subAmount, "amount_mismatch"), (subMerchant, "merchant_mismatch"),
        ] {
            let mine = events.filter { $0.subject == order }
            let types = mine.map(\.type)
            // One success (from the query), preceded by the anomaly of the mismatched notification. A
            // redelivery of that notification after the success is reported again (an anomaly is
            // never hidden), so `succeeded` need not be the last event.
            #expect(types.filter { $0 == PaymentEvent.Kind.succeeded.rawValue }.count == 1, "\(order): \(types)")
            let firstAnomaly = try #require(
                mine.firstIndex { $0.type == PaymentEvent.Kind.anomaly.rawValue }, "\(order): \(types)")
            #expect(mine[firstAnomaly].data["anomaly"] == .string(anomaly))
            #expect(firstAnomaly < types.lastIndex(of: PaymentEvent.Kind.succeeded.rawValue)!, "\(order): \(types)")
        }
        #expect(
            events.filter { $0.subject == pending }.map(\.type) == [
                PaymentEvent.Kind.pending.rawValue, PaymentEvent.Kind.succeeded.rawValue,
            ])
        #expect(
            events.filter { $0.subject == unpaid }.map(\.type) == [
                PaymentEvent.Kind.prepared.rawValue, PaymentEvent.Kind.closed.rawValue,
            ])
        let closed = try #require(events.first { $0.subject == unpaid && $0.type == PaymentEvent.Kind.closed.rawValue })
        #expect(closed.data["closed_at_vendor"] == .bool(true))
        #expect(closed.data["reason"] == .string("expired"))

        worker.triggerGracefulShutdown()
        try await workerTask.value
        await upstream.close(timeout: .seconds(5))
        await stack.stop()
    }

    @Test(
        "the worker refuses to start when the co-partitioned topics' partition counts differ", .timeLimit(.minutes(1)))
    func refusesMismatchedPartitions() async throws {
        let logger = Self.logger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic(FleetTopic.orderRequests, partitions: 3)
        try cluster.createTopic(FleetTopic.callbacks, partitions: 3)
        try cluster.createTopic(FleetTopic.queryJobs, partitions: 3)
        try cluster.createTopic(FleetTopic.orderState, partitions: 2)
        var settings = WorkerSettings()
        settings.kafka = cluster.configuration()
        let registry = ChannelRegistry(
            directory: MerchantDirectory(notifyBaseURL: "http://127.0.0.1:1", accounts: [:]), channels: [])
        let worker = FleetWorker(settings: settings, channels: registry, logger: logger)
        await #expect(throws: WorkerError.self) { try await worker.run() }
    }
}
