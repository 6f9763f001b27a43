import Synchronization

/// Bounds what callbacks from outside can make the ingress write: of the callbacks rejected for one
/// key (a configured merchant, or one shared key for every unconfigured one), at most
/// ``perMinute`` per minute are written to `payfleet.dead-letters`; the others are only counted,
/// and the next sample carries how many were dropped since the previous one.
///
/// The number of keys is bounded by the caller (configured merchants plus one), so a flood of
/// invented merchant names cannot grow the table.
public final class RejectionSampler: Sendable {
    /// A callback that may be written, and how many of its key were dropped since the last sample.
    public struct Sample: Sendable, Hashable {
        public var droppedSinceLast: Int
    }

    /// Samples per key and minute (`0` writes none).
    public let perMinute: Int
    private let window: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex<[String: KeyState]>([:])

    private struct KeyState {
        var windowStart: ContinuousClock.Instant
        var written: Int
        var dropped: Int
    }

    public init(
        perMinute: Int, window: Duration = .seconds(60),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.perMinute = max(0, perMinute)
        self.window = window
        self.now = now
    }

    /// Whether a rejected callback of `key` is sampled (written) or dropped (`nil`).
    public func admit(_ key: String) -> Sample? {
        let instant = now()
        return state.withLock { table in
            var entry = table[key] ?? KeyState(windowStart: instant, written: 0, dropped: 0)
            if instant - entry.windowStart >= window {
                entry.windowStart = instant
                entry.written = 0
            }
            let result: Sample?
            if entry.written < perMinute {
                entry.written += 1
                result = Sample(droppedSinceLast: entry.dropped)
                entry.dropped = 0
            } else {
                entry.dropped += 1
                result = nil
            }
            table[key] = entry
            return result
        }
    }
}
