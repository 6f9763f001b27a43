/// Settings of a group ``KafkaConsumer``.
public struct KafkaConsumerConfiguration: Sendable {
    /// Connection settings and pass-through librdkafka properties (they override ``defaultProperties``).
    public var kafka: KafkaConfiguration
    /// The consumer group (`group.id`).
    public var groupID: String
    /// Static membership (`group.instance.id`): a stable id per replica (e.g. a StatefulSet pod name).
    /// A static member sends no LeaveGroup on close; its partitions wait `session.timeout.ms` for it.
    public var groupInstanceID: String?
    /// How many fetched messages are buffered ahead of the application. When full, the consumer pauses
    /// fetching (it keeps serving rebalances and heartbeats) until half of it is drained.
    public var messageBufferSize: Int
    /// How long a rebalance waits for the application's rebalance handler before it proceeds anyway.
    public var rebalanceHandlerTimeout: Duration
    /// How long ``KafkaConsumer/close(timeout:)`` may take when run as a `Service`.
    public var closeTimeout: Duration

    /// Consumer defaults: offsets are stored only by the application (at-least-once) and committed
    /// periodically and on close/revocation; the eager `range` assignor gives co-partitioned assignment
    /// (and avoids 2.0.2's cooperative-sticky bugs); a new group starts from the earliest offset;
    /// records of open or aborted transactions are never delivered (`read_committed`, librdkafka's
    /// default, written out because the worker's outputs are transactional and Java clients default
    /// to `read_uncommitted`).
    public static let defaultProperties: [String: String] = [
        "isolation.level": "read_committed",
        "enable.auto.offset.store": "false",
        "enable.auto.commit": "true",
        "partition.assignment.strategy": "range",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
    ]

    /// Creates a configuration.
    public init(
        kafka: KafkaConfiguration,
        groupID: String,
        groupInstanceID: String? = nil,
        messageBufferSize: Int = 1000,
        rebalanceHandlerTimeout: Duration = .seconds(30),
        closeTimeout: Duration = .seconds(30)
    ) {
        self.kafka = kafka
        self.groupID = groupID
        self.groupInstanceID = groupInstanceID
        self.messageBufferSize = messageBufferSize
        self.rebalanceHandlerTimeout = rebalanceHandlerTimeout
        self.closeTimeout = closeTimeout
    }

    /// The effective properties, validated against what at-least-once processing depends on.
    func effectiveProperties() throws(KafkaError) -> [String: String] {
        var properties = kafka.effectiveProperties(defaults: Self.defaultProperties)
        guard !groupID.isEmpty else { throw KafkaError(.configuration, "a consumer group id (group.id) is required") }
        properties["group.id"] = groupID
        if let groupInstanceID, !groupInstanceID.isEmpty { properties["group.instance.id"] = groupInstanceID }
        if properties["enable.auto.offset.store"] != "false" {
            throw KafkaError(
                .configuration,
                "Kafka property 'enable.auto.offset.store' must be false: offsets are stored only after a message is handled (at-least-once)"
            )
        }
        if properties["isolation.level"] != "read_committed" {
            throw KafkaError(
                .configuration,
                "Kafka property 'isolation.level' must be read_committed: records of aborted transactions (a fenced worker's late writes) must not be read"
            )
        }
        if let strategy = properties["partition.assignment.strategy"], strategy.contains("cooperative") {
            throw KafkaError(
                .configuration,
                "Kafka property 'partition.assignment.strategy'=\(strategy) is not supported: librdkafka 2.0.2's cooperative-sticky assignor has known bugs and does not co-partition; use range"
            )
        }
        guard messageBufferSize > 0 else { throw KafkaError(.configuration, "messageBufferSize must be positive") }
        return properties
    }
}
