import AsyncHTTPClient
import FleetDev
import Foundation
import Kafka
import Logging
import Payments
import Sandbox
import ServiceLifecycle
import Synchronization

@testable import Fleet

/// The embedded broker, the vendor sandbox (all five demo merchants) and the real ingress, wired
/// for worker tests. Call ``stop()`` at the end.
final class EndToEndStack: Sendable {
    let cluster: EmbeddedKafkaCluster
    let registry: ChannelRegistry
    let health: HealthState
    let logger: Logger
    private let infrastructure: ServiceGroup
    private let infrastructureTask: Task<Void, any Error>

    static let demoAliases: [ChannelID: String] = Dictionary(
        uniqueKeysWithValues: ChannelCatalog.all.map { ($0.id, $0.demo.alias) })

    init(partitions: Int, autopay: Duration?, scheduler: Bool = false, logger: Logger) async throws {
        self.logger = logger
        cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        for topic in FleetTopic.coPartitioned + [FleetTopic.paymentEvents, FleetTopic.deadLetters]
            + DelayTier.all.map(\.topic)
        {
            try cluster.createTopic(topic, partitions: partitions)
        }
        // Accounts are made once (WeChat APIv3 keys are generated per call) with a placeholder base URL
        // that is replaced by the sandbox's real address once it listens.
        let placeholder = "http://sandbox.invalid"
        let accounts = ChannelCatalog.demoAccounts(sandboxBaseURL: placeholder)
        var sandboxConfiguration = SandboxConfiguration()
        sandboxConfiguration.autopayAfter = autopay
        sandboxConfiguration.slowAnswer = .seconds(4)
        let sandbox = DevSandbox.make(
            configuration: sandboxConfiguration, accounts: accounts, client: HTTPClient.shared, logger: logger)

        let box = RegistryBox()
        let health = HealthState()
        let ingress = try IngressRole(
            kafka: cluster.configuration(), settings: IngressSettings(), health: health, logger: logger
        ) {
            merchant in box.registry?.channel(for: merchant)
        }
        let http = RuntimeHTTPServer(settings: HTTPSettings(host: "127.0.0.1", port: 0), health: health, logger: logger)
        {
            ingress.installRoutes(on: $0)
        }
        var services: [any Service] = [sandbox, ingress.producer, http]
        if scheduler {
            var schedulerSettings = SchedulerSettings()
            schedulerSettings.groupID = "scheduler-\(UUID().uuidString)"
            services.append(
                DelayScheduler(
                    kafka: cluster.configuration(properties: FleetWorkerEndToEndTests.fastGroup),
                    settings: schedulerSettings,
                    health: health, logger: logger))
        }
        let infrastructure = ServiceGroup(configuration: .init(services: services, logger: logger))
        infrastructureTask = Task { try await infrastructure.run() }
        self.infrastructure = infrastructure
        let sandboxURL = "http://127.0.0.1:\(await sandbox.boundPort())"
        let ingressURL = "http://127.0.0.1:\(await http.boundPort())"
        var resolved: [String: MerchantAccount] = [:]
        for var account in accounts {
            account.settings = account.settings.mapValues { $0.replacingOccurrences(of: placeholder, with: sandboxURL) }
            resolved[account.alias] = account
        }
        registry = try ChannelRegistry(
            directory: MerchantDirectory(notifyBaseURL: ingressURL, accounts: resolved),
            http: VendorHTTP(client: HTTPClient.shared, timeout: .seconds(2)), logger: logger)
        box.registry = registry
        self.health = health
    }

    /// Worker settings against this stack's broker.
    func workerSettings(group: String = "worker-\(UUID().uuidString)") -> WorkerSettings {
        var settings = WorkerSettings()
        settings.kafka = cluster.configuration(properties: FleetWorkerEndToEndTests.fastGroup)
        settings.groupID = group
        settings.maxInFlight = 16
        settings.shutdownTimeout = .seconds(8)
        return settings
    }

    /// A create request for the channel's demo merchant with the options the channel needs.
    static func create(
        _ channel: ChannelID, outTradeNo: String, amount: Int64, expiresAt: Date? = nil
    ) -> KafkaProducerMessage {
        var object: [String: JSONValue] = [
            "action": .string("create"), "out_trade_no": .string(outTradeNo),
            "merchant": .string(demoAliases[channel]!),
            "channel": .string(channel.rawValue), "amount_fen": .integer(amount), "description": .string("e2e tea"),
        ]
        if let expiresAt { object["expires_at"] = .string(RFC3339.format(expiresAt)) }
        if let options = ChannelCatalog.descriptor(channel)?.demo.orderOptions(outTradeNo, amount), !options.isEmpty {
            object["options"] = .object(options)
        }
        let value = (try? JSONEncoder().encode(JSONValue.object(object))) ?? Data()
        return KafkaProducerMessage(topic: FleetTopic.orderRequests, key: outTradeNo, value: value)
    }

    func stop() async {
        await infrastructure.triggerGracefulShutdown()
        _ = try? await infrastructureTask.value
        cluster.shutdown()
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

/// Events read so far, shared between the reader and the timeout that reports them.
final class EventLog: Sendable {
    private let storage = Mutex<[ReceivedPaymentEvent]>([])

    /// Appends and returns everything read so far.
    func append(_ event: ReceivedPaymentEvent) -> [ReceivedPaymentEvent] {
        storage.withLock { events in
            events.append(event)
            return events
        }
    }

    var events: [ReceivedPaymentEvent] { storage.withLock { $0 } }
}
