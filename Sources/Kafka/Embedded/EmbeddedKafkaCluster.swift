import Logging
import NIOConcurrencyHelpers
import Observability

/// librdkafka's built-in mock cluster (real Kafka wire protocol on loopback) running in this process.
///
/// Other processes (our workers, kcat, confluent-kafka) can use it through ``bootstrapServers``.
/// The 2.0.2 mock has no CreateTopics: create topics with ``createTopic(_:partitions:replicationFactor:)``
/// (``provision(_:)`` does it for a topic catalog). Faults can be injected for tests.
///
/// - Important: Call ``shutdown()`` when done; clients still connected see their brokers disappear.
///   The mock keeps data in memory only, ignores topic configs (no compaction) and drops the oldest
///   records of a partition once it holds a few MB (the low watermark moves up): development and
///   tests only.
public final class EmbeddedKafkaCluster: Sendable {
    /// Comma-separated `host:port` list of the mock brokers (all on 127.0.0.1).
    public let bootstrapServers: String
    /// Number of brokers (ids 1...brokerCount).
    public let brokerCount: Int

    private let client: RDKafkaClient
    /// The mock cluster, nil after shutdown.
    private let cluster: NIOLockedValueBox<RDKafkaMockCluster?>
    private let logger: Logger

    /// Starts a mock cluster with `brokers` brokers.
    public init(brokers: Int = 1, logger: Logger) throws {
        guard brokers >= 1 && brokers <= 64 else {
            throw KafkaError(.embeddedBroker, "broker count must be between 1 and 64, got \(brokers)")
        }
        let context = RDKafkaClientContext(logger: logger)
        // The owning handle only hosts the mock cluster; it never connects anywhere. Its socket
        // settings are the mock brokers' own: `socket.nagle.disable` makes them answer with
        // TCP_NODELAY, as a Kafka broker does. Without it, of several requests pipelined on one
        // connection (a producer's requests for several partitions) every answer after the first
        // waited for the client's delayed ACK: about 40 ms.
        let client = try RDKafkaClient.make(
            kind: .producer,
            properties: ["client.id": "payfleet-embedded-broker", "socket.nagle.disable": "true"],
            context: context, label: "embedded")
        let mock: RDKafkaMockCluster
        do {
            mock = try RDKafkaMockCluster(host: client, brokers: brokers)
        } catch {
            client.destroy()
            throw error
        }
        self.client = client
        self.cluster = NIOLockedValueBox(mock)
        self.brokerCount = brokers
        self.logger = logger
        self.bootstrapServers = mock.bootstrapServers
        logger.info(
            "embedded Kafka cluster started",
            metadata: ["bootstrap.servers": "\(bootstrapServers)", LogKey.brokers: "\(brokers)"])
    }

    deinit {
        shutdown()
    }

    /// The bootstrap list as an array.
    public var bootstrapServerList: [String] { KafkaConfiguration.splitServers(bootstrapServers) }

    /// A client configuration pointing at this cluster.
    public func configuration(properties: [String: String] = [:]) -> KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: bootstrapServerList, properties: properties)
    }

    private func withCluster<T>(_ body: (RDKafkaMockCluster) throws(KafkaError) -> T) throws(KafkaError) -> T {
        let result: Result<T, KafkaError> = cluster.withLockedValue { mock in
            guard let mock else { return .failure(KafkaError(.closed, "the embedded Kafka cluster was shut down")) }
            do throws(KafkaError) { return .success(try body(mock)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Creates a topic. The replication factor is capped at the broker count (the mock requires it).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        let replication = max(1, min(replicationFactor, brokerCount))
        try withCluster { mock throws(KafkaError) in
            try mock.createTopic(name, partitions: partitions, replicationFactor: replication)
        }
    }

    /// Takes a broker down (its connections are closed and it refuses new ones) — fault injection.
    public func setBrokerDown(_ brokerID: Int32) throws {
        try withCluster { mock throws(KafkaError) in try mock.setBrokerDown(brokerID) }
    }

    /// Brings a broker back up.
    public func setBrokerUp(_ brokerID: Int32) throws {
        try withCluster { mock throws(KafkaError) in try mock.setBrokerUp(brokerID) }
    }

    /// Makes the next requests of a Kafka API (e.g. ``KafkaAPIKey/produce``) fail with the given error
    /// codes, one per request, in order (e.g. `KafkaErrorCodes.notEnoughReplicas`).
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) throws {
        try withCluster { mock throws(KafkaError) in mock.pushRequestErrors(apiKey: apiKey, errors: errors) }
    }

    /// Moves the leadership of a partition to another broker.
    public func setPartitionLeader(topic: String, partition: Int32, brokerID: Int32) throws {
        try withCluster { mock throws(KafkaError) in
            try mock.setPartitionLeader(topic: topic, partition: partition, brokerID: brokerID)
        }
    }

    /// Sets the group/transaction coordinator for a key (`"group"` + group id).
    public func setCoordinator(keyType: String = "group", key: String, brokerID: Int32) throws {
        try withCluster { mock throws(KafkaError) in
            try mock.setCoordinator(keyType: keyType, key: key, brokerID: brokerID)
        }
    }

    /// Stops the cluster. Idempotent.
    public func shutdown() {
        let mock: RDKafkaMockCluster? = cluster.withLockedValue { mock in
            defer { mock = nil }
            return mock
        }
        guard let mock else { return }
        mock.destroy()
        client.destroy()
        logger.info("embedded Kafka cluster stopped")
    }
}

/// Kafka protocol API keys for fault injection (``EmbeddedKafkaCluster/pushRequestErrors(apiKey:errors:)``).
public enum KafkaAPIKey {
    public static let produce: Int16 = 0
    public static let fetch: Int16 = 1
    public static let listOffsets: Int16 = 2
    public static let metadata: Int16 = 3
    public static let offsetCommit: Int16 = 8
    public static let offsetFetch: Int16 = 9
    public static let findCoordinator: Int16 = 10
    public static let joinGroup: Int16 = 11
    public static let heartbeat: Int16 = 12
    public static let syncGroup: Int16 = 14
    public static let initProducerID: Int16 = 22
    public static let addPartitionsToTxn: Int16 = 24
    public static let txnOffsetCommit: Int16 = 28
    public static let endTxn: Int16 = 26
}

/// Kafka protocol error codes useful for fault injection.
public enum KafkaErrorCodes {}

extension EmbeddedKafkaCluster {
    /// Creates every topic of a catalog (partitions as defined, replication capped at the broker count).
    /// Topic configs are not applied: the mock cluster ignores them (it does not compact).
    public func provision(_ catalog: TopicCatalog) throws {
        for topic in catalog.topics {
            try createTopic(topic.name, partitions: topic.partitions, replicationFactor: topic.replicationFactor)
        }
    }
}
