import Hummingbird
import Kafka
import Logging

/// The ingress role's parts, wired: its producer (acks=all, idempotent), the callback handler, the
/// public HTTP server vendors call and its readiness probe. `payfleet ingress` and `payfleet dev`
/// both build it.
public struct IngressRole: Sendable {
    /// Run before the HTTP servers, stopped after them (``RoleRunner/foundation``).
    public let producer: KafkaProducer
    public let ingress: CallbackIngress
    /// Run as a role service.
    public let readiness: IngressReadiness
    /// The public port (`PAYFLEET_INGRESS_PORT`): `POST /notify/<channel>/<merchant>` and nothing
    /// else (404). Run it as the first role service, so it stops taking callbacks before the
    /// producer flushes; probes and metrics stay on the role's internal ``RuntimeHTTPServer``.
    public let server: RuntimeHTTPServer
    public let settings: IngressSettings

    /// How long librdkafka gathers callbacks into one produce request by default. A burst of
    /// callbacks then travels in a few requests instead of one per callback (which made a burst
    /// of 2,000 miss the acknowledgement bound); a few milliseconds are nothing against the
    /// vendor's 3-5 s. `KAFKA_LINGER_MS` overrides it.
    public static let defaultLingerMilliseconds = "5"

    /// - Throws: ``KafkaError`` when the producer cannot be created (bad librdkafka property).
    public init(
        kafka: KafkaConfiguration, settings: IngressSettings, health: HealthState, logger: Logger,
        lookup: @escaping CallbackIngress.MerchantLookup
    ) throws {
        var kafka = kafka
        kafka.clientID = kafka.clientID == "payfleet" ? "payfleet-ingress" : kafka.clientID
        if kafka.properties["linger.ms"] == nil { kafka.properties["linger.ms"] = Self.defaultLingerMilliseconds }
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        self.producer = producer
        self.settings = settings
        let ingress = CallbackIngress(settings: settings, publisher: producer, logger: logger, lookup: lookup)
        self.ingress = ingress
        self.readiness = IngressReadiness(producer: producer, settings: settings, health: health, logger: logger)
        self.server = RuntimeHTTPServer(
            settings: HTTPSettings(host: settings.host, port: settings.port), health: health, logger: logger,
            probes: false
        ) { router in
            IngressRoutes.install(on: router, ingress: ingress, settings: settings)
        }
    }

    /// Adds `POST /notify/<channel>/<merchant>` to another router (tests that serve callbacks on
    /// the probe port).
    public func installRoutes(on router: Router<BasicRequestContext>) {
        IngressRoutes.install(on: router, ingress: ingress, settings: settings)
    }
}
