import Foundation

/// One topic of the PayFleet contract, loaded from `topics/<name>.yaml`.
public struct TopicDefinition: Sendable, Hashable {
    /// How the key is encoded.
    public struct Key: Sendable, Hashable {
        /// What the key is (e.g. `out_trade_no`).
        public var description: String
        /// `utf-8` or `bytes`.
        public var encoding: String
        /// Whether every message must have a key.
        public var required: Bool
    }

    /// A documented header.
    public struct Header: Sendable, Hashable {
        /// Header name.
        public var name: String
        /// Whether every message carries it.
        public var required: Bool
        /// What it holds.
        public var description: String
    }

    /// The value contract.
    public struct Value: Sendable, Hashable {
        /// MIME type of the value (`application/json`, `application/octet-stream`).
        public var contentType: String
        /// Whether null values (tombstones) are part of the contract.
        public var tombstones: Bool
        /// The JSON Schema of the value, as canonical JSON (sorted keys).
        public var schemaJSON: String
        /// The schema's `$id`, when it has one (used as CloudEvents `dataschema`).
        public var schemaID: String?
    }

    /// Topic name.
    public var name: String
    /// What the topic is for.
    public var description: String
    /// Partition count.
    public var partitions: Int
    /// Replication factor.
    public var replicationFactor: Int
    /// Topics of one co-partition group must have equal partition counts (and keys/partitioner).
    public var coPartitionGroup: String?
    /// The key partitioner every producer must use (`murmur2`, Java's default).
    public var partitioner: String
    /// Key contract.
    public var key: Key
    /// Topic configs (`cleanup.policy`, `retention.ms`, `min.insync.replicas`, ...).
    public var configs: [String: String]
    /// Documented headers.
    public var headers: [Header]
    /// Value contract.
    public var value: Value

    /// The topic as an admin create request, with an optional replication override (small clusters).
    public func newTopic(replicationFactor override: Int? = nil) -> KafkaNewTopic {
        let replication = override ?? replicationFactor
        var configs = self.configs
        if let minISR = configs["min.insync.replicas"].flatMap(Int.init), minISR > replication {
            configs["min.insync.replicas"] = String(replication)
        }
        return KafkaNewTopic(name: name, partitions: partitions, replicationFactor: replication, configs: configs)
    }
}
