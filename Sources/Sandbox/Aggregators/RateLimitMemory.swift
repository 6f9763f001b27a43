import NIOConcurrencyHelpers

/// Per-key "last time" memory for simulated rate limits.
final class RateLimitMemory: Sendable {
    private let last = NIOLockedValueBox<[String: ContinuousClock.Instant]>([:])

    /// `true` (and records now) when `interval` has passed since the last claim of `key`.
    func claim(_ key: String, interval: Duration) -> Bool {
        let now = ContinuousClock.now
        return last.withLockedValue { last in
            if let previous = last[key], now - previous < interval { return false }
            last[key] = now
            return true
        }
    }
}
