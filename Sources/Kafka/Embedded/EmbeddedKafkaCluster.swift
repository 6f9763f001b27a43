import CRdKafka
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
    /// The `rd_kafka_mock_cluster_t*`, nil after shutdown.
    private let cluster: NIOLockedValueBox<MockHandle?>
    private let logger: Logger

    /// Starts a mock cluster with `brokers` brokers.
    public init(brokers: Int = 1, logger: Logger) throws {
        guard brokers >= 1 && brokers <= 64 else {
            throw KafkaError(.embeddedBroker, "broker count must be between 1 and 64, got \(brokers)")
        }
        let context = RDKafkaClientContext(logger: logger)
        // The owning handle only hosts the mock cluster; it never connects anywhere.
        let client = try RDKafkaClient.make(
            type: RD_KAFKA_PRODUCER, properties: ["client.id": "payfleet-embedded-broker"], context: context,
            label: "embedded")
        guard let mock = rd_kafka_mock_cluster_new(client.handle, Int32(brokers)) else {
            client.destroy()
            throw KafkaError(.embeddedBroker, "rd_kafka_mock_cluster_new failed")
        }
        self.client = client
        self.cluster = NIOLockedValueBox(MockHandle(pointer: mock))
        self.brokerCount = brokers
        self.logger = logger
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mock))
        logger.info("embedded Kafka cluster started", metadata: [LogKey.bootstrapServers: "\(bootstrapServers)", LogKey.brokers: "\(brokers)"])
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

    private func withCluster<T>(_ body: (OpaquePointer) throws(KafkaError) -> T) throws(KafkaError) -> T {
        let result: Result<T, KafkaError> = cluster.withLockedValue { mock in
            guard let mock else { return .failure(KafkaError(.closed, "the embedded Kafka cluster was shut down")) }
            do throws(KafkaError) { return .success(try body(mock.pointer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Creates a topic. The replication factor is capped at the broker count (the mock requires it).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        let replication = max(1, min(replicationFactor, brokerCount))
        try withCluster { mock throws(KafkaError) in
            let err = rd_kafka_mock_topic_create(mock, name, Int32(partitions), Int32(replication))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.rd(.embeddedBroker, "creating topic \(name) in the embedded cluster", err)
            }
        }
    }

    /// Takes a broker down (its connections are closed and it refuses new ones) — fault injection.
    public func setBrokerDown(_ brokerID: Int32) throws {
        try withCluster { mock throws(KafkaError) in
            let err = rd_kafka_mock_broker_set_down(mock, brokerID)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.embeddedBroker, "broker \(brokerID) down", err) }
        }
    }

    /// Brings a broker back up.
    public func setBrokerUp(_ brokerID: Int32) throws {
        try withCluster { mock throws(KafkaError) in
            let err = rd_kafka_mock_broker_set_up(mock, brokerID)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.embeddedBroker, "broker \(brokerID) up", err) }
        }
    }

    /// Makes the next requests of a Kafka API (e.g. ``KafkaAPIKey/produce``) fail with the given error
    /// codes, one per request, in order (e.g. `KafkaErrorCodes.notEnoughReplicas`).
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) throws {
        try withCluster { mock throws(KafkaError) in
            var codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
            rd_kafka_mock_push_request_errors_array(mock, apiKey, codes.count, &codes)
        }
    }

    /// Moves the leadership of a partition to another broker.
    public func setPartitionLeader(topic: String, partition: Int32, brokerID: Int32) throws {
        try withCluster { mock throws(KafkaError) in
            let err = rd_kafka_mock_partition_set_leader(mock, topic, partition, brokerID)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.embeddedBroker, "setting leader", err) }
        }
    }

    /// Sets the group/transaction coordinator for a key (`"group"` + group id).
    public func setCoordinator(keyType: String = "group", key: String, brokerID: Int32) throws {
        try withCluster { mock throws(KafkaError) in
            let err = rd_kafka_mock_coordinator_set(mock, keyType, key, brokerID)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.embeddedBroker, "setting coordinator", err) }
        }
    }

    /// Stops the cluster. Idempotent.
    public func shutdown() {
        let mock: MockHandle? = cluster.withLockedValue { mock in
            defer { mock = nil }
            return mock
        }
        guard let mock else { return }
        rd_kafka_mock_cluster_destroy(mock.pointer)
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
}

/// Kafka protocol error codes useful for fault injection.
public enum KafkaErrorCodes {
    public static let notLeaderForPartition: Int32 = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue
    public static let notEnoughReplicas: Int32 = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS.rawValue
    public static let requestTimedOut: Int32 = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue
    public static let leaderNotAvailable: Int32 = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue
    public static let coordinatorNotAvailable: Int32 = RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue
    public static let notCoordinator: Int32 = RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue
}

/// `rd_kafka_mock_cluster_t*`. `@unchecked Sendable`: the mock cluster API is thread-safe (it posts
/// operations to the mock's own thread) and the pointer is only used under the owner's lock.
struct MockHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

extension EmbeddedKafkaCluster {
    /// Creates every topic of a catalog (partitions as defined, replication capped at the broker count).
    /// Topic configs are not applied: the mock cluster ignores them (it does not compact).
    public func provision(_ catalog: TopicCatalog) throws {
        for topic in catalog.topics {
            try createTopic(topic.name, partitions: topic.partitions, replicationFactor: topic.replicationFactor)
        }
    }
}
