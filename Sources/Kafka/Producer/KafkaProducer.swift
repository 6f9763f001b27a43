import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// An idempotent Kafka producer whose sends complete when the broker has acknowledged the message.
///
/// A dedicated thread serves librdkafka's delivery reports; no blocking librdkafka call runs on the
/// Swift cooperative pool. When librdkafka's local queue is full, sends wait and retry (back-pressure)
/// instead of failing.
///
/// Scoped, which always flushes and closes, also when `body` throws or the task is cancelled:
///
/// ```swift
/// try await withKafkaProducer(configuration: .init(kafka: .fromEnvironment()), logger: logger) { producer in
///     let report = try await producer.send(KafkaProducerMessage(topic: "t", key: "order-1", value: body))
///     try await producer.sendAll(outputs)      // many messages, one wait for all acknowledgements
/// }
/// ```
///
/// Long-lived, as a `Service` in a `ServiceGroup`: ``run()`` starts the delivery-report thread and
/// flushes and closes on graceful shutdown or cancellation. Creating the producer starts no thread.
///
/// - Important: A producer used without ``run()`` starts its thread at the first send; then call
///   ``close(timeout:)`` before the process exits, otherwise queued messages are dropped.
public final class KafkaProducer: Sendable, Service {
    let client: RDKafkaClient
    let lifecycle: ClientLifecycle
    private let configuration: KafkaProducerConfiguration
    private let logger: Logger
    private let closeRequest: CloseRequest
    private let topicHandles: RDKafkaTopicHandles
    private let pollThreadStarted: NIOLockedValueBox<Bool>

    /// Creates the producer's librdkafka client. The delivery-report thread starts with ``run()`` (or
    /// the first send).
    ///
    /// - Throws: ``KafkaError`` with code `.configuration` naming a rejected property, or `.unsupportedLibrary`.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws {
        let properties = configuration.effectiveProperties
        if properties["enable.idempotence"] != "true" {
            logger.warning("producer runs without enable.idempotence=true: retries may duplicate or reorder messages")
        }
        let context = RDKafkaClientContext(logger: logger)
        context.onDelivery = { message in
            guard let ticket = message.takeTicket(DeliveryTicket.self) else { return }
            ticket.batch.complete(ticket.index, KafkaDeliveryReport.outcome(of: message))
        }
        self.client = try RDKafkaClient.make(
            kind: .producer, properties: properties, context: context, label: "producer")
        self.lifecycle = ClientLifecycle(name: "producer")
        self.configuration = configuration
        self.logger = logger
        self.closeRequest = CloseRequest()
        self.topicHandles = RDKafkaTopicHandles()
        self.pollThreadStarted = NIOLockedValueBox(false)
    }

    deinit {
        // Never started (never sent, run or closed): nothing is queued, and no thread owns the handle.
        if !pollThreadStarted.withLockedValue({ $0 }) {
            topicHandles.destroyAll()
            client.destroy()
        }
    }

    /// Starts the delivery-report thread once: it polls until closing, then flushes, purges what is
    /// left and destroys the client.
    func startPolling() {
        let first = pollThreadStarted.withLockedValue { started -> Bool in
            defer { started = true }
            return !started
        }
        guard first else { return }
        let thread = Thread { [client, lifecycle, closeRequest, logger, topicHandles] in
            KafkaProducer.pollLoop(client: client, lifecycle: lifecycle, closeRequest: closeRequest, logger: logger)
            topicHandles.destroyAll()
            client.destroy()
            lifecycle.markClosed()
            logger.debug("producer closed")
        }
        thread.name = "payfleet-kafka-producer"
        thread.start()
    }

    // MARK: Sending

    /// Publishes one message and returns when the broker acknowledged it (acks=all).
    ///
    /// - Throws: ``KafkaError`` `.delivery` when the message could not be enqueued or delivery failed
    ///   (e.g. `message.timeout.ms` expired), `.closed` after ``close(timeout:)``.
    /// - Note: Cancelling the calling task does not withdraw an enqueued message; the call still waits
    ///   for its delivery report (bounded by `message.timeout.ms`).
    @discardableResult
    public func send(_ message: KafkaProducerMessage) async throws -> KafkaDeliveryReport {
        startPolling()
        let batch = DeliveryBatch(count: 1)
        try await enqueue(message, batch: batch, index: 0)
        let results = await batch.wait()
        return try results[0].get()
    }

    /// Publishes many messages and returns when all of them were acknowledged, in input order.
    ///
    /// All messages are enqueued at once (librdkafka batches them) and the call waits for every
    /// delivery report even when one fails, so nothing is left outstanding.
    ///
    /// - Throws: the first failure (``KafkaError`` `.delivery`), after all outcomes are known.
    @discardableResult
    public func sendAll(_ messages: [KafkaProducerMessage]) async throws -> [KafkaDeliveryReport] {
        let results = try await sendAllSettled(messages)
        return try results.map { try $0.get() }
    }

    /// Publishes many messages and returns each one's outcome, in input order.
    public func sendAllSettled(
        _ messages: [KafkaProducerMessage]
    ) async throws -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !messages.isEmpty else { return [] }
        startPolling()
        let batch = DeliveryBatch(count: messages.count)
        for (index, message) in messages.enumerated() {
            do {
                if try produce(message, batch: batch, index: index) == .enqueued { continue }
                try await enqueue(message, batch: batch, index: index)
            } catch {
                batch.complete(index, .failure(error))
            }
        }
        return await batch.wait()
    }

    /// Enqueues one message, waiting while the local queue is full.
    private func enqueue(_ message: KafkaProducerMessage, batch: DeliveryBatch, index: Int) async throws(KafkaError) {
        var backoff = Duration.milliseconds(1)
        var waitedSince: ContinuousClock.Instant?
        // The first attempt does not suspend; only a full queue makes us wait.
        while try produce(message, batch: batch, index: index) == .queueFull {
            if waitedSince == nil {
                waitedSince = .now
                logger.debug("librdkafka queue full; waiting for deliveries (back-pressure)")
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, configuration.queueFullMaxBackoff)
        }
    }

    /// One non-blocking produce attempt.
    private func produce(
        _ message: KafkaProducerMessage, batch: DeliveryBatch, index: Int
    ) throws(KafkaError) -> RDKafkaClient.ProduceOutcome {
        try lifecycle.using { () throws(KafkaError) in
            try client.produce(message, topics: topicHandles, ticket: DeliveryTicket(batch: batch, index: index))
        }
    }

    // MARK: Flush, metadata

    /// Waits until every enqueued message has a delivery report, or the timeout passes.
    ///
    /// - Throws: ``KafkaError`` `.timedOut` with the number of messages still outstanding.
    public func flush(timeout: Duration) async throws {
        startPolling()
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            if !client.flush(timeoutMilliseconds: timeout.clampedMilliseconds) {
                throw KafkaError(.timedOut, "flush timed out with \(client.outstandingCount) messages outstanding")
            }
        }
    }

    /// Number of messages and requests not yet acknowledged.
    public var outstandingCount: Int {
        (try? lifecycle.using { () throws(KafkaError) in client.outstandingCount }) ?? 0
    }

    /// Cluster metadata (brokers, all topics). Useful as a readiness check.
    public func metadata(timeout: Duration = .seconds(10)) async throws -> KafkaClusterMetadata {
        try await client.metadata(timeout: timeout, lifecycle: lifecycle)
    }

    /// The number of partitions of a topic.
    ///
    /// - Throws: ``KafkaError`` `.metadata` when the topic does not exist.
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) async throws -> Int {
        try await client.partitionCount(topic: topic, timeout: timeout, lifecycle: lifecycle)
    }

    // MARK: Shutdown

    /// Flushes outstanding messages within `timeout`, fails whatever is left (their senders get an
    /// error), destroys the client and returns once the delivery-report thread has ended. Safe to call
    /// more than once.
    public func close(timeout: Duration) async {
        startPolling()
        if lifecycle.beginClosing() {
            closeRequest.request(deadline: .now + timeout)
        }
        await lifecycle.waitUntilClosed()
    }

    /// Runs the delivery-report thread until graceful shutdown or cancellation, then flushes and
    /// closes with the configured timeout; returns once the thread has ended.
    public func run() async throws {
        startPolling()
        await lifecycle.runUntilClosed { self.triggerGracefulShutdown() }
    }

    /// Begins closing with the configured timeout without waiting (``run()`` returns once closed).
    public func triggerGracefulShutdown() {
        startPolling()
        if lifecycle.beginClosing() {
            closeRequest.request(deadline: .now + configuration.closeTimeout)
        }
    }

    /// The delivery-report thread: polls until closing, then flushes and purges what the deadline leaves.
    private static func pollLoop(
        client: RDKafkaClient, lifecycle: ClientLifecycle, closeRequest: CloseRequest, logger: Logger
    ) {
        while lifecycle.isRunning {
            client.poll(timeoutMilliseconds: 100)
        }
        let deadline = closeRequest.deadline ?? .now
        lifecycle.waitUntilIdle(deadline: deadline + .seconds(1))
        let remaining = ContinuousClock.now.duration(to: deadline)
        if !client.flush(timeoutMilliseconds: remaining.clampedMilliseconds) {
            logger.warning(
                "producer close: \(client.outstandingCount) messages not acknowledged before the deadline; failing them"
            )
            client.purgeQueuedAndInFlight()
            let purgeDeadline = ContinuousClock.now + .seconds(2)
            while client.outstandingCount > 0 && ContinuousClock.now < purgeDeadline {
                client.poll(timeoutMilliseconds: 50)
            }
        }
    }
}

/// Creates a producer, runs `body` with it, and always flushes and closes it (bounded by
/// ``KafkaProducerConfiguration/closeTimeout``) before returning — also when `body` throws or the task
/// is cancelled. The delivery-report thread has ended when this returns.
///
/// - Throws: what creating the producer or `body` throws.
@discardableResult
public func withKafkaProducer<Result>(
    configuration: KafkaProducerConfiguration,
    logger: Logger,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (KafkaProducer) async throws -> Result
) async throws -> Result {
    let producer = try KafkaProducer(configuration: configuration, logger: logger)
    producer.startPolling()
    return try await withClosing(producer, close: { await $0.close(timeout: configuration.closeTimeout) }, body)
}

/// The deadline handed from a client's `close` to its poll thread.
final class CloseRequest: Sendable {
    private let box = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    func request(deadline: ContinuousClock.Instant) { box.withLockedValue { $0 = deadline } }
    var deadline: ContinuousClock.Instant? { box.withLockedValue { $0 } }
}
