/// Settings of a ``KafkaProducer``.
public struct KafkaProducerConfiguration: Sendable {
    /// Connection settings and pass-through librdkafka properties (they override ``defaultProperties``).
    public var kafka: KafkaConfiguration
    /// How long ``KafkaProducer/close(timeout:)`` waits for outstanding messages by default (Service shutdown).
    public var closeTimeout: Duration
    /// Longest wait between retries while librdkafka's local queue is full (back-pressure).
    public var queueFullMaxBackoff: Duration
    /// Makes the producer transactional (`transactional.id`): call
    /// ``KafkaProducer/initTransactions(timeout:)`` once, then write inside transactions. A newer
    /// producer with the same id fences this one. `nil` (default): not transactional.
    public var transactionalID: String?
    /// Most messages of one ``KafkaProducer/sendAll(_:)`` (or `sendAllSettled`) enqueued and not yet
    /// acknowledged at a time; a larger batch is enqueued as acknowledgements make room, in order.
    /// Keeps librdkafka working on recently enqueued (cache-warm) messages and its memory bounded.
    /// Default 30,000 (about 13 MB of librdkafka messages of 200 bytes); the roles' batches are far
    /// smaller and never wait for it.
    public var sendWindow: Int

    /// Producer defaults: idempotent (which implies `acks=all` and ordered retries) and Java-compatible
    /// key partitioning (`murmur2_random`), so upstream Java producers and PayFleet agree on partitions.
    public static let defaultProperties: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
        "partitioner": "murmur2_random",
    ]

    /// Creates a configuration.
    public init(
        kafka: KafkaConfiguration, closeTimeout: Duration = .seconds(10),
        queueFullMaxBackoff: Duration = .milliseconds(20),
        transactionalID: String? = nil, sendWindow: Int = 30_000
    ) {
        self.kafka = kafka
        self.closeTimeout = closeTimeout
        self.queueFullMaxBackoff = queueFullMaxBackoff
        self.transactionalID = transactionalID
        self.sendWindow = sendWindow
    }

    var effectiveProperties: [String: String] {
        var properties = kafka.effectiveProperties(defaults: Self.defaultProperties)
        if let transactionalID { properties["transactional.id"] = transactionalID }
        return properties
    }
}
