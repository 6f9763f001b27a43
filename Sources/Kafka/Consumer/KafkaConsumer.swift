import CRdKafka
import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// A consumer-group member delivering messages as an `AsyncSequence`, with explicit offset storing
/// (at-least-once), a rebalance handler that runs before partitions are taken away, pause/resume,
/// seek and graceful close.
///
/// ```swift
/// let consumer = try KafkaConsumer(
///     configuration: .init(kafka: .fromEnvironment(), groupID: "payfleet-worker"),
///     logger: logger,
///     rebalanceHandler: { event in
///         if event.kind == .revoked { await worker.drain(event.partitions); try? await consumer.commit() }
///     })
/// try consumer.subscribe(topics: ["payfleet.order-requests", "payfleet.callbacks"])
/// for try await message in consumer.messages {
///     try await handle(message)
///     try consumer.storeOffset(message)    // only after the outputs are durable
/// }
/// ```
///
/// A dedicated thread polls librdkafka; the rebalance handler is awaited on that thread (bounded by
/// ``KafkaConsumerConfiguration/rebalanceHandlerTimeout``), so a revocation completes only after the
/// handler returned. Blocking calls (commit, seek, metadata) run on a private dispatch queue.
public final class KafkaConsumer: Sendable, Service {
    /// The application's rebalance callback.
    public typealias RebalanceHandler = @Sendable (KafkaRebalance) async -> Void

    private let client: RDKafkaClient
    private let lifecycle: ClientLifecycle
    private let buffer: ConsumerMessageBuffer
    private let state: NIOLockedValueBox<ConsumerState>
    private let closeRequest: CloseRequest
    private let configuration: KafkaConsumerConfiguration
    private let logger: Logger

    struct ConsumerState {
        var assignment: Set<KafkaTopicPartition> = []
        var userPaused: Set<KafkaTopicPartition> = []
        var backPressurePaused = false
        var stopRequested = false
        /// Test hook: stop like a killed process (no commit, no LeaveGroup).
        var abandon = false
        var rebalanceCount = 0
        /// Incremented by every seek; `soughtAt[tp]` is the value after the latest seek of `tp`, so the
        /// poll thread can drop messages it fetched from the old position.
        var seekCounter = 0
        var soughtAt: [KafkaTopicPartition: Int] = [:]
    }

    /// Creates the consumer and starts its poll thread. Call ``subscribe(topics:)`` to join the group.
    ///
    /// - Parameters:
    ///   - rebalanceHandler: called for every assignment change; see ``KafkaRebalance``.
    /// - Throws: ``KafkaError`` `.configuration` naming a rejected property.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger, rebalanceHandler: RebalanceHandler? = nil) throws {
        let properties = try configuration.effectiveProperties()
        let context = RDKafkaClientContext(logger: logger)
        let state = NIOLockedValueBox(ConsumerState())
        let buffer = ConsumerMessageBuffer()
        let rebalance = RebalanceCoordinator(
            state: state, buffer: buffer, handler: rebalanceHandler, timeout: configuration.rebalanceHandlerTimeout,
            logger: logger)
        context.onRebalance = { rk, err, partitions in
            rebalance.handle(rk: rk, err: err, partitions: partitions)
        }
        let client = try RDKafkaClient.make(type: RD_KAFKA_CONSUMER, properties: properties, context: context, label: "consumer")
        // Route the main queue (errors, rebalances) to the consumer queue served by the poll thread.
        rd_kafka_poll_set_consumer(client.handle)
        self.client = client
        self.lifecycle = ClientLifecycle(name: "consumer")
        self.buffer = buffer
        self.state = state
        self.closeRequest = CloseRequest()
        self.configuration = configuration
        self.logger = logger
        let loop = PollLoop(
            client: client, lifecycle: lifecycle, buffer: buffer, state: state, closeRequest: closeRequest,
            rebalance: rebalance, bufferSize: configuration.messageBufferSize, logger: logger)
        let thread = Thread { loop.run() }
        thread.name = "payfleet-kafka-consumer"
        thread.start()
    }

    /// The consumed messages. One iterator at a time.
    public var messages: KafkaConsumerMessages { KafkaConsumerMessages(buffer: buffer) }

    /// Joins the group for these topics (replacing an earlier subscription).
    public func subscribe(topics: [String]) throws {
        try lifecycle.using { () throws(KafkaError) in
            let list = RDKafkaTopicPartitionList(topics.map { KafkaTopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA) })
            let err = list.withPointer { rd_kafka_subscribe(client.handle, $0) }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.rd(.consumer, "subscribing to \(topics.joined(separator: ","))", err)
            }
        }
    }

    /// The partitions currently assigned to this member.
    public var assignment: Set<KafkaTopicPartition> { state.withLockedValue { $0.assignment } }

    // MARK: Offsets

    /// Marks `message` as handled: its offset + 1 is committed by the next commit (explicit,
    /// periodic auto-commit of stored offsets, revocation or close).
    ///
    /// - Throws: ``KafkaError`` `.notAssigned` when the partition is no longer assigned.
    public func storeOffset(_ message: KafkaConsumerMessage) throws {
        try storeOffsets([KafkaTopicPartitionOffset(topic: message.topic, partition: message.partition, offset: message.offset + 1)])
    }

    /// Stores explicit offsets. Each offset is the *next* offset to consume (last handled + 1).
    public func storeOffsets(_ offsets: [KafkaTopicPartitionOffset]) throws {
        guard !offsets.isEmpty else { return }
        try lifecycle.using { () throws(KafkaError) in
            let list = RDKafkaTopicPartitionList(offsets)
            let (err, failures) = list.withPointer { pointer in
                (rd_kafka_offsets_store(client.handle, pointer), RDKafkaTopicPartitionList.errors(of: pointer))
            }
            if let (partition, partitionError) = failures.first {
                let code: KafkaError.Code = partitionError == RD_KAFKA_RESP_ERR__STATE ? .notAssigned : .consumer
                throw KafkaError.rd(code, "storing offset for \(partition)", partitionError)
            }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.consumer, "storing offsets", err) }
        }
    }

    /// Synchronously commits the stored offsets of the current assignment.
    /// Nothing to commit is not an error.
    public func commit() async throws {
        try await commitList(nil)
    }

    /// Synchronously commits explicit offsets (each the next offset to consume).
    public func commit(_ offsets: [KafkaTopicPartitionOffset]) async throws {
        guard !offsets.isEmpty else { return }
        try await commitList(offsets)
    }

    private func commitList(_ offsets: [KafkaTopicPartitionOffset]?) async throws {
        let client = self.client
        let lifecycle = self.lifecycle
        try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in
                let list = offsets.map { RDKafkaTopicPartitionList($0) }
                let err = list.map { list in list.withPointer { rd_kafka_commit(client.handle, $0, 0) } }
                    ?? rd_kafka_commit(client.handle, nil, 0)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
                throw KafkaError.rd(.consumer, "commit failed", err)
            }
        }
    }

    /// The committed offsets of the group for these partitions (`-1001` = none yet).
    public func committedOffsets(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws -> [KafkaTopicPartitionOffset] {
        let client = self.client
        let lifecycle = self.lifecycle
        return try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in
                let list = RDKafkaTopicPartitionList(partitions)
                return try list.withPointer { pointer throws(KafkaError) in
                    let err = rd_kafka_committed(client.handle, pointer, timeout.clampedMilliseconds)
                    guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.consumer, "fetching committed offsets", err) }
                    return RDKafkaTopicPartitionList.elements(of: pointer)
                }
            }
        }
    }

    // MARK: Flow control

    /// Stops fetching these (assigned) partitions until ``resume(_:)``. Survives back-pressure; a
    /// revocation clears it (a partition assigned again starts unpaused).
    ///
    /// - Note: Messages of the partition that were already fetched into the consumer's buffer are
    ///   still delivered. To stop *at* a message, pause and then ``seek(_:timeout:)`` to its offset:
    ///   the seek discards everything fetched from the old position, and ``resume(_:)`` continues there.
    public func pause(_ partitions: [KafkaTopicPartition]) throws {
        guard !partitions.isEmpty else { return }
        try lifecycle.using { () throws(KafkaError) in
            let err = state.withLockedValue { state in
                state.userPaused.formUnion(partitions)
                let list = RDKafkaTopicPartitionList(partitions)
                return list.withPointer { rd_kafka_pause_partitions(client.handle, $0) }
            }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.consumer, "pausing partitions", err) }
        }
    }

    /// Resumes fetching partitions paused with ``pause(_:)``.
    public func resume(_ partitions: [KafkaTopicPartition]) throws {
        guard !partitions.isEmpty else { return }
        try lifecycle.using { () throws(KafkaError) in
            let err = state.withLockedValue { state in
                state.userPaused.subtract(partitions)
                // While back-pressure holds everything, the poll loop resumes these later.
                guard !state.backPressurePaused else { return RD_KAFKA_RESP_ERR_NO_ERROR }
                let list = RDKafkaTopicPartitionList(partitions)
                return list.withPointer { rd_kafka_resume_partitions(client.handle, $0) }
            }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.consumer, "resuming partitions", err) }
        }
    }

    /// The partitions currently paused by the application.
    public var pausedPartitions: Set<KafkaTopicPartition> { state.withLockedValue { $0.userPaused } }

    /// Moves the fetch position of assigned partitions (each offset is the next to consume;
    /// `KafkaOffset.beginning`/`.end` are accepted). Already-buffered messages of these partitions are dropped.
    public func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration = .seconds(10)) async throws {
        guard !offsets.isEmpty else { return }
        let partitions = Set(offsets.map(\.topicPartition))
        discardFetched(partitions)
        defer { discardFetched(partitions) }
        let client = self.client
        let lifecycle = self.lifecycle
        let logger = self.logger
        try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in
                // librdkafka < 2.1.0 uses a 1000x too short seek timeout: retry _TIMED_OUT until our deadline.
                let deadline = ContinuousClock.now + timeout
                var pending = offsets
                while true {
                    let list = RDKafkaTopicPartitionList(pending)
                    let failures = try list.withPointer { pointer throws(KafkaError) in
                        if let error = rd_kafka_seek_partitions(client.handle, pointer, timeout.clampedMilliseconds) {
                            throw KafkaError.consuming(.consumer, "seek failed", error)
                        }
                        return RDKafkaTopicPartitionList.errors(of: pointer)
                    }
                    guard !failures.isEmpty else { return }
                    let retriable = failures.allSatisfy { $0.1 == RD_KAFKA_RESP_ERR__TIMED_OUT }
                    guard retriable, ContinuousClock.now < deadline else {
                        let (partition, err) = failures[0]
                        throw KafkaError.rd(.consumer, "seek of \(partition) failed", err)
                    }
                    logger.debug("seek timed out (librdkafka 2.0.2 seek timeout bug); retrying")
                    let failed = Set(failures.map(\.0))
                    pending = pending.filter { failed.contains($0.topicPartition) }
                    Thread.sleep(forTimeInterval: 0.01)
                }
            }
        }
    }

    /// Drops what was fetched for these partitions from the old position (buffered, or in the poll
    /// thread's current batch). Called before and after the seek itself.
    private func discardFetched(_ partitions: Set<KafkaTopicPartition>) {
        state.withLockedValue { state in
            state.seekCounter += 1
            for partition in partitions { state.soughtAt[partition] = state.seekCounter }
            _ = buffer.removeAll(of: partitions)
        }
    }

    // MARK: Metadata

    /// Cluster metadata (brokers, all topics).
    public func metadata(timeout: Duration = .seconds(10)) async throws -> KafkaClusterMetadata {
        let client = self.client
        let lifecycle = self.lifecycle
        return try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in try client.metadata(timeoutMilliseconds: timeout.clampedMilliseconds) }
        }
    }

    /// Low/high watermarks of a partition, asked from the broker.
    public func watermarks(topic: String, partition: Int32, timeout: Duration = .seconds(10)) async throws -> KafkaWatermarks {
        let client = self.client
        let lifecycle = self.lifecycle
        return try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in
                try client.watermarks(topic: topic, partition: partition, timeoutMilliseconds: timeout.clampedMilliseconds)
            }
        }
    }

    /// How long the application has left buffered messages untaken (`nil` when the buffer is empty).
    /// Feed it to a liveness check: librdkafka 2.0.2 cannot detect a stalled handler itself because
    /// the poll thread keeps polling.
    public var stalledFor: Duration? {
        buffer.idleSince.map { $0.duration(to: .now) }
    }

    // MARK: Shutdown

    /// Leaves the group gracefully: stops delivering messages (the sequence ends), commits stored
    /// offsets, runs the rebalance handler for the final revocation, leaves the group and destroys the
    /// client — all bounded by `timeout`. Safe to call more than once.
    public func close(timeout: Duration) async {
        requestClose(timeout: timeout)
        await lifecycle.waitUntilClosed()
    }

    /// Runs until graceful shutdown or cancellation, then closes with the configured timeout.
    public func run() async throws {
        let timeout = configuration.closeTimeout
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await lifecycle.waitUntilClosed()
            } onGracefulShutdown: {
                self.requestClose(timeout: timeout)
            }
        } onCancel: {
            self.requestClose(timeout: timeout)
        }
    }

    /// Testing only: stops like a killed process would — no commit, no rebalance handler, no
    /// LeaveGroup (the group notices after `session.timeout.ms`). Stored-but-uncommitted offsets are lost.
    package func simulateCrash() async {
        let first = state.withLockedValue { state -> Bool in
            defer {
                state.stopRequested = true
                state.abandon = true
            }
            return !state.stopRequested
        }
        if first { closeRequest.request(deadline: .now) }
        await lifecycle.waitUntilClosed()
    }

    private func requestClose(timeout: Duration) {
        let first = state.withLockedValue { state -> Bool in
            defer { state.stopRequested = true }
            return !state.stopRequested
        }
        if first { closeRequest.request(deadline: .now + timeout) }
    }
}

/// Special offsets for ``KafkaConsumer/seek(_:timeout:)``.
public enum KafkaOffset {
    /// The earliest available offset.
    public static let beginning: Int64 = Int64(RD_KAFKA_OFFSET_BEGINNING)
    /// The offset after the last message.
    public static let end: Int64 = Int64(RD_KAFKA_OFFSET_END)
    /// The stored/committed offset.
    public static let stored: Int64 = Int64(RD_KAFKA_OFFSET_STORED)
}
