/// A change of the consumer's partition assignment, handed to the application's rebalance handler
/// *before* it takes effect for revocations (the handler can finish in-flight work and commit first)
/// and right after it takes effect for assignments (the handler can restore state, pause or seek
/// before any message of the new partitions is delivered).
public struct KafkaRebalance: Sendable, CustomStringConvertible {
    /// What happened. Compare with the static constants; more may be added.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// Partitions were assigned to this member.
        public static let assigned = Kind("assigned")
        /// Partitions are about to be revoked; offsets can still be committed.
        public static let revoked = Kind("revoked")
        /// The assignment was lost (session timeout, fenced): other members may already own the
        /// partitions; committing will fail and in-flight work should be abandoned.
        public static let lost = Kind("lost")
        public var description: String { name }
    }

    /// What happened.
    public var kind: Kind
    /// The partitions concerned.
    public var partitions: [KafkaTopicPartition]

    /// Creates an event.
    public init(kind: Kind, partitions: [KafkaTopicPartition]) {
        self.kind = kind
        self.partitions = partitions
    }

    public var description: String { "\(kind) \(partitions.sorted().map(\.description).joined(separator: ","))" }
}
