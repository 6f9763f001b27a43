import ServiceLifecycle

/// A service that flips readiness to false the moment graceful shutdown begins.
///
/// ``RoleRunner`` puts it last in the service group: the group shuts services down in reverse
/// order, so this is the first to see SIGTERM, before any component starts draining.
struct DrainSignal: Service {
    let health: HealthState

    func run() async throws {
        // Throws CancellationError when the group is cancelled instead; either way we are done.
        try? await gracefulShutdown()
        health.beginDraining()
    }
}
