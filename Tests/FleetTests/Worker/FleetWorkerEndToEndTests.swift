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
        logger.logLevel = ProcessInfo.processInfo.environment["FLEET_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }

    static let fastGroup = ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "1000"]

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
        return try await withThrowingTaskGroup(of: [ReceivedPaymentEvent].self) { group in
            group.addTask {
                var events: [ReceivedPaymentEvent] = []
                for try await message in consumer.messages {
                    if let event = ReceivedPaymentEvent(headers: message.headers, value: message.value) { events.append(event) }
                    if done(events) { break }
                }
                return events
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw KafkaError(.timedOut, "events did not arrive within \(timeout)")
            }
            let events = try await group.next() ?? []
            group.cancelAll()
            return events
        }
    }

    @Test("create → prepared → pay → callback → succeeded, once; bad input is rejected and the partition keeps flowing",
          .timeLimit(.minutes(3)))
    func orderSucceeds() async throws {
        let logger = Self.logger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        for topic in FleetTopic.coPartitioned { try cluster.createTopic(topic, partitions: 2) }
        for topic in [FleetTopic.paymentEvents, FleetTopic.deadLetters] + DelayTier.all.map(\.topic) {
            try cluster.createTopic(topic, partitions: 2)
        }

        // The vendor sandbox, paying every order 300 ms after its creation.
        var sandboxConfiguration = SandboxConfiguration()
        sandboxConfiguration.autopayAfter = .milliseconds(300)
        let demo = WeChatV2Channel.sandboxDemoAccount(alias: "demo-wechat-v2", sandboxBaseURL: "http://127.0.0.1:1")
        sandboxConfiguration.merchants = [
            SandboxMerchant(channel: demo.channel.rawValue, settings: demo.settings, secrets: demo.secrets.mapValues { $0.reveal() })
        ]
        let dispatcher = CallbackDispatcher(client: HTTPClient.shared, configuration: sandboxConfiguration, logger: logger)
        let sandboxContext = SandboxContext(configuration: sandboxConfiguration, dispatcher: dispatcher, logger: logger)
        let sandbox = VendorSandbox(context: sandboxContext, simulators: VendorSandbox.standardSimulators(context: sandboxContext))

        // The real ingress on a free port; its merchant lookup is filled in once the registry exists.
        let registryBox = RegistryBox()
        let health = HealthState()
        let ingress = try IngressRole(
            kafka: cluster.configuration(), settings: IngressSettings(), health: health, logger: logger
        ) { merchant in registryBox.registry?.channel(for: merchant) }
        let http = RuntimeHTTPServer(settings: HTTPSettings(host: "127.0.0.1", port: 0), health: health, logger: logger) {
            ingress.installRoutes(on: $0)
        }

        let infrastructure = ServiceGroup(configuration: .init(services: [sandbox, ingress.producer, http], logger: logger))
        let infrastructureTask = Task { try await infrastructure.run() }
        defer { infrastructureTask.cancel() }
        let sandboxPort = await sandbox.boundPort()
        let ingressPort = await http.boundPort()

        var account = WeChatV2Channel.sandboxDemoAccount(alias: "demo-wechat-v2", sandboxBaseURL: "http://127.0.0.1:\(sandboxPort)")
        account.alias = "demo-wechat-v2"
        let directory = MerchantDirectory(notifyBaseURL: "http://127.0.0.1:\(ingressPort)", accounts: [account.alias: account])
        let registry = try ChannelRegistry(directory: directory, http: VendorHTTP(client: HTTPClient.shared, timeout: .seconds(5)), logger: logger)
        registryBox.registry = registry

        var settings = WorkerSettings()
        settings.kafka = cluster.configuration(properties: Self.fastGroup)
        settings.groupID = "worker-e2e-\(UUID().uuidString)"
        settings.maxInFlight = 8
        settings.shutdownTimeout = .seconds(5)
        let worker = FleetWorker(settings: settings, channels: registry, logger: logger, health: health)
        let workerTask = Task { try await worker.run() }

        // Upstream: one good order, then garbage on the same key (same partition), then a second good order.
        let upstream = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: cluster.configuration()), logger: logger)
        func create(_ outTradeNo: String, amount: Int) -> KafkaProducerMessage {
            let json = #"{"action":"create","out_trade_no":"\#(outTradeNo)","merchant":"demo-wechat-v2","channel":"wechat-v2","amount_fen":\#(amount),"description":"e2e tea"}"#
            return KafkaProducerMessage(topic: FleetTopic.orderRequests, key: outTradeNo, value: Data(json.utf8))
        }
        let first = "E2E\(Int.random(in: 100_000...999_999))A"
        let second = "E2E\(Int.random(in: 100_000...999_999))B"
        try await upstream.sendAll([
            create(first, amount: 1200),
            KafkaProducerMessage(topic: FleetTopic.orderRequests, key: first, value: Data("{not json".utf8)),
            KafkaProducerMessage(topic: FleetTopic.orderRequests, key: "E2E-unknown", value: Data(
                #"{"action":"create","out_trade_no":"E2E-unknown","merchant":"nobody","channel":"wechat-v2","amount_fen":100,"description":"x"}"#.utf8)),
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
            #expect(succeeded.id == PaymentEvent.id(
                outTradeNo: order, kind: .succeeded, discriminator: succeeded.data["transaction_id"]?.stringValue ?? ""))
        }
        let unknown = try #require(events.first { $0.subject == "E2E-unknown" })
        #expect(unknown.type == PaymentEvent.Kind.rejected.rawValue)
        #expect(unknown.data["reason"] == .string("unknown_merchant"))
        // The malformed request on the first order's key produced a rejected event for that key and did not block it.
        #expect(events.contains { $0.subject == first && $0.type == PaymentEvent.Kind.rejected.rawValue && $0.data["reason"] == .string("malformed_json") })

        worker.triggerGracefulShutdown()
        try await workerTask.value
        #expect(!worker.isReady)
        await upstream.close(timeout: .seconds(5))
        await infrastructure.triggerGracefulShutdown()
        _ = try? await infrastructureTask.value
    }

    @Test("a slow vendor does not serialize a partition; state survives a worker restart", .timeLimit(.minutes(3)))
    func slowVendorAndRestart() async throws {
        let logger = Self.logger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        // One partition: every order shares it.
        for topic in FleetTopic.coPartitioned + [FleetTopic.paymentEvents, FleetTopic.deadLetters] + DelayTier.all.map(\.topic) {
            try cluster.createTopic(topic, partitions: 1)
        }
        var sandboxConfiguration = SandboxConfiguration()
        sandboxConfiguration.slowAnswer = .seconds(4)
        let demo = WeChatV2Channel.sandboxDemoAccount(alias: "demo-wechat-v2", sandboxBaseURL: "http://127.0.0.1:1")
        sandboxConfiguration.merchants = [
            SandboxMerchant(channel: demo.channel.rawValue, settings: demo.settings, secrets: demo.secrets.mapValues { $0.reveal() })
        ]
        let dispatcher = CallbackDispatcher(client: HTTPClient.shared, configuration: sandboxConfiguration, logger: logger)
        let sandboxContext = SandboxContext(configuration: sandboxConfiguration, dispatcher: dispatcher, logger: logger)
        let sandbox = VendorSandbox(context: sandboxContext, simulators: VendorSandbox.standardSimulators(context: sandboxContext))
        let infrastructure = ServiceGroup(configuration: .init(services: [sandbox], logger: logger))
        let infrastructureTask = Task { try await infrastructure.run() }
        defer { infrastructureTask.cancel() }
        let sandboxPort = await sandbox.boundPort()
        let account = WeChatV2Channel.sandboxDemoAccount(alias: "demo-wechat-v2", sandboxBaseURL: "http://127.0.0.1:\(sandboxPort)")
        let directory = MerchantDirectory(notifyBaseURL: "http://127.0.0.1:9", accounts: [account.alias: account])
        let registry = try ChannelRegistry(
            directory: directory, http: VendorHTTP(client: HTTPClient.shared, timeout: .seconds(2)), logger: logger)

        var settings = WorkerSettings()
        settings.kafka = cluster.configuration(properties: Self.fastGroup)
        settings.groupID = "worker-restart-\(UUID().uuidString)"
        settings.shutdownTimeout = .seconds(8)
        let upstream = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: cluster.configuration()), logger: logger)
        func create(_ outTradeNo: String, amount: Int) -> KafkaProducerMessage {
            let json = #"{"action":"create","out_trade_no":"\#(outTradeNo)","merchant":"demo-wechat-v2","channel":"wechat-v2","amount_fen":\#(amount),"description":"e2e tea"}"#
            return KafkaProducerMessage(topic: FleetTopic.orderRequests, key: outTradeNo, value: Data(json.utf8))
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
        let rejected = try #require(after.first { $0.subject == fast && $0.type == PaymentEvent.Kind.rejected.rawValue })
        #expect(rejected.data["reason"] == .string("duplicate_out_trade_no"))
        #expect(after.filter { $0.subject == fast && $0.type == PaymentEvent.Kind.prepared.rawValue }.count == 1)

        second.triggerGracefulShutdown()
        try await secondTask.value
        await upstream.close(timeout: .seconds(5))
        await infrastructure.triggerGracefulShutdown()
        _ = try? await infrastructureTask.value
    }

    @Test("the worker refuses to start when the co-partitioned topics' partition counts differ", .timeLimit(.minutes(1)))
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
        let registry = ChannelRegistry(directory: MerchantDirectory(notifyBaseURL: "http://127.0.0.1:1", accounts: [:]), channels: [])
        let worker = FleetWorker(settings: settings, channels: registry, logger: logger)
        await #expect(throws: WorkerError.self) { try await worker.run() }
    }
}

/// The ingress's merchant lookup, filled in once the registry (which needs the ingress port) exists.
final class RegistryBox: Sendable {
    private let storage = Mutex<ChannelRegistry?>(nil)
    var registry: ChannelRegistry? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
