import Synchronization

/// Lateness figures of one scheduler since it started (the Prometheus histogram is the operational
/// view; this is for benchmarks and tests in the same process).
public final class SchedulerStatistics: Sendable {
    /// A snapshot.
    public struct Snapshot: Sendable, Hashable {
        /// Jobs forwarded to query-jobs.
        public var emitted: Int
        /// Jobs re-published to a smaller tier.
        public var hopped: Int
        /// Undecodable records dead-lettered.
        public var invalid: Int
        /// Lateness of every emitted job (acknowledgement time − due time), milliseconds, in emission order.
        public var latenessMilliseconds: [Int64]

        /// The given quantile (0...1) of ``latenessMilliseconds``, or `nil` when nothing was emitted.
        public func latenessQuantile(_ quantile: Double) -> Int64? {
            guard !latenessMilliseconds.isEmpty else { return nil }
            let sorted = latenessMilliseconds.sorted()
            let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * quantile).rounded(.up)) - 1))
            return sorted[index]
        }
    }

    private let state = Mutex(Snapshot(emitted: 0, hopped: 0, invalid: 0, latenessMilliseconds: []))

    public init() {}

    func recordEmission(latenessMilliseconds: Int64) {
        state.withLock { state in
            state.emitted += 1
            if state.latenessMilliseconds.count < 1_000_000 { state.latenessMilliseconds.append(latenessMilliseconds) }
        }
    }

    func recordEmissions(latenessMilliseconds lateness: [Int64]) {
        state.withLock { state in
            state.emitted += lateness.count
            let room = max(0, 1_000_000 - state.latenessMilliseconds.count)
            state.latenessMilliseconds.append(contentsOf: lateness.prefix(room))
        }
    }

    func recordHop() { state.withLock { $0.hopped += 1 } }
    func recordInvalid() { state.withLock { $0.invalid += 1 } }

    /// The figures so far.
    public var snapshot: Snapshot { state.withLock { $0 } }
}
