import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The HTTP server every role runs on its internal port (`PAYFLEET_HTTP_PORT`): `/livez`,
/// `/readyz`, `/startupz`, `/assignedz` and `/metrics` (Prometheus text). With `probes: false` it serves only the
/// routes it is given: the ingress's public port (`PAYFLEET_INGRESS_PORT`) is one of those, so
/// vendors and whoever else reaches it never see probes or metrics.
///
/// It is a `Service`: run it first in the role's service group so that it is shut down last and
/// keeps answering probes (readiness false) while the other services drain.
public final class RuntimeHTTPServer: Service, Sendable {
    /// Adds a role's own routes.
    public typealias RouteInstaller = @Sendable (Router<BasicRequestContext>) -> Void

    private let settings: HTTPSettings
    private let health: HealthState
    private let logger: Logger
    private let installRoutes: RouteInstaller
    private let probes: Bool
    private let port = Mutex<Int?>(nil)
    private let portWaiters = Mutex<[CheckedContinuation<Int, Never>]>([])

    public init(
        settings: HTTPSettings, health: HealthState, logger: Logger, probes: Bool = true,
        routes: @escaping RouteInstaller = { _ in }
    ) {
        self.settings = settings
        self.probes = probes
        self.health = health
        self.logger = logger
        self.installRoutes = routes
    }

    public func run() async throws {
        let router = Router()
        let health = self.health
        if probes {
            router.get("/livez") { _, _ in Self.probeResponse(health.liveness()) }
            router.get("/readyz") { _, _ in Self.probeResponse(health.readiness()) }
            router.get("/startupz") { _, _ in Self.probeResponse(health.startup()) }
            router.get("/assignedz") { _, _ in Self.probeResponse(health.assigned()) }
            router.get("/metrics") { _, _ in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: FleetMetrics.exposition()))
                )
            }
        }
        installRoutes(router)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "payfleet"),
            onServerRunning: { [self] channel in
                self.didBind(channel.localAddress?.port ?? self.settings.port)
            },
            logger: logger
        )
        try await app.run()
    }

    /// The port the server listens on, once it does (useful with port 0).
    public func boundPort() async -> Int {
        await withCheckedContinuation { continuation in
            let ready: Int? = port.withLock { port in
                if let port { return port }
                portWaiters.withLock { $0.append(continuation) }
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func didBind(_ bound: Int) {
        let waiters = port.withLock { port in
            port = bound
            return portWaiters.withLock { waiters in
                defer { waiters.removeAll() }
                return waiters
            }
        }
        for waiter in waiters { waiter.resume(returning: bound) }
    }

    private static func probeResponse(_ probe: HealthState.Probe) -> Response {
        Response(
            status: probe.ok ? .ok : .serviceUnavailable,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: probe.detail + "\n"))
        )
    }
}
