import Foundation
import Kafka
import Testing

/// The repository's `topics/` directory.
let repositoryTopicsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("topics").path

@Suite("Topics as code", .timeLimit(.minutes(2)))
struct TopicsTests {
    @Test func repositoryTopicsAreValid() throws {
        let catalog = try TopicCatalog.load(directory: repositoryTopicsDirectory)
        let names = Set(catalog.topics.map(\.name))
        let expected: Set<String> = [
            "payfleet.order-requests", "payfleet.callbacks", "payfleet.query-jobs", "payfleet.order-state",
            "payfleet.payment-events", "payfleet.delay.5s", "payfleet.delay.30s", "payfleet.delay.5m",
            "payfleet.delay.30m", "payfleet.delay.4h", "payfleet.dead-letters",
        ]
        #expect(names == expected)
        let orders = try #require(catalog.coPartitionGroups["orders"])
        #expect(
            Set(orders.map(\.name)) == [
                "payfleet.order-requests", "payfleet.callbacks", "payfleet.query-jobs", "payfleet.order-state",
            ])
        #expect(Set(orders.map(\.partitions)).count == 1)
        let state = try #require(catalog["payfleet.order-state"])
        #expect(state.configs["cleanup.policy"] == "compact")
        #expect(state.value.tombstones)
        for topic in catalog.topics {
            #expect(topic.partitioner == "murmur2")
            let schema = try JSONSerialization.jsonObject(with: Data(topic.value.schemaJSON.utf8)) as? [String: Any]
            #expect(schema?["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema", "\(topic.name)")
        }
        let request = try #require(catalog["payfleet.order-requests"])
        let requestSchema = try #require(
            try JSONSerialization.jsonObject(with: Data(request.value.schemaJSON.utf8)) as? [String: Any])
        let properties = try #require(requestSchema["properties"] as? [String: Any])
        #expect(
            Set(properties.keys) == [
                "action", "out_trade_no", "merchant", "channel", "amount_fen", "description", "attach", "expires_at",
                "client_ip", "options", "out_refund_no", "reason",
            ])
        let timer = try #require(catalog["payfleet.delay.5s"])
        #expect(timer.value.schemaJSON == catalog["payfleet.query-jobs"]?.value.schemaJSON)
        #expect(timer.headers.contains { $0.name == "payfleet-due-at-ms" && $0.required })
    }

    static let valid = """
        name: t.one
        partitions: 3
        replication_factor: 3
        partitioner: murmur2
        key: {description: k, encoding: utf-8}
        configs: {cleanup.policy: delete, min.insync.replicas: 2, retention.ms: "1000"}
        value:
          content_type: application/json
          schema: {$schema: "https://json-schema.org/draft/2020-12/schema", type: object}
        """

    @Test func parsesAValidFile() throws {
        let topic = try TopicCatalog.parse(yaml: Self.valid, file: "t.one.yaml")
        #expect(topic.partitions == 3)
        #expect(topic.configs["min.insync.replicas"] == "2")
        #expect(topic.newTopic(replicationFactor: 1).configs["min.insync.replicas"] == "1")
    }

    @Test(arguments: [
        ("partitions: 3", "partitions: 0", "partitions"),
        ("partitioner: murmur2", "partitioner: consistent_random", "partitioner"),
        ("min.insync.replicas: 2", "min.insync.replicas: 4", "min.insync.replicas"),
        ("cleanup.policy: delete", "cleanup.policy: shred", "cleanup.policy"),
        ("name: t.one", "name: bad/name", "name"),
        ("replication_factor: 3", "replication_factor: 3\nretention: 5", "retention"),
        ("retention.ms: \"1000\"", "retention.ms: soon", "retention.ms"),
    ])
    func rejectsBadFilesNamingTheField(original: String, replacement: String, field: String) throws {
        let yaml = Self.valid.replacingOccurrences(of: original, with: replacement)
        do {
            _ = try TopicCatalog.parse(yaml: yaml, file: "t.one.yaml")
            Issue.record("accepted: \(replacement)")
        } catch let error as KafkaError {
            #expect(error.code == .topicDefinition)
            #expect(error.message.contains(field), "\(error.message)")
        }
    }

    @Test func coPartitionMismatchInDefinitionsIsAnError() throws {
        let a = try TopicCatalog.parse(yaml: Self.valid + "\nco_partition_group: g", file: "t.one.yaml")
        var b = a
        b.name = "t.two"
        b.partitions = 4
        #expect(throws: KafkaError.self) { try TopicCatalog(topics: [a, b]) }
    }

    @Test func rendersStrimziTopics() throws {
        let catalog = try TopicCatalog.load(directory: repositoryTopicsDirectory)
        let yaml = try StrimziTopicRenderer(clusterName: "payfleet-kafka").render(catalog)
        #expect(yaml.components(separatedBy: "kind: KafkaTopic").count - 1 == catalog.topics.count)
        #expect(yaml.contains("apiVersion: kafka.strimzi.io/v1beta2"))
        #expect(yaml.contains("strimzi.io/cluster: \"payfleet-kafka\""))
        #expect(yaml.contains("topicName: \"payfleet.order-state\""))
        #expect(yaml.contains("cleanup.policy: \"compact\""))
        #expect(throws: KafkaError.self) { try StrimziTopicRenderer(clusterName: "Bad_Name") }
    }

    @Test func applyVerifiesProvisionedTopicsTwice() async throws {
        let logger = testLogger()
        let catalog = try TopicCatalog.load(directory: repositoryTopicsDirectory)
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.provision(catalog)
        let admin = try KafkaAdminClient(configuration: cluster.configuration(), logger: logger)
        let applier = TopicApplier(admin: admin, logger: logger)
        for _ in 0..<2 {
            let report = try await applier.apply(catalog, replicationFactor: 1)
            #expect(report.created.isEmpty)
            #expect(Set(report.verified) == Set(catalog.topics.map(\.name)))
        }
        await admin.close()
    }

    @Test func applyReportsCoPartitionConflictAndMissingTopics() async throws {
        let logger = testLogger()
        let catalog = try TopicCatalog.load(directory: repositoryTopicsDirectory)
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        for topic in catalog.topics {
            let partitions = topic.name == "payfleet.callbacks" ? topic.partitions / 2 : topic.partitions
            try cluster.createTopic(topic.name, partitions: partitions)
        }
        let admin = try KafkaAdminClient(configuration: cluster.configuration(), logger: logger)
        do {
            _ = try await TopicApplier(admin: admin, logger: logger).apply(catalog, replicationFactor: 1)
            Issue.record("a co-partition conflict must be reported")
        } catch let error as KafkaError {
            #expect(error.code == .topicConflict)
            #expect(error.message.contains("payfleet.callbacks has 6"))
        }

        // A topic that does not exist: the mock cannot create it, which is a clear error.
        let other = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { other.shutdown() }
        let otherAdmin = try KafkaAdminClient(configuration: other.configuration(), logger: logger)
        await #expect(throws: KafkaError.self) {
            _ = try await TopicApplier(admin: otherAdmin, logger: logger, timeout: .seconds(5)).apply(
                catalog, replicationFactor: 1)
        }
        await admin.close()
        await otherAdmin.close()
    }
}
