import Foundation
import Kafka
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// `payfleet worker`: one member of the worker consumer group over `payfleet.order-requests`,
/// `payfleet.callbacks` and `payfleet.query-jobs` (co-partitioned, `range` assignor), which owns
/// every order of its partitions.
///
/// - On assignment of partition *p* the inputs of *p* are paused, the orders of *p* are restored
///   from the compacted `payfleet.order-state` (partition *p* read to the high watermark by a
///   ``KafkaPartitionReader`` outside the group: from the beginning when *p* is new to the worker,
///   from the kept offset when *p* was kept across the rebalance), then *p* resumes.
/// - Within a partition, different orders run concurrently (at most `maxInFlight` across the
///   worker) and one order's messages strictly in order; an offset is stored only below the lowest
///   unfinished message and only after all outputs of the messages below it were acknowledged.
/// - On revocation (before the partitions go) nothing new starts, running work gets
///   `shutdownTimeout` to finish and finished offsets are committed. When all of a partition's
///   work finished, its orders are kept (dormant) with the changelog's high watermark; the next
///   assignment resumes it by reading only the changelog after that offset, or drops it when it
///   went to another member. A partition with abandoned work is dropped (restored in full later).
/// - Graceful shutdown (SIGTERM through a `ServiceGroup`, or ``triggerGracefulShutdown()``): not
///   ready, stop taking messages, finish in-flight work within `shutdownTimeout`, store and commit
///   offsets, leave the group, flush and close the producer.
///
/// ```swift
/// let worker = FleetWorker(settings: settings, channels: registry, logger: logger, health: health)
/// try await worker.run()
/// ```
public final class FleetWorker: Service, Sendable {
    /// The health component name this worker reports as.
    public static let healthComponent = "worker"

    private let settings: WorkerSettings
    private let registry: ChannelRegistry
    private let logger: Logger
    private let health: HealthState
    private let metrics: WorkerInstruments
    private let ready = Mutex(false)
    private let loopTask = Mutex<Task<Void, any Error>?>(nil)
    private let shutdownRequested = Mutex(false)
    private let tasks = Mutex<[Int32: [Int: Task<Void, Never>]]>([:])
    private let taskCounter = Atomic<Int>(0)
    /// Restores run one after another (the partition reader reads one sequence at a time).
    private let restoreChain = Mutex<Task<Void, Never>?>(nil)
    /// The output producer's fatal error, when it failed for good (the worker then stops).
    private let producerFailure = Mutex<KafkaError?>(nil)

    /// Creates the worker; nothing starts before ``run()``.
    ///
    /// - Parameters:
    ///   - settings: Kafka connection, group id, in-flight bound, timeouts, order TTL.
    ///   - channels: the merchants' channels.
    ///   - logger: the worker's logger (order lines carry `out_trade_no`).
    ///   - health: where readiness and liveness are reported (shared with the runtime HTTP server).
    ///   - metrics: where the worker's metrics go (the process's `MetricsSystem` by default).
    public init(
        settings: WorkerSettings, channels: ChannelRegistry, logger: Logger, health: HealthState = HealthState(),
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.settings = settings
        self.registry = channels
        self.logger = logger
        self.health = health
        self.metrics = WorkerInstruments(group: settings.groupID, factory: metrics)
        health.register(component: Self.healthComponent)
    }

    /// Whether the worker joined its group and is consuming (false again once shutdown begins).
    public var isReady: Bool { ready.withLock { $0 } }

    /// Begins graceful shutdown: stop taking messages, finish in-flight work, commit, leave the group.
    public func triggerGracefulShutdown() {
        shutdownRequested.withLock { $0 = true }
        setReady(false)
        loopTask.withLock { $0?.cancel() }
    }

    private func setReady(_ value: Bool) {
        ready.withLock { $0 = value }
        health.setReady(Self.healthComponent, value)
    }

    /// Runs until graceful shutdown (or cancellation), then drains and closes.
    ///
    /// - Throws: ``WorkerError`` when the co-partitioned topics' partition counts differ, or a
    ///   ``KafkaError`` when the Kafka clients cannot be created or the consumer fails fatally.
    public func run() async throws {
        logger.info(
            "worker starting",
            metadata: ["librdkafka": "\(KafkaLibrary.versionString)", "group": "\(settings.groupID)"])
        var kafka = settings.kafka
        var transactionalID: String?
        if settings.transactions {
            transactionalID = settings.transactionalID(instance: Self.instances.add(1, ordering: .relaxed).newValue)
            if kafka.properties["transaction.timeout.ms"] == nil {
                kafka.properties["transaction.timeout.ms"] =
                    "\(WorkerSettings.transactionTimeout.components.seconds * 1000)"
            }
        } else if kafka.properties["linger.ms"] == nil {
            // Without transactions a group of outputs is two batches, each awaited (the state after
            // the rest, see OutputSender): a batch is whole when enqueued, so waiting `linger.ms`
            // only delays both. (A transaction's commit flushes, which skips `linger.ms`.)
            kafka.properties["linger.ms"] = "0"
        }
        let producerConfiguration = KafkaProducerConfiguration(
            kafka: kafka, closeTimeout: WorkerSettings.producerCloseBound, transactionalID: transactionalID)
        // The scoped clients close on every exit path: the producer is flushed last, after the
        // consumer has committed and left the group and the reader is closed.
        let failure = try await withKafkaProducer(configuration: producerConfiguration, logger: logger) { producer in
            if let transactionalID {
                // Also aborts what a predecessor with the same id left open.
                try await producer.initTransactions()
                logger.info("output transactions on", metadata: ["transactional_id": "\(transactionalID)"])
            }
            let partitionCount = try await verifyPartitionCounts(producer)
            return try await withKafkaPartitionReader(configuration: settings.kafka, logger: logger) { reader in
                try await consume(producer: producer, reader: reader, partitionCount: partitionCount)
            }
        }
        logger.info("worker stopped")
        if let failure { throw failure }
        if let fatal = producerFailure.withLock({ $0 }) { throw fatal }
    }

    /// Workers started in this process (each needs its own transactional id).
    private static let instances = Atomic<Int>(0)

    /// Consumes until shutdown; returns the consume loop's failure, if any, once the consumer has
    /// left the group and the restores have finished.
    private func consume(
        producer: KafkaProducer, reader: KafkaPartitionReader, partitionCount: Int
    ) async throws -> (any Error)? {
        let core = WorkerCore(
            maxInFlight: settings.maxInFlight, logger: logger, metrics: metrics,
            maximumDormancy: settings.stateResumeLimit)
        let consumerRef = ConsumerReference()
        let mode: OutputSender.Mode
        if settings.transactions {
            mode = .transactional(
                groupMetadata: {
                    guard let consumer = consumerRef.consumer else {
                        throw KafkaError(.transaction, "the worker's consumer is not running")
                    }
                    return try consumer.groupMetadata()
                },
                offsets: { finishing in await core.transactionOffsets(finishing: finishing) })
        } else {
            mode = .plain
        }
        let sender = OutputSender(
            producer: producer, mode: mode, metrics: metrics, logger: logger,
            groupInterval: settings.outputGroupInterval,
            onFatal: { [self] error in
                producerFailure.withLock { $0 = error }
                triggerGracefulShutdown()
            })
        let processor = MessageProcessor(
            registry: registry, configuration: settings.machine,
            writer: OutputWriter(sender: sender, metrics: metrics), metrics: metrics, logger: logger,
            ownership: PartitionOwnership(partitionCount: partitionCount))
        let consumerConfiguration = KafkaConsumerConfiguration(
            kafka: settings.kafka, groupID: settings.groupID,
            messageBufferSize: max(settings.maxInFlight * 4, 256),
            rebalanceHandlerTimeout: settings.shutdownTimeout + .seconds(10),
            closeTimeout: WorkerSettings.consumerCloseBound)
        let failure = try await withKafkaConsumer(
            configuration: consumerConfiguration, logger: logger,
            rebalanceHandler: { [self] event in
                guard let consumer = consumerRef.consumer else { return }
                await self.rebalance(
                    event,
                    context: RunContext(
                        consumer: consumer, core: core, processor: processor, sender: sender, reader: reader,
                        metrics: metrics, logger: logger))
            }
        ) { consumer -> (any Error)? in
            consumerRef.consumer = consumer
            let context = RunContext(
                consumer: consumer, core: core, processor: processor, sender: sender, reader: reader, metrics: metrics,
                logger: logger)

            var failure: (any Error)?
            do {
                try consumer.subscribe(topics: FleetTopic.workerInputs)
                let stallLimit = max(Duration.seconds(60), settings.vendorTimeout * 3)
                health.registerLoop("worker.consume", stallLimit: stallLimit)
                if !shutdownRequested.withLock({ $0 }) { setReady(true) }
                try await withTaskCancellationHandler {
                    try await withGracefulShutdownHandler {
                        try await consumeUntilStopped(context)
                    } onGracefulShutdown: {
                        self.triggerGracefulShutdown()
                    }
                } onCancel: {
                    self.triggerGracefulShutdown()
                }
            } catch is CancellationError {
                // Stopped taking messages on request.
            } catch {
                failure = error
                logger.error("worker consume loop failed", metadata: [LogKey.error: "\(error)"])
            }
            setReady(false)
            health.unregisterLoop("worker.consume")
            // Bounded as a whole by `WorkerSettings.gracefulShutdownBound`: in-flight work gets
            // `shutdownTimeout`, then commit + LeaveGroup (the consumer's close timeout) and the
            // producer flush get fixed slices (the outputs were acknowledged before their offsets were
            // stored, so the flush has little to do).
            await drain(context)
            health.setAssignment(Self.healthComponent, nil, sequence: .max)
            return failure
        }
        _ = await restoreChain.withLock { $0 }?.value
        return failure
    }

    /// What the loops share.
    private struct RunContext: Sendable {
        let consumer: KafkaConsumer
        let core: WorkerCore
        let processor: MessageProcessor
        let sender: OutputSender
        let reader: KafkaPartitionReader

        var restorer: StateRestorer { StateRestorer(core: core, reader: reader, metrics: metrics, logger: logger) }
        let metrics: WorkerInstruments
        let logger: Logger
    }

    // MARK: Start-up

    /// The partition count the co-partitioned topics share.
    private func verifyPartitionCounts(_ producer: KafkaProducer) async throws -> Int {
        var counts: [String: Int] = [:]
        for topic in FleetTopic.coPartitioned {
            counts[topic] = try await producer.partitionCount(topic: topic)
        }
        guard Set(counts.values).count == 1, let count = counts.values.first, count > 0 else {
            throw WorkerError.partitionCountMismatch(counts)
        }
        return count
    }

    // MARK: Consuming

    private func consumeUntilStopped(_ context: RunContext) async throws {
        let task = Task { try await self.consume(context) }
        let alreadyStopping = loopTask.withLock { current -> Bool in
            current = task
            return shutdownRequested.withLock { $0 }
        }
        if alreadyStopping { task.cancel() }
        try await task.value
    }

    private func consume(_ context: RunContext) async throws {
        let heartbeat = Task { [health, logger] in
            while !Task.isCancelled {
                if (context.consumer.stalledFor ?? .zero) < .seconds(30) { health.heartbeat("worker.consume") }
                do { try await Task.sleep(for: .seconds(1)) } catch { break }
            }
            logger.trace("worker heartbeat stopped")
        }
        defer { heartbeat.cancel() }
        let lag = Task { [metrics] in
            while !Task.isCancelled {
                await Self.recordLag(context.consumer, metrics: metrics)
                do { try await Task.sleep(for: Self.lagInterval) } catch { break }
            }
        }
        defer { lag.cancel() }
        for try await message in context.consumer.messages {
            try Task.checkCancellation()
            metrics.consumed(topic: message.topic)
            if let launch = await context.core.accept(message) { start(launch, context: context) }
            await context.core.waitForCapacity()
        }
    }

    /// How often `payfleet_worker_consumer_lag` is measured.
    static let lagInterval = Duration.seconds(15)

    /// Records, per input topic, the messages of the assigned partitions not yet committed: the high
    /// watermark minus the group's committed offset (the low watermark when nothing is committed),
    /// as lag-based autoscaling measures it. A partition whose offsets cannot be read is left out.
    private static func recordLag(_ consumer: KafkaConsumer, metrics: WorkerInstruments) async {
        let assigned = consumer.assignment.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        var lag: [String: Int64] = Dictionary(uniqueKeysWithValues: FleetTopic.workerInputs.map { ($0, 0) })
        let committed = (try? await consumer.committedOffsets(assigned, timeout: .seconds(2))) ?? []
        let positions = Dictionary(committed.map { ($0.topicPartition, $0.offset) }, uniquingKeysWith: { $1 })
        for partition in assigned {
            guard
                let marks = try? await consumer.watermarks(
                    topic: partition.topic, partition: partition.partition, timeout: .seconds(2))
            else { continue }
            let position = positions[partition].flatMap { $0 >= 0 ? $0 : nil } ?? marks.low
            lag[partition.topic, default: 0] += max(0, marks.high - position)
        }
        for (topic, messages) in lag { metrics.lag(topic: topic, messages: messages) }
    }

    /// Runs a launched message and then the following messages of the same order, in order.
    private func start(_ launch: WorkerCore.Launch, context: RunContext) {
        let id = taskCounter.add(1, ordering: .relaxed).newValue
        let partition = launch.partition
        tasks.withLock { tasks in
            tasks[partition, default: [:]][id] = Task {
                await self.execute(launch, context: context)
                _ = self.tasks.withLock { $0[partition]?.removeValue(forKey: id) }
            }
        }
    }

    private func execute(_ first: WorkerCore.Launch, context: RunContext) async {
        var launch = first
        while true {
            let clock = ContinuousClock()
            let started = clock.now
            var change = MessageProcessor.StateChange.unchanged
            var completed = false
            do {
                let scope = OutputSender.Scope(partition: launch.partition, epoch: launch.epoch)
                change = try await OutputSender.$scope.withValue(scope) {
                    try await context.processor.process(launch.message, state: launch.state)
                }
                completed = true
            } catch {
                logger.notice(
                    "message abandoned",
                    metadata: [
                        LogKey.topic: "\(launch.message.topic)", LogKey.partition: "\(launch.partition)",
                        LogKey.offset: "\(launch.message.offset)", LogKey.error: "\(error)",
                    ])
            }
            metrics.processed(topic: launch.message.topic, duration: clock.now - started)
            let release = await context.core.finished(launch, change: change, completed: completed)
            if !release.offsets.isEmpty {
                do {
                    try context.consumer.storeOffsets(release.offsets)
                } catch {
                    logger.debug(
                        "offsets not stored (partition no longer assigned)", metadata: [LogKey.error: "\(error)"])
                }
            }
            guard let next = release.next else { return }
            launch = next
        }
    }

    // MARK: Rebalancing

    private func rebalance(_ event: KafkaRebalance, context: RunContext) async {
        await handleRebalance(event, context: context)
        await publishAssignment(context.core)
    }

    /// Reports the partitions held and those still restoring (`/assignedz`).
    private func publishAssignment(_ core: WorkerCore) async {
        let snapshot = await core.assignmentSnapshot()
        health.setAssignment(
            Self.healthComponent, .init(partitions: snapshot.held, restoring: snapshot.restoring),
            sequence: snapshot.sequence)
    }

    private func handleRebalance(_ event: KafkaRebalance, context: RunContext) async {
        let consumer = context.consumer
        let core = context.core
        let ours = Set(FleetTopic.workerInputs)
        let numbers = Array(Set(event.partitions.filter { ours.contains($0.topic) }.map(\.partition))).sorted()
        // An empty assignment still drops the partitions kept dormant.
        guard !numbers.isEmpty || event.kind == .assigned else { return }
        switch event.kind {
        case .assigned:
            let epochs = await core.assigned(numbers)
            guard !numbers.isEmpty else { return }
            do {
                try consumer.pause(inputs(of: numbers))
            } catch {
                logger.error("pausing assigned partitions failed", metadata: [LogKey.error: "\(error)"])
            }
            guard !epochs.isEmpty else { return }
            restoreChain.withLock { chain in
                let previous = chain
                chain = Task {
                    await previous?.value
                    await self.restore(epochs, context: context)
                }
            }
        case .revoked:
            await core.beginRevoking(numbers)
            let finishedInTime = await core.waitUntilIdle(numbers, deadline: .now + settings.shutdownTimeout)
            if !finishedInTime {
                logger.warning("in-flight work abandoned at revocation", metadata: ["partitions": "\(numbers)"])
                cancelTasks(of: numbers)
            }
            // From here on no write of this assignment reaches Kafka, whatever still runs.
            await context.sender.fence(await core.epochs(numbers))
            if !finishedInTime { _ = await core.waitUntilIdle(numbers, deadline: .now + .seconds(2)) }
            await commitFinished(numbers, context: context)
            // Kept for the next assignment (unless the worker is shutting down: there is none).
            if finishedInTime, !shutdownRequested.withLock({ $0 }) {
                await context.restorer.keepRevoked(numbers)
            } else {
                await core.drop(numbers)
            }
        default:
            // Lost: another member may already own them; abandon without committing.
            cancelTasks(of: numbers)
            await context.sender.fence(await core.epochs(numbers))
            await core.drop(numbers)
        }
    }

    private func inputs(of numbers: [Int32]) -> [KafkaTopicPartition] {
        numbers.flatMap { number in FleetTopic.workerInputs.map { KafkaTopicPartition(topic: $0, partition: number) } }
    }

    private func cancelTasks(of numbers: [Int32]) {
        let cancelled = tasks.withLock { tasks -> [Task<Void, Never>] in
            numbers.flatMap { tasks.removeValue(forKey: $0).map { Array($0.values) } ?? [] }
        }
        for task in cancelled { task.cancel() }
    }

    private func commitFinished(_ numbers: [Int32], context: RunContext) async {
        let offsets = await context.core.finalOffsets(numbers)
        do {
            try context.consumer.storeOffsets(offsets)
            try await context.consumer.commit()
        } catch {
            logger.warning("committing finished offsets failed", metadata: [LogKey.error: "\(error)"])
        }
    }

    // MARK: Restore

    /// Reads `payfleet.order-state` for these partitions (in full, or the tail after a kept offset),
    /// then lets them run. Retried (from where it stopped) while they are still assigned.
    private func restore(_ epochs: [Int32: Int], context: RunContext) async {
        var backoff = Duration.milliseconds(200)
        while true {
            do {
                guard let outcome = try await context.restorer.restore(epochs) else { return }
                logger.info(
                    "partitions restored",
                    metadata: [
                        "partitions": "\(outcome.partitions)", "records": "\(outcome.records)",
                        "duration": "\(outcome.duration)",
                    ])
                for partition in outcome.partitions {
                    if let epoch = epochs[partition] {
                        await completeRestore(partition, epoch: epoch, context: context)
                    }
                }
                return
            } catch {
                logger.warning("restoring order-state failed; retrying", metadata: [LogKey.error: "\(error)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    private func completeRestore(_ partition: Int32, epoch: Int, context: RunContext) async {
        let launches = await context.core.restoreFinished(partition, epoch: epoch)
        do {
            try context.consumer.resume(inputs(of: [partition]))
        } catch {
            logger.warning(
                "resuming restored partition failed",
                metadata: [LogKey.partition: "\(partition)", LogKey.error: "\(error)"])
        }
        for launch in launches { start(launch, context: context) }
        await publishAssignment(context.core)
    }

    // MARK: Shutdown

    private func drain(_ context: RunContext) async {
        await context.core.beginRevokingAll()
        let numbers = await context.core.partitionNumbers
        let finishedInTime = await context.core.waitUntilIdle(numbers, deadline: .now + settings.shutdownTimeout)
        if !finishedInTime {
            logger.warning("in-flight work abandoned at shutdown")
            cancelTasks(of: numbers)
        }
        await context.sender.fence(await context.core.epochs(numbers))
        if !finishedInTime { _ = await context.core.waitUntilIdle(numbers, deadline: .now + .seconds(2)) }
        await commitFinished(numbers, context: context)
    }
}

/// Lets the consumer's rebalance handler reach the consumer it was created for.
private final class ConsumerReference: Sendable {
    private let storage = Mutex<KafkaConsumer?>(nil)

    var consumer: KafkaConsumer? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
