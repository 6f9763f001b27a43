import Foundation

/// Remembers when each order was last queried so `getPayOrderInfo` ("1qps/10s" per the YunGouOS
/// SDK) is never called for one order more often than the configured interval.
final class QueryThrottle: @unchecked Sendable {
    // @unchecked: `last` is only touched under `lock`.
    private let lock = NSLock()
    private var last: [String: ContinuousClock.Instant] = [:]
    private let interval: Duration

    init(interval: Duration) {
        self.interval = interval
    }

    /// Claims a query slot for `key`; returns how long to wait instead when the last one was too recent.
    func claim(_ key: String, now: ContinuousClock.Instant = .now) -> Duration? {
        guard interval > .zero else { return nil }
        lock.lock()
        defer { lock.unlock() }
        if let previous = last[key], now - previous < interval {
            return interval - (now - previous)
        }
        if last.count > 10_000 {
            last = last.filter { now - $0.value < interval }
        }
        last[key] = now
        return nil
    }
}
