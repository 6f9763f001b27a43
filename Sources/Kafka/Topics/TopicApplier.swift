import Logging
import Observability

/// What ``TopicApplier/apply(_:replicationFactor:)`` did.
public struct TopicApplyReport: Sendable {
    /// Topics created now.
    public var created: [String] = []
    /// Topics that existed and match the definition (partition count, co-partitioning).
    public var verified: [String] = []
    /// Differences that are not fatal (configs, replication, extra partitions outside a co-partition group).
    public var warnings: [String] = []
}

/// Makes a cluster match a ``TopicCatalog``: creates missing topics, verifies existing ones.
/// Idempotent: running it twice creates nothing the second time. A partition count that breaks a
/// co-partition group is an error (``KafkaError`` `.topicConflict`), never a silent mismatch.
public struct TopicApplier: Sendable {
    private let admin: KafkaAdminClient
    private let logger: Logger
    private let timeout: Duration

    /// Creates an applier using an admin client.
    ///
    /// - Parameter timeout: bound of each admin request (create, describe configs).
    public init(admin: KafkaAdminClient, logger: Logger, timeout: Duration = .seconds(30)) {
        self.admin = admin
        self.logger = logger
        self.timeout = timeout
    }

    /// Applies the catalog.
    ///
    /// - Parameter replicationFactor: overrides every topic's replication factor (e.g. 1 on a
    ///   single-broker development cluster); `min.insync.replicas` is lowered to fit.
    public func apply(_ catalog: TopicCatalog, replicationFactor: Int? = nil) async throws -> TopicApplyReport {
        var report = TopicApplyReport()
        let names = catalog.topics.map(\.name)
        var existing = try await admin.describeTopics(names, timeout: timeout)
        let missing = catalog.topics.filter { existing[$0.name] == nil }

        // Refuse before creating anything when existing topics already break a co-partition group.
        try checkCoPartitioning(catalog, existing: existing, includeMissing: false)

        if !missing.isEmpty {
            logger.info("creating topics", metadata: [LogKey.topics: "\(missing.map(\.name).joined(separator: ","))"])
            let results: [String: KafkaError?]
            do {
                results = try await admin.createTopics(
                    missing.map { $0.newTopic(replicationFactor: replicationFactor) }, timeout: timeout)
            } catch let error as KafkaError {
                throw KafkaError(
                    .admin,
                    "creating \(missing.map(\.name).joined(separator: ", ")) failed: \(error.message) (the embedded broker cannot create topics through the admin API: it provisions topics/ itself when it starts)",
                    rdKafkaErrorCode: error.rdKafkaErrorCode)
            }
            for topic in missing {
                switch results[topic.name] {
                case .some(.none):
                    report.created.append(topic.name)
                case .some(.some(let error)) where KafkaAdminClient.isTopicAlreadyExists(error):
                    logger.info("topic was created concurrently", metadata: [LogKey.topic: "\(topic.name)"])
                case .some(.some(let error)):
                    throw error
                case .none:
                    throw KafkaError(.admin, "the cluster did not answer for topic \(topic.name)")
                }
            }
            // Wait until the new topics appear in metadata, then verify everything again.
            let deadline = ContinuousClock.now + .seconds(30)
            repeat {
                existing = try await admin.describeTopics(names, timeout: timeout)
                if catalog.topics.allSatisfy({ existing[$0.name] != nil }) { break }
                try await Task.sleep(for: .milliseconds(200))
            } while ContinuousClock.now < deadline
            if let absent = catalog.topics.first(where: { existing[$0.name] == nil }) {
                throw KafkaError(.admin, "topic \(absent.name) was created but does not appear in the cluster metadata")
            }
        }

        try checkCoPartitioning(catalog, existing: existing, includeMissing: true)
        for topic in catalog.topics {
            guard let actual = existing[topic.name] else { continue }
            if !report.created.contains(topic.name) { report.verified.append(topic.name) }
            if actual.partitionCount != topic.partitions && topic.coPartitionGroup == nil {
                report.warnings.append(
                    "\(topic.name) has \(actual.partitionCount) partitions, the definition says \(topic.partitions) (keys may map to other partitions than the contract says)"
                )
            }
            let wantedReplication = replicationFactor ?? topic.replicationFactor
            if actual.replicationFactor != wantedReplication {
                report.warnings.append(
                    "\(topic.name) has replication factor \(actual.replicationFactor), the definition says \(wantedReplication)"
                )
            }
            if let configs = actual.configs {
                let wanted = topic.newTopic(replicationFactor: replicationFactor).configs
                for (name, value) in wanted.sorted(by: { $0.key < $1.key }) where configs[name] != value {
                    report.warnings.append(
                        "\(topic.name) config \(name)=\(configs[name] ?? "<default>"), the definition says \(value)")
                }
            }
        }
        for warning in report.warnings { logger.warning("\(warning)") }
        return report
    }

    /// Every co-partition group must have one partition count across its existing topics, equal to the definition.
    private func checkCoPartitioning(
        _ catalog: TopicCatalog, existing: [String: KafkaTopicDescription], includeMissing: Bool
    ) throws(KafkaError) {
        for (group, members) in catalog.coPartitionGroups.sorted(by: { $0.key < $1.key }) {
            let wanted = members[0].partitions
            let wrong = members.compactMap { member -> String? in
                guard let actual = existing[member.name] else { return nil }
                return actual.partitionCount == wanted ? nil : "\(member.name) has \(actual.partitionCount)"
            }
            if !wrong.isEmpty {
                throw KafkaError(
                    .topicConflict,
                    "co-partition group '\(group)' requires \(wanted) partitions in every topic (\(members.map(\.name).joined(separator: ", "))), but \(wrong.joined(separator: ", ")); the worker cannot own an order in all of them. Recreate or repartition these topics (keys would move) — nothing was changed"
                )
            }
        }
    }
}
