import Kafka
import Logging
import ServiceLifecycle

/// Keeps the ingress's readiness in step with the broker: ready while the producer sees the cluster
/// and the callbacks topic, not ready otherwise (a vendor retried elsewhere beats a failure answer).
public struct IngressReadiness: Service {
    /// The readiness component name.
    public static let component = "ingress"

    private let producer: KafkaProducer
    private let topics: [String]
    private let health: HealthState
    private let logger: Logger
    private let interval: Duration

    public init(
        producer: KafkaProducer, settings: IngressSettings, health: HealthState, logger: Logger,
        interval: Duration = .seconds(5)
    ) {
        self.producer = producer
        self.topics = [settings.callbacksTopic, settings.deadLettersTopic]
        self.health = health
        self.logger = logger
        self.interval = interval
        health.register(component: Self.component)
    }

    public func run() async throws {
        var wasReady = false
        while !Task.isCancelled, !Task.isShuttingDownGracefully, !health.isDraining {
            var ready = true
            do {
                for topic in topics { _ = try await producer.partitionCount(topic: topic, timeout: .seconds(3)) }
            } catch {
                ready = false
                if wasReady || !health.startup().ok {
                    logger.warning(
                        "ingress not ready: broker metadata unavailable", metadata: [LogKey.error: "\(error)"])
                }
            }
            health.setReady(Self.component, ready)
            wasReady = ready
            let pause = ready ? interval : .milliseconds(500)
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            } catch { return }
        }
    }
}
