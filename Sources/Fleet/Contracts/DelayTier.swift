/// The tiered delay topics of the scheduler, shortest first: `payfleet.delay.5s`, `…30s`, `…5m`,
/// `…30m`, `…4h`.
public struct DelayTier: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The tier's name as it appears in the topic name and metric labels (`5s`, `4h`).
    public let name: String
    /// The tier's delay.
    public var delay: Duration
    /// The topic `payfleet.delay.<name>` (built once: a job's tier is looked up for every timer job
    /// the worker writes).
    public let topic: String

    public init(name: String, delay: Duration) {
        self.name = name
        self.delay = delay
        self.topic = "payfleet.delay.\(name)"
    }
    public var description: String { name }

    public static func < (lhs: DelayTier, rhs: DelayTier) -> Bool { lhs.delay < rhs.delay }

    public static let fiveSeconds = DelayTier(name: "5s", delay: .seconds(5))
    public static let thirtySeconds = DelayTier(name: "30s", delay: .seconds(30))
    public static let fiveMinutes = DelayTier(name: "5m", delay: .seconds(300))
    public static let thirtyMinutes = DelayTier(name: "30m", delay: .seconds(1800))
    public static let fourHours = DelayTier(name: "4h", delay: .seconds(14_400))

    /// Every tier, shortest first.
    public static let all: [DelayTier] = [.fiveSeconds, .thirtySeconds, .fiveMinutes, .thirtyMinutes, .fourHours]

    /// The tier for a job due after `remaining`: the largest tier whose delay is <= the remaining
    /// time, and the 5 s tier for anything shorter (including overdue jobs).
    public static func forRemaining(_ remaining: Duration) -> DelayTier {
        all.last { $0.delay <= remaining } ?? .fiveSeconds
    }

    /// The tier whose topic is `topic`, if any.
    public static func forTopic(_ topic: String) -> DelayTier? {
        all.first { $0.topic == topic }
    }
}
