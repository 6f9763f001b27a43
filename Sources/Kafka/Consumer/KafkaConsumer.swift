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
/// Or scoped, closing (commit, LeaveGroup) on every exit path: `try await withKafkaConsumer(configuration:
/// logger:rebalanceHandler:) { consumer in … }`.
///
/// A dedicated thread polls librdkafka; it starts with ``run()`` (the consumer is a `Service`) or the
/// subscription, never in `init`. The rebalance handler is awaited on that thread (bounded by
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
    /// The poll thread's body until the thread starts (then `nil`).
    private let pollLoop: NIOLockedValueBox<PollLoop?>

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

    /// Creates the consumer's librdkafka client. Call ``subscribe(topics:)`` to join the group; the poll
    /// thread starts with ``run()`` or the subscription.
    ///
    /// - Parameters:
    ///   - rebalanceHandler: called for every assignment change; see ``KafkaRebalance``.
    /// - Throws: ``KafkaError`` `.configuration` naming a rejected property.
    public init(
        configuration: KafkaConsumerConfiguration, logger: Logger, rebalanceHandler: RebalanceHandler? = nil
    ) throws {
        let properties = try configuration.effectiveProperties()
        let context = RDKafkaClientContext(logger: logger)
        let state = NIOLockedValueBox(ConsumerState())
        let buffer = ConsumerMessageBuffer()
        let rebalance = RebalanceCoordinator(
            state: state, buffer: buffer, handler: rebalanceHandler, timeout: configuration.rebalanceHandlerTimeout,
            logger: logger)
        context.onRebalance = { event in
            rebalance.handle(event)
        }
        let client = try RDKafkaClient.make(
            kind: .consumer, properties: properties, context: context, label: "consumer")
        // Route the main queue (errors, rebalances) to the consumer queue served by the poll thread.
        client.redirectMainQueueToConsumer()
        self.client = client
        self.lifecycle = ClientLifecycle(name: "consumer")
        self.buffer = buffer
        self.state = state
        self.closeRequest = CloseRequest()
        self.configuration = configuration
        self.logger = logger
        self.pollLoop = NIOLockedValueBox(
            PollLoop(
                client: client, lifecycle: lifecycle, buffer: buffer, state: state, closeRequest: closeRequest,
                rebalance: rebalance, bufferSize: configuration.messageBufferSize, logger: logger))
    }

    deinit {
        // Never started (never subscribed, run or closed): no thread owns the handle.
        if pollLoop.withLockedValue({ $0 }) != nil {
            client.destroy(skipConsumerClose: true)
        }
    }

    /// Starts the poll thread once; it polls until closing, then commits, leaves the group and
    /// destroys the client.
    func startPolling() {
        guard
            let loop = pollLoop.withLockedValue({ loop in
                defer { loop = nil }
                return loop
            })
        else { return }
        let thread = Thread { loop.run() }
        thread.name = "payfleet-kafka-consumer"
        thread.start()
    }

    /// The consumed messages. One iterator at a time.
    public var messages: KafkaConsumerMessages { KafkaConsumerMessages(buffer: buffer) }

    /// Joins the group for these topics (replacing an earlier subscription) and starts the poll thread
    /// if ``run()`` has not.
    public func subscribe(topics: [String]) throws {
        try lifecycle.using { () throws(KafkaError) in try client.subscribe(topics: topics) }
        startPolling()
    }

    /// The partitions currently assigned to this member.
    public var assignment: Set<KafkaTopicPartition> { state.withLockedValue { $0.assignment } }

    // MARK: Offsets

    /// Marks `message` as handled: its offset + 1 is committed by the next commit (explicit,
    /// periodic auto-commit of stored offsets, revocation or close).
    ///
    /// - Throws: ``KafkaError`` `.notAssigned` when the partition is no longer assigned.
    public func storeOffset(_ message: KafkaConsumerMessage) throws {
        try storeOffsets([
            KafkaTopicPartitionOffset(topic: message.topic, partition: message.partition, offset: message.offset + 1)
        ])
    }

    /// Stores explicit offsets. Each offset is the *next* offset to consume (last handled + 1).
    public func storeOffsets(_ offsets: [KafkaTopicPartitionOffset]) throws {
        guard !offsets.isEmpty else { return }
        try lifecycle.using { () throws(KafkaError) in try client.storeOffsets(offsets) }
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
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in try client.commit(offsets) }
    }

    /// The committed offsets of the group for these partitions (`-1001` = none yet).
    public func committedOffsets(
        _ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)
    ) async throws -> [KafkaTopicPartitionOffset] {
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            try client.committed(partitions, timeoutMilliseconds: timeout.clampedMilliseconds)
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
            try state.withLockedValue { state -> Result<Void, KafkaError> in
                state.userPaused.formUnion(partitions)
                return Result { () throws(KafkaError) in try client.pause(partitions) }
            }.get()
        }
    }

    /// Resumes fetching partitions paused with ``pause(_:)``.
    public func resume(_ partitions: [KafkaTopicPartition]) throws {
        guard !partitions.isEmpty else { return }
        try lifecycle.using { () throws(KafkaError) in
            try state.withLockedValue { state -> Result<Void, KafkaError> in
                state.userPaused.subtract(partitions)
                // While back-pressure holds everything, the poll loop resumes these later.
                guard !state.backPressurePaused else { return .success(()) }
                return Result { () throws(KafkaError) in try client.resume(partitions) }
            }.get()
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
        let logger = self.logger
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            try client.seek(offsets, timeout: timeout, logger: logger)
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

    /// This member's group metadata (group id, member id, generation) for
    /// ``KafkaProducer/sendOffsetsToTransaction(_:group:timeout:)``; take it after the assignment the
    /// offsets belong to.
    public func groupMetadata() throws -> KafkaConsumerGroupMetadata {
        try lifecycle.using { () throws(KafkaError) in try client.consumerGroupMetadata() }
    }

    // MARK: Metadata

    /// Cluster metadata (brokers, all topics).
    public func metadata(timeout: Duration = .seconds(10)) async throws -> KafkaClusterMetadata {
        try await client.metadata(timeout: timeout, lifecycle: lifecycle)
    }

    /// Low/high watermarks of a partition, asked from the broker.
    public func watermarks(
        topic: String, partition: Int32, timeout: Duration = .seconds(10)
    ) async throws -> KafkaWatermarks {
        try await client.watermarks(topic: topic, partition: partition, timeout: timeout, lifecycle: lifecycle)
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

    /// Runs the poll thread until graceful shutdown or cancellation, then closes with the configured
    /// timeout; returns once the thread has ended.
    public func run() async throws {
        startPolling()
        await lifecycle.runUntilClosed { self.triggerGracefulShutdown() }
    }

    /// Begins closing with the configured timeout without waiting (``run()`` returns once closed).
    public func triggerGracefulShutdown() {
        requestClose(timeout: configuration.closeTimeout)
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
        startPolling()
        await lifecycle.waitUntilClosed()
    }

    private func requestClose(timeout: Duration) {
        let first = state.withLockedValue { state -> Bool in
            defer { state.stopRequested = true }
            return !state.stopRequested
        }
        if first { closeRequest.request(deadline: .now + timeout) }
        startPolling()
    }
}

/// Creates a consumer, runs `body` with it, and always closes it (commit of stored offsets, final
/// revocation, LeaveGroup; bounded by ``KafkaConsumerConfiguration/closeTimeout``) before returning —
/// also when `body` throws or the task is cancelled. The poll thread has ended when this returns.
///
/// - Throws: what creating the consumer or `body` throws.
@discardableResult
public func withKafkaConsumer<Result>(
    configuration: KafkaConsumerConfiguration,
    logger: Logger,
    rebalanceHandler: KafkaConsumer.RebalanceHandler? = nil,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (KafkaConsumer) async throws -> Result
) async throws -> Result {
    let consumer = try KafkaConsumer(configuration: configuration, logger: logger, rebalanceHandler: rebalanceHandler)
    consumer.startPolling()
    return try await withClosing(consumer, close: { await $0.close(timeout: configuration.closeTimeout) }, body)
}

/// Special offsets for ``KafkaConsumer/seek(_:timeout:)``: `beginning`, `end` and `stored`.
public enum KafkaOffset {}
