import Fleet
import Kafka
import Logging

/// The start-up every long-running role shares: logging and metrics bootstrapped, then the linked
/// librdkafka checked before any client is made.
enum RoleStartup {
    /// Bootstraps logging with `logging` and the metrics backend, and returns the role's logger.
    static func begin(role: String, logging: LoggingSettings) throws -> Logger {
        FleetLogging.bootstrap(logging)
        FleetMetrics.bootstrap()
        let logger = FleetLogging.logger(role: role)
        try KafkaLibrary.ensureSupported(logger: logger)
        return logger
    }
}
