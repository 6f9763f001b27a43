import Synchronization

/// The probe state of one process, shared by its components and served by ``RuntimeHTTPServer``.
///
/// - Liveness (`/livez`) fails only when a registered poll loop has not made progress within its
///   stall limit, or a component reported a fatal error (librdkafka `_FATAL`). A broker outage is not
///   a liveness failure: restarting does not fix it.
/// - Readiness (`/readyz`) is true once every registered component said it is ready, and false from
///   the moment graceful shutdown begins (SIGTERM), and while any component says it is not ready.
/// - Startup (`/startupz`) is true once every component was ready at least once.
/// - Assignment (`/assignedz`) is true while a component that consumes a group's partitions (the
///   worker) owns at least one and has restored all it owns. It is not a readiness condition: a
///   member with no partition (more members than partitions) is a ready standby. Benchmarks and
///   operators wait on it to know that a worker is processing.
public final class HealthState: Sendable {
    /// The answer of one probe.
    public struct Probe: Sendable, Hashable {
        public var ok: Bool
        /// One line per failing condition, or `ok`.
        public var detail: String
    }

    private struct Loop {
        var lastBeat: ContinuousClock.Instant
        var stallLimit: Duration
    }

    private struct State {
        var components: [String: Bool] = [:]
        var everReady: Set<String> = []
        var draining = false
        var fatal: [String: String] = [:]
        var loops: [String: Loop] = [:]
        var assignments: [String: Assignment] = [:]
        var assignmentSequences: [String: Int] = [:]
    }

    /// The partitions a component owns and how many of them are still being restored.
    public struct Assignment: Sendable, Hashable {
        public var partitions: [Int32]
        public var restoring: [Int32]
        public init(partitions: [Int32], restoring: [Int32]) {
            self.partitions = partitions
            self.restoring = restoring
        }
    }

    private let state = Mutex(State())
    private let clock = ContinuousClock()

    public init() {}

    /// Declares a component whose readiness gates `/readyz` (initially not ready).
    public func register(component: String) {
        state.withLock { state in
            if state.components[component] == nil { state.components[component] = false }
        }
    }

    /// Sets a component's readiness (registering it if needed).
    public func setReady(_ component: String, _ ready: Bool) {
        state.withLock { state in
            state.components[component] = ready
            if ready { state.everReady.insert(component) }
        }
    }

    /// Marks the process as shutting down: readiness is false from now on.
    public func beginDraining() {
        state.withLock { $0.draining = true }
    }

    /// Whether graceful shutdown has begun.
    public var isDraining: Bool { state.withLock { $0.draining } }

    /// Records an unrecoverable error (liveness fails from now on). `message` must not contain secrets.
    public func reportFatal(_ component: String, _ message: String) {
        state.withLock { $0.fatal[component] = message }
    }

    /// Registers a loop that must call ``heartbeat(_:)`` at least every `stallLimit`.
    public func registerLoop(_ name: String, stallLimit: Duration) {
        let now = clock.now
        state.withLock { $0.loops[name] = Loop(lastBeat: now, stallLimit: stallLimit) }
    }

    /// Records progress of a loop.
    public func heartbeat(_ name: String) {
        let now = clock.now
        state.withLock { state in
            if state.loops[name] != nil { state.loops[name]?.lastBeat = now }
        }
    }

    /// Removes a loop that ended normally (it no longer counts for liveness).
    public func unregisterLoop(_ name: String) {
        _ = state.withLock { $0.loops.removeValue(forKey: name) }
    }

    /// Records the partitions a component owns (``Assignment``); `nil` when it stopped. A report
    /// with a lower `sequence` than the last one of the component is stale and ignored (reports
    /// taken in one order may arrive in another).
    public func setAssignment(_ component: String, _ assignment: Assignment?, sequence: Int = 0) {
        state.withLock { state in
            if let last = state.assignmentSequences[component], last > sequence { return }
            state.assignmentSequences[component] = sequence
            state.assignments[component] = assignment
        }
    }

    /// `/assignedz`: every registered assignment has partitions and none is restoring.
    public func assigned() -> Probe {
        state.withLock { state in
            var problems: [String] = []
            var owned: [String] = []
            if state.draining { problems.append("shutting down") }
            if state.assignments.isEmpty { problems.append("no partition assigned") }
            for (name, assignment) in state.assignments.sorted(by: { $0.key < $1.key }) {
                if assignment.partitions.isEmpty {
                    problems.append("\(name): no partition assigned")
                } else if !assignment.restoring.isEmpty {
                    problems.append(
                        "\(name): restoring partitions \(assignment.restoring.map(String.init).joined(separator: ","))")
                } else {
                    owned.append("\(name): partitions \(assignment.partitions.map(String.init).joined(separator: ","))")
                }
            }
            return Probe(
                ok: problems.isEmpty,
                detail: problems.isEmpty ? owned.joined(separator: "\n") : problems.joined(separator: "\n"))
        }
    }

    /// `/livez`.
    public func liveness() -> Probe {
        let now = clock.now
        return state.withLock { state in
            var problems: [String] = state.fatal.sorted { $0.key < $1.key }.map { "fatal \($0.key): \($0.value)" }
            for (name, loop) in state.loops.sorted(by: { $0.key < $1.key }) where now - loop.lastBeat > loop.stallLimit
            {
                problems.append("loop \(name) stalled for \(now - loop.lastBeat)")
            }
            return Probe(ok: problems.isEmpty, detail: problems.isEmpty ? "ok" : problems.joined(separator: "\n"))
        }
    }

    /// `/readyz`.
    public func readiness() -> Probe {
        state.withLock { state in
            var problems: [String] = []
            if state.draining { problems.append("shutting down") }
            if state.components.isEmpty { problems.append("no component started") }
            for (name, ready) in state.components.sorted(by: { $0.key < $1.key }) where !ready {
                problems.append("\(name) not ready")
            }
            return Probe(ok: problems.isEmpty, detail: problems.isEmpty ? "ok" : problems.joined(separator: "\n"))
        }
    }

    /// `/startupz`.
    public func startup() -> Probe {
        state.withLock { state in
            let pending = state.components.keys.filter { !state.everReady.contains($0) }.sorted()
            if state.components.isEmpty { return Probe(ok: false, detail: "no component started") }
            return Probe(
                ok: pending.isEmpty,
                detail: pending.isEmpty ? "ok" : pending.map { "\($0) starting" }.joined(separator: "\n"))
        }
    }
}
