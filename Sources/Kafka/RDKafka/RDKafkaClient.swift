import CRdKafka
import Dispatch
import Logging

/// Owns one `rd_kafka_t` handle and its callback context.
///
/// `@unchecked Sendable`: librdkafka handles are thread-safe; destruction is coordinated by the owning
/// Swift type (producer/consumer/admin), which guarantees no call is made after ``destroy(flags:)``.
final class RDKafkaClient: @unchecked Sendable {
    /// The `rd_kafka_t*`. Read only by the `RDKafkaClient+…` extensions in this folder; everything
    /// else goes through their Swift methods.
    let handle: OpaquePointer
    let context: RDKafkaClientContext
    private let opaque: UnsafeMutableRawPointer
    /// Blocking librdkafka calls (metadata, commit, flush, admin waits) run here, never on the cooperative pool.
    let blockingQueue: DispatchQueue

    var logger: Logger { context.logger }

    /// The kind of librdkafka handle.
    enum Kind {
        /// A producer handle (also used for admin requests and to host the mock cluster).
        case producer
        /// A consumer handle (group member or assign-only reader).
        case consumer
    }

    /// Creates a handle of the given kind from properties.
    static func make(
        kind: Kind,
        properties: [String: String],
        context: RDKafkaClientContext,
        label: String
    ) throws(KafkaError) -> RDKafkaClient {
        try KafkaLibrary.ensureSupported(logger: context.logger)
        let conf = try RDKafkaConfig.make(properties)
        let opaque = context.retainedOpaque()
        context.install(on: conf, opaque: opaque)
        var errstr = [CChar](repeating: 0, count: 512)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            // rd_kafka_new does not take ownership of conf on failure.
            rd_kafka_conf_destroy(conf)
            RDKafkaClientContext.release(opaque)
            throw KafkaError(.configuration, "creating the Kafka client failed: \(String(cStringBuffer: errstr))")
        }
        return RDKafkaClient(handle: handle, context: context, opaque: opaque, label: label)
    }

    private init(handle: OpaquePointer, context: RDKafkaClientContext, opaque: UnsafeMutableRawPointer, label: String) {
        self.handle = handle
        self.context = context
        self.opaque = opaque
        self.blockingQueue = DispatchQueue(label: "payfleet.kafka.\(label)", attributes: .concurrent)
    }

    /// Destroys the handle. Must be called exactly once, after which no method may be used.
    ///
    /// - Parameter skipConsumerClose: destroy a consumer without its own close (no commit, no
    ///   LeaveGroup): after a close that already ran, or to stop like a killed process.
    func destroy(skipConsumerClose: Bool = false) {
        rd_kafka_destroy_flags(handle, skipConsumerClose ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0)
        RDKafkaClientContext.release(opaque)
    }

    /// Runs `body` as one use of the handle (guarded by `lifecycle`) on ``blockingQueue``.
    func blockingUse<T: Sendable>(
        _ lifecycle: ClientLifecycle, _ body: @escaping @Sendable (RDKafkaClient) throws(KafkaError) -> T
    ) async throws(KafkaError) -> T {
        try await blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in try body(self) }
        }
    }

    /// Cluster metadata, asked on ``blockingQueue`` while `lifecycle` allows it.
    func metadata(timeout: Duration, lifecycle: ClientLifecycle) async throws(KafkaError) -> KafkaClusterMetadata {
        try await blockingUse(lifecycle) { client throws(KafkaError) in
            try client.metadata(timeoutMilliseconds: timeout.clampedMilliseconds)
        }
    }

    /// The partition count of a topic; throws `.metadata` when the topic does not exist.
    func partitionCount(topic: String, timeout: Duration, lifecycle: ClientLifecycle) async throws(KafkaError) -> Int {
        guard let metadata = try await metadata(timeout: timeout, lifecycle: lifecycle).topic(topic) else {
            throw KafkaError(.metadata, "topic \(topic) does not exist")
        }
        return metadata.partitionCount
    }

    /// Watermarks of a partition, asked on ``blockingQueue`` while `lifecycle` allows it.
    func watermarks(
        topic: String, partition: Int32, timeout: Duration, lifecycle: ClientLifecycle
    ) async throws(KafkaError) -> KafkaWatermarks {
        try await blockingUse(lifecycle) { client throws(KafkaError) in
            try client.watermarks(topic: topic, partition: partition, timeoutMilliseconds: timeout.clampedMilliseconds)
        }
    }

    /// Destroys the handle on ``blockingQueue`` once no call uses it (or after 30 s), then marks
    /// `lifecycle` closed. `beforeDestroy` releases what depends on the handle (queues).
    func destroyWhenIdle(
        _ lifecycle: ClientLifecycle, skipConsumerClose: Bool = false,
        beforeDestroy: @escaping @Sendable () -> Void = {}
    ) async {
        guard lifecycle.beginClosing() else {
            await lifecycle.waitUntilClosed()
            return
        }
        blockingQueue.async {
            lifecycle.waitUntilIdle(deadline: .now + .seconds(30))
            beforeDestroy()
            self.destroy(skipConsumerClose: skipConsumerClose)
            lifecycle.markClosed()
        }
        await lifecycle.waitUntilClosed()
    }

    /// Runs a blocking librdkafka call on ``blockingQueue`` and resumes with its result.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws(KafkaError) -> T) async throws(KafkaError) -> T {
        let result: Result<T, KafkaError> = await withCheckedContinuation { continuation in
            blockingQueue.async {
                do throws(KafkaError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Cluster metadata for all topics (blocking). Uses the all-topics request so it never auto-creates a topic.
    func metadata(timeoutMilliseconds: Int32) throws(KafkaError) -> KafkaClusterMetadata {
        var pointer: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 1, nil, &pointer, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata = pointer else {
            throw KafkaError.rd(.metadata, "metadata request failed", err)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        let md = metadata.pointee
        var brokers: [KafkaClusterMetadata.Broker] = []
        for index in 0..<Int(md.broker_cnt) {
            let broker = md.brokers[index]
            brokers.append(.init(id: broker.id, host: String(cString: broker.host), port: broker.port))
        }
        var topics: [KafkaTopicMetadata] = []
        for index in 0..<Int(md.topic_cnt) {
            let topic = md.topics[index]
            var partitions: [KafkaTopicMetadata.Partition] = []
            for p in 0..<Int(topic.partition_cnt) {
                let partition = topic.partitions[p]
                let replicas = (0..<Int(partition.replica_cnt)).map { partition.replicas[$0] }
                let isrs = (0..<Int(partition.isr_cnt)).map { partition.isrs[$0] }
                partitions.append(
                    .init(
                        id: partition.id, leader: partition.leader, replicas: replicas, inSyncReplicas: isrs,
                        errorCode: partition.err.rawValue))
            }
            partitions.sort { $0.id < $1.id }
            topics.append(
                KafkaTopicMetadata(
                    name: String(cString: topic.topic), partitions: partitions, errorCode: topic.err.rawValue))
        }
        return KafkaClusterMetadata(
            brokers: brokers, topics: topics, originatingBrokerID: md.orig_broker_id,
            originatingBrokerName: md.orig_broker_name.map { String(cString: $0) } ?? "")
    }

    /// Low and high watermark of a partition, asked from the broker (blocking).
    func watermarks(topic: String, partition: Int32, timeoutMilliseconds: Int32) throws(KafkaError) -> KafkaWatermarks {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rd(.metadata, "watermark query for \(topic)[\(partition)] failed", err)
        }
        return KafkaWatermarks(low: low, high: high)
    }
}

extension Duration {
    /// Milliseconds clamped into librdkafka's `int` timeout range (never negative).
    var clampedMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let ms = seconds.multipliedReportingOverflow(by: 1000).partialValue + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(0, ms))
    }
}
