import CRdKafka
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
/// ```swift
/// let producer = try KafkaProducer(configuration: .init(kafka: .fromEnvironment()), logger: logger)
/// let report = try await producer.send(KafkaProducerMessage(topic: "t", key: "order-1", value: body))
/// try await producer.sendAll(outputs)        // many messages, one wait for all acknowledgements
/// await producer.close(timeout: .seconds(10))  // flush, then destroy
/// ```
///
/// - Important: Call ``close(timeout:)`` (or run the producer as a `Service`) before the process exits,
///   otherwise queued messages are dropped.
public final class KafkaProducer: Sendable, Service {
    private let client: RDKafkaClient
    private let lifecycle: ClientLifecycle
    private let configuration: KafkaProducerConfiguration
    private let logger: Logger
    private let closeRequest: CloseRequest
    /// `rd_kafka_topic_t` handles by name: producing by handle avoids librdkafka's per-message topic
    /// lookup under the client-wide lock. Destroyed by the poll thread before the client.
    private let topicHandles: NIOLockedValueBox<[String: TopicHandle]>

    /// Creates the producer and starts its delivery-report thread.
    ///
    /// - Throws: ``KafkaError`` with code `.configuration` naming a rejected property, or `.unsupportedLibrary`.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws {
        let properties = configuration.effectiveProperties
        if properties["enable.idempotence"] != "true" {
            logger.warning("producer runs without enable.idempotence=true: retries may duplicate or reorder messages")
        }
        let context = RDKafkaClientContext(logger: logger)
        context.onDelivery = { message in
            KafkaProducer.deliveryReport(message)
        }
        self.client = try RDKafkaClient.make(
            type: RD_KAFKA_PRODUCER, properties: properties, context: context, label: "producer")
        self.lifecycle = ClientLifecycle(name: "producer")
        self.configuration = configuration
        self.logger = logger
        self.closeRequest = CloseRequest()
        self.topicHandles = NIOLockedValueBox([:])
        let thread = Thread { [client, lifecycle, closeRequest, logger, topicHandles] in
            KafkaProducer.pollLoop(client: client, lifecycle: lifecycle, closeRequest: closeRequest, logger: logger)
            for handle in topicHandles.withLockedValue({ $0.values }) { rd_kafka_topic_destroy(handle.pointer) }
            topicHandles.withLockedValue { $0.removeAll() }
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
    public func sendAllSettled(_ messages: [KafkaProducerMessage]) async throws -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !messages.isEmpty else { return [] }
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
        // Fast path without suspension; only a full queue makes us wait.
        if try produce(message, batch: batch, index: index) == .enqueued { return }
        var backoff = Duration.milliseconds(1)
        var waitedSince: ContinuousClock.Instant?
        while true {
            switch try produce(message, batch: batch, index: index) {
            case .enqueued:
                return
            case .queueFull:
                if waitedSince == nil {
                    waitedSince = .now
                    logger.debug("librdkafka queue full; waiting for deliveries (back-pressure)")
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, configuration.queueFullMaxBackoff)
            }
        }
    }

    private enum ProduceOutcome { case enqueued, queueFull }

    /// One non-blocking `rd_kafka_produceva` attempt.
    private func produce(_ message: KafkaProducerMessage, batch: DeliveryBatch, index: Int) throws(KafkaError) -> ProduceOutcome {
        try lifecycle.enter()
        defer { lifecycle.exit() }

        // Headers are built here and passed as RD_KAFKA_VTYPE_HEADERS: librdkafka owns them on success,
        // we destroy them on failure. (Per-header RD_KAFKA_VTYPE_HEADER entries double-free in 2.0.2.)
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            let list = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                if let value = header.value {
                    value.withUnsafeBytes { bytes in
                        let base = bytes.baseAddress ?? UnsafeRawPointer(emptyBytePointer)
                        _ = rd_kafka_header_add(list, header.key, -1, base, bytes.count)
                    }
                } else {
                    _ = rd_kafka_header_add(list, header.key, -1, nil, 0)
                }
            }
            headers = list
        }

        let topic: OpaquePointer
        do {
            topic = try topicHandle(message.topic)
        } catch {
            if let headers { rd_kafka_headers_destroy(headers) }
            throw error
        }
        let ticket = Unmanaged.passRetained(DeliveryTicket(batch: batch, index: index))
        let error: OpaquePointer? = message.topic.withCString { _ in
            withOptionalBytes(message.key) { keyPointer, keyLength in
                withOptionalBytes(message.value) { valuePointer, valueLength in
                    withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 8) { vus in
                    var count = 0
                    func append(_ vu: rd_kafka_vu_t) {
                        vus[count] = vu
                        count += 1
                    }
                    var vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_RKT
                    vu.u.rkt = topic
                    append(vu)
                    if let partition = message.partition {
                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_PARTITION
                        vu.u.i32 = partition
                        append(vu)
                    }
                    if let keyPointer {
                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_KEY
                        vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: keyPointer)
                        vu.u.mem.size = keyLength
                        append(vu)
                    }
                    if let valuePointer {
                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_VALUE
                        vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: valuePointer)
                        vu.u.mem.size = valueLength
                        append(vu)
                    }
                    vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    vu.u.i = RD_KAFKA_MSG_F_COPY
                    append(vu)
                    vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_OPAQUE
                    vu.u.ptr = ticket.toOpaque()
                    append(vu)
                    if let timestamp = message.timestamp {
                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_TIMESTAMP
                        vu.u.i64 = Int64((timestamp.timeIntervalSince1970 * 1000).rounded())
                        append(vu)
                    }
                    if let headers {
                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_HEADERS
                        vu.u.headers = headers
                        append(vu)
                    }
                    return rd_kafka_produceva(client.handle, vus.baseAddress, count)
                    }
                }
            }
        }
        guard let error else { return .enqueued }
        // Not enqueued: nothing will report on this ticket, and the headers are still ours.
        ticket.release()
        if let headers { rd_kafka_headers_destroy(headers) }
        if rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL {
            rd_kafka_error_destroy(error)
            return .queueFull
        }
        throw KafkaError.consuming(.delivery, "producing to \(message.topic) failed", error)
    }

    /// Called by librdkafka (on the thread serving the main queue) once per message.
    private static func deliveryReport(_ message: UnsafePointer<rd_kafka_message_t>) {
        guard let opaque = message.pointee._private else { return }
        let ticket = Unmanaged<DeliveryTicket>.fromOpaque(opaque).takeRetainedValue()
        let m = message.pointee
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let ts = rd_kafka_message_timestamp(message, &tsType)
            let timestamp = tsType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? nil : Date(timeIntervalSince1970: Double(ts) / 1000)
            ticket.batch.complete(
                ticket.index, .success(KafkaDeliveryReport(topic: topic, partition: m.partition, offset: m.offset, timestamp: timestamp)))
        } else {
            ticket.batch.complete(ticket.index, .failure(KafkaError.rd(.delivery, "delivery to \(topic) failed", m.err)))
        }
    }

    // MARK: Flush, metadata

    /// Waits until every enqueued message has a delivery report, or the timeout passes.
    ///
    /// - Throws: ``KafkaError`` `.timedOut` with the number of messages still outstanding.
    public func flush(timeout: Duration) async throws {
        let client = self.client
        let lifecycle = self.lifecycle
        try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in
                let err = rd_kafka_flush(client.handle, timeout.clampedMilliseconds)
                if err == RD_KAFKA_RESP_ERR__TIMED_OUT {
                    throw KafkaError(.timedOut, "flush timed out with \(rd_kafka_outq_len(client.handle)) messages outstanding")
                }
            }
        }
    }

    /// Number of messages and requests not yet acknowledged.
    public var outstandingCount: Int {
        (try? lifecycle.using { () throws(KafkaError) in Int(rd_kafka_outq_len(client.handle)) }) ?? 0
    }

    /// Cluster metadata (brokers, all topics). Useful as a readiness check.
    public func metadata(timeout: Duration = .seconds(10)) async throws -> KafkaClusterMetadata {
        let client = self.client
        let lifecycle = self.lifecycle
        return try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in try client.metadata(timeoutMilliseconds: timeout.clampedMilliseconds) }
        }
    }

    /// The number of partitions of a topic.
    ///
    /// - Throws: ``KafkaError`` `.metadata` when the topic does not exist.
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) async throws -> Int {
        guard let metadata = try await metadata(timeout: timeout).topic(topic) else {
            throw KafkaError(.metadata, "topic \(topic) does not exist")
        }
        return metadata.partitionCount
    }

    // MARK: Shutdown

    /// Flushes outstanding messages within `timeout`, fails whatever is left (their senders get an
    /// error), and destroys the client. Safe to call more than once.
    public func close(timeout: Duration) async {
        if lifecycle.beginClosing() {
            closeRequest.request(deadline: .now + timeout)
        }
        await lifecycle.waitUntilClosed()
    }

    /// Runs until graceful shutdown or cancellation, then closes with the configured timeout.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await lifecycle.waitUntilClosed()
            } onGracefulShutdown: {
                self.requestClose()
            }
        } onCancel: {
            self.requestClose()
        }
    }

    private func requestClose() {
        if lifecycle.beginClosing() {
            closeRequest.request(deadline: .now + configuration.closeTimeout)
        }
    }

    /// The delivery-report thread: polls until closing, then flushes, purges and destroys.
    private static func pollLoop(client: RDKafkaClient, lifecycle: ClientLifecycle, closeRequest: CloseRequest, logger: Logger) {
        while lifecycle.isRunning {
            rd_kafka_poll(client.handle, 100)
        }
        let deadline = closeRequest.deadline ?? .now
        lifecycle.waitUntilIdle(deadline: deadline + .seconds(1))
        let remaining = ContinuousClock.now.duration(to: deadline)
        let err = rd_kafka_flush(client.handle, remaining.clampedMilliseconds)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let left = rd_kafka_outq_len(client.handle)
            logger.warning("producer close: \(left) messages not acknowledged before the deadline; failing them")
            rd_kafka_purge(client.handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            let purgeDeadline = ContinuousClock.now + .seconds(2)
            while rd_kafka_outq_len(client.handle) > 0 && ContinuousClock.now < purgeDeadline {
                rd_kafka_poll(client.handle, 50)
            }
        }
    }

    /// The cached topic handle for a name (created on first use).
    private func topicHandle(_ name: String) throws(KafkaError) -> OpaquePointer {
        let result: OpaquePointer? = topicHandles.withLockedValue { handles in
            if let handle = handles[name] { return handle.pointer }
            guard let created = rd_kafka_topic_new(client.handle, name, nil) else { return nil }
            handles[name] = TopicHandle(pointer: created)
            return created
        }
        guard let result else { throw KafkaError.rd(.delivery, "topic \(name)", rd_kafka_last_error()) }
        return result
    }
}

/// `rd_kafka_topic_t*`. `@unchecked Sendable`: topic handles are thread-safe and live until the
/// producer's poll thread destroys them after the last produce call.
struct TopicHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// The deadline handed from ``KafkaProducer/close(timeout:)`` to the poll thread.
final class CloseRequest: Sendable {
    private let box = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    func request(deadline: ContinuousClock.Instant) { box.withLockedValue { $0 = deadline } }
    var deadline: ContinuousClock.Instant? { box.withLockedValue { $0 } }
}

/// Calls `body` with a pointer and length for optional bytes: `nil` for absent, a non-NULL pointer for empty.
func withOptionalBytes<R>(_ data: Data?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
    guard let data else { return body(nil, 0) }
    if data.isEmpty { return body(UnsafeRawPointer(emptyBytePointer), 0) }
    return data.withUnsafeBytes { bytes in body(bytes.baseAddress ?? UnsafeRawPointer(emptyBytePointer), bytes.count) }
}

/// A non-NULL pointer for empty (but present) keys, values and header values, so they are not taken as NULL.
nonisolated(unsafe) let emptyBytePointer: UnsafeMutablePointer<UInt8> = {
    let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    pointer.initialize(to: 0)
    return pointer
}()
