import Foundation
import Kafka
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Kafka-native delayed delivery: consumes the `payfleet.delay.<tier>` topics, holds each partition
/// until its head is due (pause + seek back, resume at wake time), then forwards the record —
/// same key, value and headers — to `payfleet.query-jobs`, or hops it to a smaller tier, and
/// commits only what was acknowledged. No state outside Kafka: a crash replays uncommitted timers.
///
/// Shutdown (graceful): stop taking records → wait for forwards in flight → store offsets →
/// close the consumer (commit, leave the group) → flush and close the producer.
public final class DelayScheduler: Service, Sendable {
    private let kafka: KafkaConfiguration
    private let settings: SchedulerSettings
    private let health: HealthState
    private let logger: Logger
    /// Lateness and counts since start (for benchmarks and tests in the same process).
    public let statistics = SchedulerStatistics()
    private let component = "scheduler"
    private let instruments: SchedulerInstruments

    public init(kafka: KafkaConfiguration, settings: SchedulerSettings, health: HealthState, logger: Logger) {
        self.kafka = kafka
        self.settings = settings
        self.health = health
        self.logger = logger
        self.instruments = SchedulerInstruments(group: settings.groupID)
        health.register(component: component)
    }

    /// Allocations of at least this many bytes get their own mapping in a scheduler process
    /// (``Allocator/mapAllocations(atLeast:)``): glibc's default starting threshold, kept fixed.
    public static let allocatorMappingThreshold: Int32 = 128 * 1024

    public func run() async throws {
        var producerKafka = kafka
        producerKafka.clientID = kafka.clientID + "-scheduler"
        // Each wake-up writes its due timers as one batch, whole when enqueued: waiting `linger.ms`
        // (5 ms by default) would only make every job later and cost librdkafka a timer wake-up.
        if producerKafka.properties["linger.ms"] == nil { producerKafka.properties["linger.ms"] = "0" }
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: producerKafka), logger: logger)
        let core = SchedulerCore(
            settings: settings, publisher: producer, statistics: statistics, instruments: instruments, health: health,
            logger: logger)
        var consumerKafka = kafka
        consumerKafka.clientID = kafka.clientID + "-scheduler"
        // Fetch promptly after a resume: a woken partition's head is due within the resume lead.
        if consumerKafka.properties["fetch.wait.max.ms"] == nil {
            consumerKafka.properties["fetch.wait.max.ms"] = "100"
        }
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(kafka: consumerKafka, groupID: settings.groupID),
                logger: logger, rebalanceHandler: { event in await core.rebalance(event) })
        } catch {
            await producer.close(timeout: .seconds(1))
            throw error
        }
        await core.attach(consumer)

        let (stopStream, stopContinuation) = AsyncStream<Void>.makeStream()
        let loopName = "scheduler-consume"
        // A consume loop that fails for good (subscribe refused, a fatal consumer error) stops the
        // scheduler and is rethrown, so the process exits non-zero and is restarted, instead of
        // staying up without consuming.
        let consumeFailure = FailureBox()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { [self] in
                        do {
                            try await self.consume(consumer: consumer, core: core, producer: producer)
                        } catch is CancellationError {
                            // Shutting down.
                        } catch {
                            consumeFailure.record(error)
                            self.logger.error("scheduler consume loop failed", metadata: [LogKey.error: "\(error)"])
                            stopContinuation.yield()
                        }
                    }
                    group.addTask { [self] in
                        self.health.registerLoop(loopName, stallLimit: .seconds(60))
                        var lastGauge = ContinuousClock.now - self.settings.pendingGaugeInterval
                        while !Task.isCancelled {
                            try? await Task.sleep(for: self.settings.sweepInterval)
                            await core.sweep()
                            // A handler that stopped taking buffered messages is a stuck loop.
                            if (consumer.stalledFor ?? .zero) < .seconds(30) { self.health.heartbeat(loopName) }
                            if ContinuousClock.now - lastGauge >= self.settings.pendingGaugeInterval {
                                lastGauge = .now
                                await self.updatePendingGauge(core: core, consumer: consumer)
                            }
                        }
                    }
                    // Wait for the stop request, then shut down in order.
                    for await _ in stopStream { break }
                    self.health.setReady(self.component, false)
                    await core.stop(drainTimeout: self.settings.drainTimeout)
                    await consumer.close(timeout: .seconds(10))
                    group.cancelAll()
                    while let result = await group.nextResult() {
                        if case .failure(let error) = result, !(error is CancellationError) {
                            self.logger.debug(
                                "scheduler task ended with an error during shutdown",
                                metadata: [LogKey.error: "\(error)"])
                        }
                    }
                }
            } onGracefulShutdown: {
                stopContinuation.yield()
            }
        } onCancel: {
            stopContinuation.yield()
        }
        health.unregisterLoop(loopName)
        await producer.close(timeout: .seconds(10))
        if let failure = consumeFailure.first { throw failure }
        let snapshot = statistics.snapshot
        logger.info(
            "scheduler stopped",
            metadata: [
                "emitted": "\(snapshot.emitted)", "hopped": "\(snapshot.hopped)",
                "lateness_p99_ms": "\(snapshot.latenessQuantile(0.99).map(String.init) ?? "-")",
            ])
    }

    /// Waits for the broker, subscribes to the tiers and hands every message to the core.
    private func consume(consumer: KafkaConsumer, core: SchedulerCore, producer: KafkaProducer) async throws {
        try await waitForBroker(producer)
        try consumer.subscribe(topics: settings.tiers.map(\.topic))
        health.setReady(component, true)
        logger.info(
            "scheduler consuming delay tiers",
            metadata: [
                "tiers": "\(settings.tiers.map(\.name).joined(separator: ","))"
            ])
        try await core.consume(consumer.messages)
    }

    /// Waits until the producer sees the cluster and the tier topics exist.
    private func waitForBroker(_ producer: KafkaProducer) async throws {
        var attempt = 0
        while true {
            attempt += 1
            do {
                for tier in settings.tiers {
                    _ = try await producer.partitionCount(topic: tier.topic, timeout: .seconds(5))
                }
                _ = try await producer.partitionCount(topic: settings.queryJobsTopic, timeout: .seconds(5))
                return
            } catch {
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning("waiting for the broker and the delay topics", metadata: [LogKey.error: "\(error)"])
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func updatePendingGauge(core: SchedulerCore, consumer: KafkaConsumer) async {
        var pending: [DelayTier: Int64] = [:]
        for tier in settings.tiers { pending[tier] = 0 }
        for (source, position) in await core.positions() {
            guard let tier = settings.tiers.first(where: { $0.topic == source.topic }),
                let marks = try? await consumer.watermarks(
                    topic: source.topic, partition: source.partition, timeout: .seconds(2))
            else { continue }
            let from = position ?? marks.low
            pending[tier, default: 0] += max(0, marks.high - from)
        }
        for (tier, count) in pending {
            instruments.pending(tier: tier, count: count)
        }
    }
}

/// The first error a concurrent task reported.
private final class FailureBox: Sendable {
    private let error = Mutex<(any Error)?>(nil)

    func record(_ failure: any Error) {
        error.withLock { if $0 == nil { $0 = failure } }
    }

    var first: (any Error)? { error.withLock { $0 } }
}
