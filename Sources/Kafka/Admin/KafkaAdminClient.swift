import CRdKafka
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
            type: RD_KAFKA_PRODUCER, properties: configuration.effectiveProperties(defaults: [:]), context: context, label: "admin")
        lifecycle = ClientLifecycle(name: "admin client")
        self.logger = logger
    }

    /// Cluster metadata (brokers, all topics).
    public func metadata(timeout: Duration = .seconds(10)) async throws -> KafkaClusterMetadata {
        try await withHandle { client throws(KafkaError) in try client.metadata(timeoutMilliseconds: timeout.clampedMilliseconds) }
    }

    /// Creates topics. Returns, per topic name, `nil` on success or the error (an existing topic gives
    /// an error whose `rdKafkaErrorCode` is `TOPIC_ALREADY_EXISTS`, see ``isTopicAlreadyExists(_:)``).
    ///
    /// - Throws: when the request as a whole failed (e.g. no controller; the 2.0.2 mock cluster has none).
    public func createTopics(_ topics: [KafkaNewTopic], timeout: Duration = .seconds(30)) async throws -> [String: KafkaError?] {
        guard !topics.isEmpty else { return [:] }
        return try await withHandle { client throws(KafkaError) in
            try Self.createTopicsBlocking(client, topics, timeout: timeout)
        }
    }

    private static func createTopicsBlocking(
        _ client: RDKafkaClient, _ topics: [KafkaNewTopic], timeout: Duration
    ) throws(KafkaError) -> [String: KafkaError?] {
            var newTopics: [OpaquePointer?] = []
            defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
            for topic in topics {
                var errstr = [CChar](repeating: 0, count: 512)
                guard
                    let newTopic = rd_kafka_NewTopic_new(
                        topic.name, Int32(topic.partitions), Int32(topic.replicationFactor), &errstr, errstr.count)
                else {
                    throw KafkaError(.admin, "invalid topic \(topic.name): \(String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
                }
                newTopics.append(newTopic)
                for (name, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                    let err = rd_kafka_NewTopic_set_config(newTopic, name, value)
                    guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                        throw KafkaError.rd(.admin, "topic \(topic.name) config \(name)", err)
                    }
                }
            }
            let event = try Self.run(client, .createTopics, timeout: timeout) { options, queue in
                rd_kafka_CreateTopics(client.handle, &newTopics, newTopics.count, options, queue)
            }
            defer { rd_kafka_event_destroy(event) }
            guard let result = rd_kafka_event_CreateTopics_result(event) else {
                throw KafkaError(.admin, "CreateTopics returned no result")
            }
            var count = 0
            guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return [:] }
            var outcome: [String: KafkaError?] = [:]
            for index in 0..<count {
                guard let topicResult = results[index] else { continue }
                let name = String(cString: rd_kafka_topic_result_name(topicResult))
                let err = rd_kafka_topic_result_error(topicResult)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    outcome[name] = .some(nil)
                } else {
                    let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""
                    outcome[name] = KafkaError(.admin, "creating topic \(name): \(text)", rdKafkaErrorCode: err.rawValue)
                }
            }
            return outcome
    }

    /// Whether an error from ``createTopics(_:timeout:)`` means the topic already existed.
    public static func isTopicAlreadyExists(_ error: KafkaError) -> Bool {
        error.rdKafkaErrorCode == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue
    }

    /// Describes topics: partition count and replication from metadata, configs from DescribeConfigs
    /// when the cluster supports it. Missing topics are absent from the result.
    public func describeTopics(_ names: [String], timeout: Duration = .seconds(15)) async throws -> [String: KafkaTopicDescription] {
        let metadata = try await metadata(timeout: timeout)
        var descriptions: [String: KafkaTopicDescription] = [:]
        for name in names {
            guard let topic = metadata.topic(name) else { continue }
            descriptions[name] = KafkaTopicDescription(
                name: name, partitionCount: topic.partitionCount, replicationFactor: topic.replicationFactor, configs: nil)
        }
        let existing = names.filter { descriptions[$0] != nil }
        guard !existing.isEmpty else { return descriptions }
        do {
            // Real clusters answer in milliseconds; a cluster without a controller (the embedded mock)
            // never does, so do not spend the whole timeout on it.
            let configs = try await describeConfigs(existing, timeout: min(timeout, .seconds(5)))
            for (name, values) in configs { descriptions[name]?.configs = values }
        } catch let error as KafkaError {
            logger.notice("the cluster did not describe topic configs; configs not verified", metadata: [LogKey.error: "\(error)"])
        }
        return descriptions
    }

    /// Non-default configs of topics (DescribeConfigs).
    public func describeConfigs(_ names: [String], timeout: Duration = .seconds(15)) async throws -> [String: [String: String]] {
        try await withHandle { client throws(KafkaError) in
            var resources: [OpaquePointer?] = names.map { rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, $0) }
            defer { for resource in resources { rd_kafka_ConfigResource_destroy(resource) } }
            let event = try Self.run(client, .describeConfigs, timeout: timeout) { options, queue in
                rd_kafka_DescribeConfigs(client.handle, &resources, resources.count, options, queue)
            }
            defer { rd_kafka_event_destroy(event) }
            guard let result = rd_kafka_event_DescribeConfigs_result(event) else {
                throw KafkaError(.admin, "DescribeConfigs returned no result")
            }
            var count = 0
            guard let described = rd_kafka_DescribeConfigs_result_resources(result, &count) else { return [:] }
            var output: [String: [String: String]] = [:]
            for index in 0..<count {
                guard let resource = described[index] else { continue }
                let name = String(cString: rd_kafka_ConfigResource_name(resource))
                let err = rd_kafka_ConfigResource_error(resource)
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    let text = rd_kafka_ConfigResource_error_string(resource).map { String(cString: $0) } ?? ""
                    throw KafkaError(.admin, "describing configs of \(name): \(text)", rdKafkaErrorCode: err.rawValue)
                }
                var entryCount = 0
                var values: [String: String] = [:]
                if let entries = rd_kafka_ConfigResource_configs(resource, &entryCount) {
                    for e in 0..<entryCount {
                        guard let entry = entries[e], rd_kafka_ConfigEntry_is_default(entry) == 0 else { continue }
                        let key = String(cString: rd_kafka_ConfigEntry_name(entry))
                        if rd_kafka_ConfigEntry_is_sensitive(entry) != 0 { continue }
                        values[key] = rd_kafka_ConfigEntry_value(entry).map { String(cString: $0) } ?? ""
                    }
                }
                output[name] = values
            }
            return output
        }
    }

    /// Destroys the client. Idempotent.
    public func close() async {
        guard lifecycle.beginClosing() else {
            await lifecycle.waitUntilClosed()
            return
        }
        let client = self.client
        let lifecycle = self.lifecycle
        client.blockingQueue.async {
            lifecycle.waitUntilIdle(deadline: .now + .seconds(30))
            client.destroy()
            lifecycle.markClosed()
        }
        await lifecycle.waitUntilClosed()
    }

    // MARK: Plumbing

    private func withHandle<T: Sendable>(_ body: @escaping @Sendable (RDKafkaClient) throws(KafkaError) -> T) async throws -> T {
        let client = self.client
        let lifecycle = self.lifecycle
        return try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in try body(client) }
        }
    }

    private enum Operation {
        case createTopics, describeConfigs
        var raw: rd_kafka_admin_op_t {
            switch self {
            case .createTopics: RD_KAFKA_ADMIN_OP_CREATETOPICS
            case .describeConfigs: RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS
            }
        }
    }

    /// Issues an admin request on a temporary queue and waits (blocking) for its result event.
    private static func run(
        _ client: RDKafkaClient, _ operation: Operation, timeout: Duration,
        _ issue: (OpaquePointer?, OpaquePointer?) -> Void
    ) throws(KafkaError) -> OpaquePointer {
        guard let options = rd_kafka_AdminOptions_new(client.handle, operation.raw) else {
            throw KafkaError(.admin, "rd_kafka_AdminOptions_new failed")
        }
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errstr = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout.clampedMilliseconds, &errstr, errstr.count)
        if operation == .createTopics {
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout.clampedMilliseconds, &errstr, errstr.count)
        }
        guard let queue = rd_kafka_queue_new(client.handle) else { throw KafkaError(.admin, "rd_kafka_queue_new failed") }
        defer { rd_kafka_queue_destroy(queue) }
        issue(options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeout.clampedMilliseconds + 5000) else {
            throw KafkaError(.timedOut, "admin request timed out")
        }
        let err = rd_kafka_event_error(event)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            rd_kafka_event_destroy(event)
            throw KafkaError(.admin, "admin request failed: \(text)", rdKafkaErrorCode: err.rawValue)
        }
        return event
    }
}
