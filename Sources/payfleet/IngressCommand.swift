import ArgumentParser
import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Payments

/// `payfleet ingress`: the HTTP server for vendor callbacks.
struct IngressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingress",
        abstract: "Receive vendor callbacks at POST /notify/<channel>/<merchant> and write them to payfleet.callbacks.",
        discussion: """
            Verifies each callback with the merchant's keys, then answers the vendor's success body only after \
            the broker acknowledged the raw callback (acks=all); a callback that does not verify, or a slow \
            broker, gets the vendor's failure body. Callbacks are taken on PAYFLEET_INGRESS_PORT (default \
            8081), which answers nothing else; /livez, /readyz, /startupz and /metrics are on \
            PAYFLEET_HTTP_PORT (default 8080). Environment: KAFKA_BOOTSTRAP_SERVERS and KAFKA_*, \
            PAYFLEET_MERCHANTS, PAYFLEET_HTTP_HOST/PORT, PAYFLEET_INGRESS_HOST/PORT, \
            PAYFLEET_INGRESS_ACK_TIMEOUT_MS, PAYFLEET_INGRESS_MAX_BODY_BYTES, \
            PAYFLEET_INGRESS_REJECTED_SAMPLE_PER_MINUTE, PAYFLEET_LOG_LEVEL/FORMAT.
            """
    )

    @OptionGroup var kafkaOptions: KafkaOptions

    @OptionGroup var merchantsOptions: MerchantsOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = try RoleStartup.begin(role: "ingress", logging: try LoggingSettings(environment: environment))

        let kafka = try kafkaOptions.configuration(environment)
        let directory = try MerchantsFileLoader(
            environment: environment, notifyBaseURLOverride: environment["PAYFLEET_NOTIFY_BASE_URL"]
        ).load(path: try merchantsOptions.path(environment))
        let httpClient = VendorHTTP.makeClient()
        do {
            // The ingress's only vendor call is WeChat's platform-certificate download while verifying a
            // callback: keep it inside the vendor's 3-5 s answer window (a timeout is a failure answer, WeChat retries).
            let registry = try ChannelRegistry(
                directory: directory, http: VendorHTTP(client: httpClient, timeout: .seconds(3)), logger: logger)
            let health = HealthState()
            let role = try IngressRole(
                kafka: kafka, settings: try IngressSettings(environment: environment), health: health, logger: logger
            ) { registry.channel(for: $0) }
            let http = RuntimeHTTPServer(
                settings: try HTTPSettings(environment: environment), health: health, logger: logger)
            try await RoleRunner(
                foundation: [role.producer], http: http, services: [role.server, role.readiness], health: health,
                logger: logger
            ).run()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }
}
