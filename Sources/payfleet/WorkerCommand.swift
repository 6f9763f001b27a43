import ArgumentParser
import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Payments

/// `payfleet worker`: consumes order requests, callbacks and due timers, drives every order's state
/// machine against its vendor, and publishes events, state, timers and dead letters.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Process orders: requests, callbacks and timers in, vendor calls, events, state and timers out.",
        discussion: """
            One member of the worker consumer group (PAYFLEET_GROUP_ID, default payfleet-worker) over \
            payfleet.order-requests, payfleet.callbacks and payfleet.query-jobs; refuses to start when the \
            co-partitioned topics' partition counts differ. Serves /livez, /readyz, /startupz and /metrics. \
            Environment: KAFKA_BOOTSTRAP_SERVERS and KAFKA_*, PAYFLEET_MERCHANTS, PAYFLEET_NOTIFY_BASE_URL, \
            PAYFLEET_GROUP_ID, PAYFLEET_ORDER_TTL, PAYFLEET_STATE_RETENTION, PAYFLEET_MAX_IN_FLIGHT, \
            PAYFLEET_SHUTDOWN_TIMEOUT, PAYFLEET_VENDOR_TIMEOUT, PAYFLEET_HTTP_HOST/PORT, PAYFLEET_LOG_LEVEL/FORMAT.
            """
    )

    @OptionGroup var kafkaOptions: KafkaOptions

    @OptionGroup var merchantsOptions: MerchantsOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var settings = try WorkerSettings(environment: environment, bootstrapServers: kafkaOptions.bootstrapServers)
        if let merchants = merchantsOptions.merchants { settings.merchantsPath = merchants }
        let logger = try RoleStartup.begin(role: "worker", logging: settings.logging)
        guard !settings.kafka.bootstrapServers.isEmpty else {
            throw ValidationError("no Kafka bootstrap servers: set KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers")
        }
        guard let path = settings.merchantsPath else {
            throw ValidationError("no merchants file: set PAYFLEET_MERCHANTS or --merchants")
        }
        let directory = try MerchantsFileLoader(environment: environment, notifyBaseURLOverride: settings.notifyBaseURL)
            .load(path: path)
        let httpClient = VendorHTTP.makeClient()
        do {
            let registry = try ChannelRegistry(
                directory: directory, http: VendorHTTP(client: httpClient, timeout: settings.vendorTimeout),
                logger: logger)
            let health = HealthState()
            let worker = FleetWorker(settings: settings, channels: registry, logger: logger, health: health)
            let http = RuntimeHTTPServer(settings: settings.http, health: health, logger: logger)
            var runner = RoleRunner(http: http, services: [worker], health: health, logger: logger)
            runner.maximumGracefulShutdown = settings.gracefulShutdownBound
            try await runner.run()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }
}
