import Hummingbird
import Kafka
import Logging

/// The ingress role's parts, wired: its producer (acks=all, idempotent), the callback handler and
/// its readiness probe. `payfleet ingress` and `payfleet dev` both build it.
public struct IngressRole: Sendable {
    /// Run before the HTTP server, stopped after it (``RoleRunner/foundation``).
    public let producer: KafkaProducer
    public let ingress: CallbackIngress
    /// Run as a role service.
    public let readiness: IngressReadiness
    public let settings: IngressSettings

    /// - Throws: ``KafkaError`` when the producer cannot be created (bad librdkafka property).
    public init(
        kafka: KafkaConfiguration, settings: IngressSettings, health: HealthState, logger: Logger,
        lookup: @escaping CallbackIngress.MerchantLookup
    ) throws {
        var kafka = kafka
        kafka.clientID = kafka.clientID == "payfleet" ? "payfleet-ingress" : kafka.clientID
        // A callback must be answered within the vendor's 3-5 s: never let librdkafka linger.
        if kafka.properties["linger.ms"] == nil { kafka.properties["linger.ms"] = "1" }
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        self.producer = producer
        self.settings = settings
        self.ingress = CallbackIngress(settings: settings, publisher: producer, logger: logger, lookup: lookup)
        self.readiness = IngressReadiness(producer: producer, settings: settings, health: health, logger: logger)
    }

    /// Adds `POST /notify/<channel>/<merchant>`.
    public func installRoutes(on router: Router<BasicRequestContext>) {
        IngressRoutes.install(on: router, ingress: ingress, settings: settings)
    }
}
