/// Broker and topic metadata as reported by the cluster.
public struct KafkaClusterMetadata: Sendable {
    /// A broker of the cluster.
    public struct Broker: Sendable, Hashable {
        /// Broker id.
        public var id: Int32
        /// Advertised host.
        public var host: String
        /// Advertised port.
        public var port: Int32
    }

    /// The brokers.
    public var brokers: [Broker]
    /// The topics (all topics of the cluster).
    public var topics: [KafkaTopicMetadata]
    /// The broker that answered.
    public var originatingBrokerID: Int32
    /// The broker that answered, by name.
    public var originatingBrokerName: String

    /// The metadata of one topic, or `nil` when the cluster does not have it.
    public func topic(_ name: String) -> KafkaTopicMetadata? {
        topics.first { $0.name == name && $0.errorCode == 0 }
    }
}

/// The partitions of one topic.
public struct KafkaTopicMetadata: Sendable {
    /// One partition.
    public struct Partition: Sendable {
        /// Partition number.
        public var id: Int32
        /// Leader broker id (-1 when unknown).
        public var leader: Int32
        /// Replica broker ids.
        public var replicas: [Int32]
        /// In-sync replica broker ids.
        public var inSyncReplicas: [Int32]
        /// Partition-level error (`rd_kafka_resp_err_t`, 0 = none).
        public var errorCode: Int32
    }

    /// Topic name.
    public var name: String
    /// Partitions sorted by id.
    public var partitions: [Partition]
    /// Topic-level error (`rd_kafka_resp_err_t`, 0 = none; e.g. unknown topic).
    public var errorCode: Int32

    /// Number of partitions.
    public var partitionCount: Int { partitions.count }
    /// Replication factor (replicas of the first partition).
    public var replicationFactor: Int { partitions.first?.replicas.count ?? 0 }
}

/// The offsets bounding a partition's log.
public struct KafkaWatermarks: Sendable, Hashable {
    /// The earliest offset still in the log.
    public var low: Int64
    /// The offset the next message will get (one past the last message).
    public var high: Int64

    /// Creates watermarks.
    public init(low: Int64, high: Int64) {
        self.low = low
        self.high = high
    }
}
