import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Logging
import Payments
import Sandbox
import ServiceLifecycle

/// Everything `payfleet dev` runs in one process — the embedded broker with the topic definitions
/// (built in, or a directory), the vendor sandbox with one demo merchant per channel, the callback ingress, a worker and
/// the scheduler — built so that the end-to-end tests can run exactly the same stack.
///
/// Build it with ``init(options:logger:)`` (starts the broker and provisions topics), run
/// ``runner`` (its services), and call ``shutdown()`` after the runner returned.
public final class DevStack: Sendable {
    /// What to start.
    public struct Options: Sendable {
        /// Mock brokers.
        public var brokers = 1
        /// Where the topic definitions are (`nil`: the definitions built into the binary).
        public var topicsDirectory: String?
        /// Sandbox port (`nil`: a free one).
        public var sandboxPort: Int?
        /// Address of the probes and metrics (and of the ingress's public port); port `nil`: a free one.
        public var httpHost = "127.0.0.1"
        public var httpPort: Int?
        /// The ingress's public port, the one vendors call; `nil`: a free one.
        public var ingressPort: Int?
        /// Sandbox time scale (vendor delays such as callback retries are multiplied by it).
        public var sandboxTimeScale = 1.0
        /// Pay every order this long after creation (`nil`: only `/_sandbox/pay` pays).
        public var sandboxAutopay: Duration?
        /// Worker settings (Kafka and HTTP fields are filled in by the stack).
        public var worker = WorkerSettings()
        /// Scheduler settings.
        public var scheduler = SchedulerSettings()
        /// Ingress settings.
        public var ingress = IngressSettings()
        /// Whether to run a worker in this process (tests that spawn worker processes turn it off).
        public var runWorker = true
        /// Whether to run the scheduler in this process.
        public var runScheduler = true

        public init() {}
    }

    /// The demo merchant aliases, one per channel (``ChannelCatalog``).
    public static let demoMerchants: [(alias: String, channel: ChannelID)] = ChannelCatalog.all.map {
        ($0.demo.alias, $0.id)
    }

    public let cluster: EmbeddedKafkaCluster
    public let sandbox: VendorSandbox
    /// The demo accounts (the sandbox holds the same keys).
    public let accounts: [MerchantAccount]
    public let registry: ChannelRegistry
    public let sandboxURL: String
    /// The public base URL vendors send callbacks to (`<ingressURL>/notify/<channel>/<merchant>`).
    public let ingressURL: String
    /// Probes and metrics (`/livez`, `/readyz`, `/startupz`, `/metrics`).
    public let httpURL: String
    public let health: HealthState
    public let http: RuntimeHTTPServer
    public let ingress: IngressRole
    public let worker: FleetWorker?
    public let scheduler: DelayScheduler?
    /// Kafka settings pointing at the embedded broker.
    public let kafka: KafkaConfiguration
    /// The worker settings in use (for starting more workers, e.g. as subprocesses).
    public let workerSettings: WorkerSettings
    /// The merchants directory in use.
    public let directory: MerchantDirectory
    private let httpClient: HTTPClient
    private let logger: Logger

    /// Starts the embedded broker, provisions the topics and builds (does not start) the other parts.
    public init(options: Options, logger: Logger) throws {
        self.logger = logger
        let catalog = try options.topicsDirectory.map { try TopicCatalog.load(directory: $0) } ?? TopicCatalog.builtIn()
        let cluster = try EmbeddedKafkaCluster(brokers: options.brokers, logger: logger)
        do {
            try cluster.provision(catalog)
            let sandboxPort = try options.sandboxPort ?? LocalPort.free()
            let httpPort = try options.httpPort ?? LocalPort.free()
            let ingressPort = try options.ingressPort ?? LocalPort.free()
            let sandboxURL = "http://127.0.0.1:\(sandboxPort)"
            let reachableHost = options.httpHost == "0.0.0.0" ? "127.0.0.1" : options.httpHost
            let ingressURL = "http://\(reachableHost):\(ingressPort)"
            let httpURL = "http://\(reachableHost):\(httpPort)"
            let accounts = Self.demoAccounts(sandboxBaseURL: sandboxURL)

            var sandboxConfiguration = SandboxConfiguration()
            sandboxConfiguration.port = sandboxPort
            sandboxConfiguration.timeScale = options.sandboxTimeScale
            sandboxConfiguration.autopayAfter = options.sandboxAutopay
            let httpClient = VendorHTTP.makeClient()
            var sandboxLogger = logger
            sandboxLogger[metadataKey: LogKey.role] = "sandbox"
            let sandbox = DevSandbox.make(
                configuration: sandboxConfiguration, accounts: accounts, client: httpClient, logger: sandboxLogger)

            let directory = MerchantDirectory(
                notifyBaseURL: ingressURL, accounts: Dictionary(uniqueKeysWithValues: accounts.map { ($0.alias, $0) }))
            var workerSettings = options.worker
            let kafka = cluster.configuration()
            workerSettings.kafka = kafka
            workerSettings.kafka.clientID = "payfleet-worker"
            if let topicsDirectory = options.topicsDirectory { workerSettings.topicsDirectory = topicsDirectory }
            let registry = try ChannelRegistry(
                directory: directory, http: VendorHTTP(client: httpClient, timeout: workerSettings.vendorTimeout),
                logger: logger)

            let health = HealthState()
            var ingressLogger = logger
            ingressLogger[metadataKey: LogKey.role] = "ingress"
            var ingressSettings = options.ingress
            ingressSettings.host = options.httpHost
            ingressSettings.port = ingressPort
            let ingress = try IngressRole(
                kafka: kafka, settings: ingressSettings, health: health, logger: ingressLogger
            ) {
                registry.channel(for: $0)
            }
            let http = RuntimeHTTPServer(
                settings: HTTPSettings(host: options.httpHost, port: httpPort), health: health, logger: ingressLogger)
            var workerLogger = logger
            workerLogger[metadataKey: LogKey.role] = "worker"
            var schedulerLogger = logger
            schedulerLogger[metadataKey: LogKey.role] = "scheduler"

            self.cluster = cluster
            self.sandbox = sandbox
            self.accounts = accounts
            self.registry = registry
            self.sandboxURL = sandboxURL
            self.ingressURL = ingressURL
            self.httpURL = httpURL
            self.health = health
            self.http = http
            self.ingress = ingress
            self.kafka = kafka
            self.workerSettings = workerSettings
            self.directory = directory
            self.httpClient = httpClient
            self.worker =
                options.runWorker
                ? FleetWorker(settings: workerSettings, channels: registry, logger: workerLogger, health: health) : nil
            self.scheduler =
                options.runScheduler
                ? DelayScheduler(kafka: kafka, settings: options.scheduler, health: health, logger: schedulerLogger)
                : nil
        } catch {
            cluster.shutdown()
            throw error
        }
    }

    /// The services in start order: the ingress producer and the sandbox before the HTTP server,
    /// then the ingress's public port, its readiness probe, the scheduler and the worker.
    public var runner: RoleRunner {
        var services: [any Service] = [ingress.server, ingress.readiness]
        if let scheduler { services.append(scheduler) }
        if let worker { services.append(worker) }
        return RoleRunner(
            foundation: [ingress.producer, sandbox], http: http, services: services, health: health, logger: logger)
    }

    /// Stops the broker and the HTTP client. Call after the runner returned.
    public func shutdown() async {
        try? await httpClient.shutdown()
        cluster.shutdown()
    }

    /// The demo accounts of every channel, pointing at a sandbox.
    public static func demoAccounts(sandboxBaseURL: String) -> [MerchantAccount] {
        ChannelCatalog.demoAccounts(sandboxBaseURL: sandboxBaseURL)
    }
}
