import Logging
import ServiceLifecycle

/// Runs one process's services (a role, or several roles for `payfleet dev`) with graceful shutdown
/// on SIGTERM and SIGINT, in the order docs/operations.md gives:
///
/// 1. readiness goes false at once (``DrainSignal``),
/// 2. the role services are shut down in reverse order (each stops taking messages, finishes
///    in-flight work, flushes its producer and commits),
/// 3. the HTTP server stops last, so probes answer until the end.
///
/// A second signal, or ``maximumGracefulShutdown`` passing, cancels whatever is still running.
public struct RoleRunner: Sendable {
    /// Services started before the HTTP server and stopped after it (producers the HTTP routes use,
    /// the embedded broker).
    public var foundation: [any Service]
    /// Services in start order (shut down in reverse, before the HTTP server).
    public var services: [any Service]
    public var http: RuntimeHTTPServer
    public var health: HealthState
    public var logger: Logger
    /// Upper bound for the whole graceful shutdown (keep below Kubernetes' `terminationGracePeriodSeconds`, default 30 s).
    public var maximumGracefulShutdown: Duration = .seconds(25)

    public init(
        foundation: [any Service] = [], http: RuntimeHTTPServer, services: [any Service], health: HealthState,
        logger: Logger
    ) {
        self.foundation = foundation
        self.http = http
        self.services = services
        self.health = health
        self.logger = logger
    }

    /// Runs until a signal (or a service failure) ends the group.
    public func run() async throws {
        try await serviceGroup().run()
    }

    /// The service group, for callers that drive shutdown themselves (tests call
    /// `triggerGracefulShutdown()` on it).
    /// - Parameter handlingSignals: whether SIGTERM/SIGINT start graceful shutdown.
    public func serviceGroup(handlingSignals: Bool = true) -> ServiceGroup {
        var configured: [ServiceGroupConfiguration.ServiceConfiguration] = []
        for service in foundation {
            configured.append(.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup))
        }
        configured.append(.init(service: http))
        for service in services {
            // A role service that returns on its own ends the process (gracefully).
            configured.append(.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup))
        }
        configured.append(.init(service: DrainSignal(health: health), successTerminationBehavior: .ignore))
        var configuration = ServiceGroupConfiguration(
            services: configured,
            gracefulShutdownSignals: handlingSignals ? [.sigterm, .sigint] : [],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = maximumGracefulShutdown
        configuration.maximumCancellationDuration = .seconds(5)
        return ServiceGroup(configuration: configuration)
    }
}
