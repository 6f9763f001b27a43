import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import Fleet

/// The probes and the shutdown sequence every role shares (docs/operations.md): what Kubernetes sees on
/// `/livez`, `/readyz` and `/startupz`, and the order in which SIGTERM stops a process.
@Suite("Runtime: probes and graceful shutdown")
struct RuntimeTests {
    @Test("readiness needs every component ready and goes false for good when draining starts; startup stays true")
    func readinessAndStartup() {
        let health = HealthState()
        #expect(!health.readiness().ok, "no component yet")
        #expect(!health.startup().ok)
        health.register(component: "worker")
        health.register(component: "producer")
        health.setReady("worker", true)
        #expect(!health.readiness().ok)
        #expect(health.readiness().detail == "producer not ready")
        health.setReady("producer", true)
        #expect(health.readiness().ok)
        #expect(health.startup().ok)
        // A rebalance takes the worker out of rotation for a while; startup stays done.
        health.setReady("worker", false)
        #expect(!health.readiness().ok)
        #expect(health.startup().ok)
        health.setReady("worker", true)
        health.beginDraining()
        #expect(!health.readiness().ok)
        #expect(health.readiness().detail.contains("shutting down"))
        health.setReady("worker", true)
        #expect(!health.readiness().ok, "nothing makes a draining process ready again")
    }

    @Test("liveness fails on a stalled loop or a fatal error, not on a slow start or a broker outage")
    func liveness() async throws {
        let health = HealthState()
        #expect(health.liveness().ok)
        health.registerLoop("worker.consume", stallLimit: .milliseconds(100))
        health.heartbeat("worker.consume")
        #expect(health.liveness().ok)
        try await Task.sleep(for: .milliseconds(250))
        let stalled = health.liveness()
        #expect(!stalled.ok)
        #expect(stalled.detail.contains("loop worker.consume stalled"))
        health.heartbeat("worker.consume")
        #expect(health.liveness().ok, "progress makes it live again")
        health.unregisterLoop("worker.consume")
        try await Task.sleep(for: .milliseconds(150))
        #expect(health.liveness().ok, "a loop that ended normally no longer counts")
        health.reportFatal("kafka", "fatal idempotent producer error")
        #expect(!health.liveness().ok)
        #expect(health.liveness().detail == "fatal kafka: fatal idempotent producer error")
    }

    final class EventLog: Sendable {
        private let entries = Mutex<[String]>([])
        func append(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    /// A role service that records when it saw graceful shutdown, and the readiness at that moment.
    struct RecordingService: Service {
        let name: String
        let health: HealthState
        let log: EventLog
        let delay: Duration

        func run() async throws {
            health.setReady(name, true)
            try? await gracefulShutdown()
            let ready = health.readiness().ok
            log.append("\(name) stopping, ready=\(ready)")
            // Finishing in-flight work; not cancellable on purpose (like a vendor call).
            let until = ContinuousClock.now + delay
            while ContinuousClock.now < until { try? await Task.sleep(for: .milliseconds(10)) }
            log.append("\(name) stopped")
        }
    }

    @Test(
        "SIGTERM order: not ready first, role services stop in reverse start order, the probe server answers until they are done"
    )
    func shutdownOrder() async throws {
        let health = HealthState()
        let http = RuntimeHTTPServer(
            settings: HTTPSettings(host: "127.0.0.1", port: 0), health: health, logger: Logger(label: "runtime-test"))
        let log = EventLog()
        let first = RecordingService(name: "first", health: health, log: log, delay: .milliseconds(300))
        let second = RecordingService(name: "second", health: health, log: log, delay: .milliseconds(100))
        let runner = RoleRunner(
            http: http, services: [first, second], health: health, logger: Logger(label: "runtime-test"))
        let group = runner.serviceGroup(handlingSignals: false)
        let running = Task { try await group.run() }
        let port = await http.boundPort()
        let url = "http://127.0.0.1:\(port)/readyz"
        let deadline = ContinuousClock.now + .seconds(10)
        while try await status(url) != 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await status(url) == 200)

        await group.triggerGracefulShutdown()
        // While "first" is still finishing its work the probe server keeps answering (503: draining).
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await status(url) == 503)
        try await running.value
        #expect(
            log.all == [
                "second stopping, ready=false", "second stopped", "first stopping, ready=false", "first stopped",
            ])
    }

    @Test("the graceful-shutdown bound cancels a service that does not finish")
    func boundedShutdown() async throws {
        struct Stuck: Service {
            let health: HealthState
            func run() async throws {
                health.setReady("stuck", true)
                try? await gracefulShutdown()
                // Ignores graceful shutdown; only cancellation ends it.
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
            }
        }
        let health = HealthState()
        let http = RuntimeHTTPServer(
            settings: HTTPSettings(host: "127.0.0.1", port: 0), health: health, logger: Logger(label: "runtime-test"))
        var runner = RoleRunner(
            http: http, services: [Stuck(health: health)], health: health, logger: Logger(label: "runtime-test"))
        runner.maximumGracefulShutdown = .milliseconds(500)
        let group = runner.serviceGroup(handlingSignals: false)
        let running = Task { try await group.run() }
        _ = await http.boundPort()
        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        let took = ContinuousClock.now - started
        #expect(took < .seconds(7), "the group ended \(took) after the shutdown began")
    }

    @Test(
        "the worker's shutdown bound is its in-flight timeout plus fixed slices, and fits the manifests' grace period")
    func workerShutdownBound() throws {
        var settings = try WorkerSettings(environment: ["PAYFLEET_SHUTDOWN_TIMEOUT": "20s"])
        #expect(settings.gracefulShutdownBound == .seconds(40))
        #expect(
            settings.gracefulShutdownBound + .seconds(5) <= .seconds(45),
            "deploy/kubernetes/worker.yaml terminationGracePeriodSeconds")
        settings.shutdownTimeout = .seconds(5)
        #expect(settings.gracefulShutdownBound == .seconds(25))
    }

    @Test("the worker's group interval: none by default, a duration up to a second, anything else refused")
    func workerGroupInterval() throws {
        #expect(try WorkerSettings(environment: [:]).outputGroupInterval == .zero)
        #expect(
            try WorkerSettings(environment: ["PAYFLEET_WORKER_GROUP_INTERVAL": "20ms"]).outputGroupInterval
                == .milliseconds(20))
        for bad in ["2s", "fast", "-5ms"] {
            #expect(throws: ConfigurationError.self) {
                try WorkerSettings(environment: ["PAYFLEET_WORKER_GROUP_INTERVAL": bad])
            }
        }
    }

    private func status(_ url: String) async throws -> UInt {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2))
        return response.status.code
    }
}
