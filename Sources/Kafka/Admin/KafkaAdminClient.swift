import Foundation
import Logging
import Observability

/// A topic to create.
public struct KafkaNewTopic: Sendable, Hashable {
    /// Topic name.
    public var name: String
    /// Partition count.
    public var partitions: Int
    /// Replication factor.
    public var replicationFactor: Int
    /// Topic configs (`cleanup.policy`, `retention.ms`, `min.insync.replicas`, ...).
    public var configs: [String: String]

    /// Creates a topic specification.
    public init(name: String, partitions: Int, replicationFactor: Int, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// What the cluster says about an existing topic.
public struct KafkaTopicDescription: Sendable {
    /// Topic name.
    public var name: String
    /// Partition count.
    public var partitionCount: Int
    /// Replication factor (replicas of partition 0).
    public var replicationFactor: Int
    /// Non-default topic configs, or `nil` when the cluster does not answer DescribeConfigs
    /// (librdkafka's mock cluster does not).
    public var configs: [String: String]?
}

/// Creates and describes topics.
///
/// Every call blocks a private dispatch queue, never the cooperative pool.
public final class KafkaAdminClient: Sendable {
    private let client: RDKafkaClient
    private let lifecycle: ClientLifecycle
    private let logger: Logger

    /// Creates the admin client.
    public init(configuration: KafkaConfiguration, logger: Logger) throws {
        let context = RDKafkaClientContext(logger: logger)
        client = try RDKafkaClient.make(
            kind: .producer, properties: configuration.effectiveProperties(defaults: [:]), context: context,
            label: "admin")
        lifecycle = ClientLifecycle(name: "admin client")
        self.logger = logger
    }

    /// Cluster metadata (brokers, all topics).
    public func metadata(timeout: Duration = .seconds(10)) async throws -> KafkaClusterMetadata {
        try await client.metadata(timeout: timeout, lifecycle: lifecycle)
    }

    /// Creates topics. Returns, per topic name, `nil` on success or the error (an existing topic gives
    /// an error whose `rdKafkaErrorCode` is `TOPIC_ALREADY_EXISTS`, see ``isTopicAlreadyExists(_:)``).
    ///
    /// - Throws: when the request as a whole failed (e.g. no controller; the 2.0.2 mock cluster has none).
    public func createTopics(
        _ topics: [KafkaNewTopic], timeout: Duration = .seconds(30)
    ) async throws -> [String: KafkaError?] {
        guard !topics.isEmpty else { return [:] }
        return try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            try client.createTopics(topics, timeout: timeout)
        }
    }

    /// Whether an error from ``createTopics(_:timeout:)`` means the topic already existed.
    public static func isTopicAlreadyExists(_ error: KafkaError) -> Bool {
        error.rdKafkaErrorCode == RDKafkaErrorCode.topicAlreadyExists
    }

    /// Describes topics: partition count and replication from metadata, configs from DescribeConfigs
    /// when the cluster supports it. Missing topics are absent from the result.
    public func describeTopics(
        _ names: [String], timeout: Duration = .seconds(15)
    ) async throws -> [String: KafkaTopicDescription] {
        let metadata = try await metadata(timeout: timeout)
        var descriptions: [String: KafkaTopicDescription] = [:]
        for name in names {
            guard let topic = metadata.topic(name) else { continue }
            descriptions[name] = KafkaTopicDescription(
                name: name, partitionCount: topic.partitionCount, replicationFactor: topic.replicationFactor,
                configs: nil)
        }
        let existing = names.filter { descriptions[$0] != nil }
        guard !existing.isEmpty else { return descriptions }
        do {
            // Real clusters answer in milliseconds; a cluster without a controller (the embedded mock)
            // never does, so do not spend the whole timeout on it.
            let configs = try await describeConfigs(existing, timeout: min(timeout, .seconds(5)))
            for (name, values) in configs { descriptions[name]?.configs = values }
        } catch let error as KafkaError {
            logger.notice(
                "the cluster did not describe topic configs; configs not verified", metadata: [LogKey.error: "\(error)"]
            )
        }
        return descriptions
    }

    /// Non-default configs of topics (DescribeConfigs).
    public func describeConfigs(
        _ names: [String], timeout: Duration = .seconds(15)
    ) async throws -> [String: [String: String]] {
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            try client.describeTopicConfigs(names, timeout: timeout)
        }
    }

    /// Destroys the client. Idempotent.
    public func close() async {
        await client.destroyWhenIdle(lifecycle)
    }
}
