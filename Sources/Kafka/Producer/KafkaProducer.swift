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
        let context = RDKafkaClientContext(logger: logger) { reports in DeliveryBatch.complete(reports) }
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
        try await deliver([message]).reports()[0]
    }

    /// Publishes many messages and returns when all of them were acknowledged, in input order.
    ///
    /// The messages are enqueued in order (librdkafka batches them), at most
    /// ``KafkaProducerConfiguration/sendWindow`` of them unacknowledged at a time, and the call
    /// waits for every delivery report even when one fails, so nothing is left outstanding.
    ///
    /// - Throws: the first failure (``KafkaError`` `.delivery`), after all outcomes are known.
    @discardableResult
    public func sendAll(_ messages: [KafkaProducerMessage]) async throws -> [KafkaDeliveryReport] {
        guard !messages.isEmpty else { return [] }
        return try await deliver(messages).reports()
    }

    /// Publishes many messages and returns when all of them were acknowledged: ``sendAll(_:)``
    /// without building a delivery report per message, for a sender that only needs to know that
    /// all were written (a batch of 100,000 messages saves 100,000 reports, about 5 MB).
    ///
    /// - Throws: the first failure (``KafkaError`` `.delivery`), after all outcomes are known.
    public func sendAllWithoutReports(_ messages: [KafkaProducerMessage]) async throws {
        guard !messages.isEmpty else { return }
        try await deliver(messages, reports: .discarded).requireAllDelivered()
    }

    /// Publishes many messages and returns the failures by input index, empty when every message
    /// was acknowledged (the outcomes of ``sendAllSettled(_:)`` without the delivery reports).
    public func sendAllFailures(_ messages: [KafkaProducerMessage]) async -> [Int: KafkaError] {
        guard !messages.isEmpty else { return [:] }
        return await deliver(messages, reports: .discarded).failures()
    }

    /// Publishes many messages and returns each one's outcome, in input order.
    ///
    /// The messages are enqueued in order under one use of the handle, as long as librdkafka's
    /// queue takes them and fewer than ``KafkaProducerConfiguration/sendWindow`` of them are
    /// unacknowledged; then the call waits for acknowledgements (or, for a full queue, for room:
    /// back-pressure) and the rest follow.
    public func sendAllSettled(
        _ messages: [KafkaProducerMessage]
    ) async throws -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !messages.isEmpty else { return [] }
        return await deliver(messages).settled()
    }

    /// Enqueues `messages` in order and returns their batch once every message has an outcome:
    /// one wait for the whole batch, however many messages it holds.
    ///
    /// At most `sendWindow` messages of the batch are enqueued and unacknowledged at a time; at the
    /// window's end the call waits until a quarter of it was acknowledged. librdkafka then handles
    /// messages enqueued moments before, still in the CPU caches, instead of a queue of the whole
    /// batch spread over tens of MB (with 100,000 messages of 200 bytes its broker thread used
    /// about 1.6 times the CPU); small batches (the roles' batches) never reach the window.
    private func deliver(
        _ messages: [KafkaProducerMessage], reports: DeliveryBatch.Reports = .kept
    ) async -> DeliveryBatch {
        let batch = await enqueueAll(messages, reports: reports)
        await batch.wait()
        return batch
    }

    /// Enqueues `messages` in order (within the send window, waiting for room or acknowledgements
    /// as ``deliver(_:)`` describes) and returns their batch once the last one is enqueued, before
    /// their delivery reports.
    func enqueueAll(
        _ messages: [KafkaProducerMessage], reports: DeliveryBatch.Reports = .kept
    ) async -> DeliveryBatch {
        startPolling()
        let batch = DeliveryBatch(messages: messages, reports: reports)
        let window = max(configuration.sendWindow, 1)
        var index = 0
        while index < messages.count {
            let limit = min(messages.count, batch.completedCount + window)
            guard index < limit else {
                await batch.waitUntilCompleted(atLeast: index - window + max(window / 4, 1))
                continue
            }
            index = enqueueWhileRoom(messages, from: index, upTo: limit, batch: batch)
            guard index < limit else { continue }
            // The queue is full at `index`: wait for room for it, then go on without waiting.
            do throws(KafkaError) {
                try await enqueue(messages[index], batch: batch, index: index)
            } catch {
                batch.fail(index, error)
            }
            index += 1
        }
        return batch
    }

    /// Enqueues `messages[start..<end]` without suspending, until one finds the queue full.
    /// A message that cannot be enqueued for another reason fails in `batch`.
    /// - Returns: the index of the message that found the queue full, or `end`.
    private func enqueueWhileRoom(
        _ messages: [KafkaProducerMessage], from start: Int, upTo end: Int, batch: DeliveryBatch
    ) -> Int {
        var index = start
        // Reserved up front: a report may come back before the next message is enqueued.
        batch.reserve(end - start)
        do throws(KafkaError) {
            try lifecycle.using { () throws(KafkaError) in
                var cursor = RDKafkaClient.ProduceCursor()
                // Through the buffer, each message is read in place (the array's subscript would
                // copy it, retaining and releasing its topic, key, value and headers).
                messages.withUnsafeBufferPointer { messages in
                    while index < end {
                        do throws(KafkaError) {
                            let outcome = try client.produce(
                                messages[index], topics: topicHandles, cursor: &cursor, opaque: batch.opaque(index))
                            if outcome == .queueFull { return }
                        } catch {
                            batch.unreserve(1)
                            batch.fail(index, error)
                        }
                        index += 1
                    }
                }
            }
            batch.unreserve(end - index)
        } catch {
            // Closed: nothing more can be enqueued.
            batch.unreserve(end - index)
            while index < messages.count {
                batch.fail(index, error)
                index += 1
            }
        }
        return index
    }

    /// Enqueues one message, waiting while the local queue is full.
    private func enqueue(_ message: KafkaProducerMessage, batch: DeliveryBatch, index: Int) async throws(KafkaError) {
        var backoff = Duration.milliseconds(1)
        var waitedSince: ContinuousClock.Instant?
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
            batch.reserve(1)
            var cursor = RDKafkaClient.ProduceCursor()
            do throws(KafkaError) {
                let outcome = try client.produce(
                    message, topics: topicHandles, cursor: &cursor, opaque: batch.opaque(index))
                if outcome == .queueFull { batch.unreserve(1) }
                return outcome
            } catch {
                batch.unreserve(1)
                throw error
            }
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
        beginClosing(deadline: .now + timeout)
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
        beginClosing(deadline: .now + configuration.closeTimeout)
    }

    /// Moves to closing (once) and wakes the delivery-report thread, so it need not wait out its poll
    /// timeout. The wake is one use of the handle: the thread cannot destroy it meanwhile.
    private func beginClosing(deadline: ContinuousClock.Instant) {
        let using = (try? lifecycle.enter()) != nil
        defer { if using { lifecycle.exit() } }
        guard lifecycle.beginClosing() else { return }
        closeRequest.request(deadline: deadline)
        if using { client.wakePoll() }
    }

    /// The delivery-report thread: polls until closing, then flushes and purges what the deadline leaves.
    private static func pollLoop(
        client: RDKafkaClient, lifecycle: ClientLifecycle, closeRequest: CloseRequest, logger: Logger
    ) {
        while lifecycle.isRunning {
            client.poll(timeoutMilliseconds: 100)
        }
        let deadline = closeRequest.deadline ?? .now
        // A use still running (a transaction's commit or abort) may wait for delivery reports, which
        // only this thread serves: keep serving them meanwhile. In steps of 1 ms: the close that woke
        // this thread is itself a use until it returns, so the first check may find it, and with
        // 5 ms steps 2 of 20 closes took 3–6 ms instead of under 2.
        lifecycle.waitUntilIdle(deadline: deadline + .seconds(1)) { client.poll(timeoutMilliseconds: 1) }
        if !client.drain(deadline: deadline) {
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
