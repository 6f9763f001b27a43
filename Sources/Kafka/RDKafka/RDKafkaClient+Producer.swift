import CRdKafka
import Foundation
import NIOConcurrencyHelpers
import Observability

extension RDKafkaClient {
    /// What one non-blocking produce attempt did.
    enum ProduceOutcome { case enqueued, queueFull }

    /// The topic handle of the previous message of a batch, so consecutive messages to one topic
    /// skip the handle cache's lock and lookup.
    struct ProduceCursor {
        fileprivate var topic: String?
        fileprivate var handle: OpaquePointer?
    }

    /// Enqueues one message without blocking (`RD_KAFKA_MSG_F_COPY`). `opaque` comes back in the
    /// message's delivery report (``RDKafkaMessage/opaque``); when the message is not enqueued
    /// (`.queueFull` or a throw) nothing will report on it and `opaque` is still the caller's.
    ///
    /// Headers are built here and passed as `RD_KAFKA_VTYPE_HEADERS`: librdkafka owns them on success,
    /// we destroy them on failure. (Per-header `RD_KAFKA_VTYPE_HEADER` entries double-free in 2.0.2.)
    func produce(
        _ message: KafkaProducerMessage, topics: RDKafkaTopicHandles, cursor: inout ProduceCursor,
        opaque: UnsafeMutableRawPointer
    ) throws(KafkaError) -> ProduceOutcome {
        let topic: OpaquePointer
        if let handle = cursor.handle, cursor.topic == message.topic {
            topic = handle
        } else {
            topic = try topics.handle(for: message.topic, client: self)
            cursor.topic = message.topic
            cursor.handle = topic
        }
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            let list = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                // `withCString`: passing the String itself would copy it into a new array first.
                header.key.withCString { name in
                    withOptionalBytes(header.value) { pointer, length in
                        _ = rd_kafka_header_add(list, name, -1, pointer, length)
                    }
                }
            }
            headers = list
        }
        let error: OpaquePointer? = withOptionalBytes(message.key) { keyPointer, keyLength in
            withOptionalBytes(message.value) { valuePointer, valueLength in
                withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 8) { vus in
                    var count = 0
                    func append(_ type: rd_kafka_vtype_t, _ set: (inout rd_kafka_vu_t) -> Void) {
                        var vu = rd_kafka_vu_t()
                        vu.vtype = type
                        set(&vu)
                        vus[count] = vu
                        count += 1
                    }
                    func appendBytes(_ type: rd_kafka_vtype_t, _ pointer: UnsafeRawPointer?, _ length: Int) {
                        guard let pointer else { return }
                        append(type) {
                            $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: pointer)
                            $0.u.mem.size = length
                        }
                    }
                    append(RD_KAFKA_VTYPE_RKT) { $0.u.rkt = topic }
                    if let partition = message.partition { append(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition } }
                    appendBytes(RD_KAFKA_VTYPE_KEY, keyPointer, keyLength)
                    appendBytes(RD_KAFKA_VTYPE_VALUE, valuePointer, valueLength)
                    append(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                    append(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = opaque }
                    if let timestamp = message.timestamp {
                        append(RD_KAFKA_VTYPE_TIMESTAMP) {
                            $0.u.i64 = Int64((timestamp.timeIntervalSince1970 * 1000).rounded())
                        }
                    }
                    if let headers { append(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = headers } }
                    return rd_kafka_produceva(handle, vus.baseAddress, count)
                }
            }
        }
        guard let error else { return .enqueued }
        // Not enqueued: the headers are still ours.
        if let headers { rd_kafka_headers_destroy(headers) }
        if rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL {
            rd_kafka_error_destroy(error)
            return .queueFull
        }
        throw KafkaError.consuming(.delivery, "producing to \(message.topic) failed", error)
    }

    /// Serves the main queue for up to `timeoutMilliseconds`: hands each message of a delivery-report
    /// event to the context's delivery handler, and errors to its error handler.
    /// Returns the number of reports handed over. Only the producer's delivery-report thread calls it.
    ///
    /// (Not `rd_kafka_poll`: in event mode it would drop the delivery reports it serves.)
    @discardableResult
    func poll(timeoutMilliseconds: Int32) -> Int {
        guard let queue = rd_kafka_queue_get_main(handle) else { return 0 }
        defer { rd_kafka_queue_destroy(queue) }
        guard let event = rd_kafka_queue_poll(queue, timeoutMilliseconds) else { return 0 }
        // Destroying the event releases its messages: librdkafka's count of outstanding messages
        // drops then, which is what a flush (and a transaction's commit) waits for.
        defer { rd_kafka_event_destroy(event) }
        switch rd_kafka_event_type(event) {
        case RD_KAFKA_EVENT_DR:
            break
        case RD_KAFKA_EVENT_ERROR:
            // Errors come back as events from an event poll whatever events were enabled; a fatal one
            // carries the underlying code, which the handler reads again from the handle.
            let fatal = rd_kafka_event_error_is_fatal(event) != 0
            context.handleError(
                rk: handle, err: fatal ? RD_KAFKA_RESP_ERR__FATAL : rd_kafka_event_error(event),
                reason: rd_kafka_event_error_string(event).map { String(cString: $0) } ?? "")
            return 0
        case RD_KAFKA_EVENT_STATS:
            // No statistics handler is installed: `rd_kafka_poll` dropped them as well.
            return 0
        default:
            // E.g. an OAUTHBEARER token refresh for librdkafka's unsecured JWT, which this thread
            // cannot perform: said, not dropped silently.
            let name = rd_kafka_event_name(event).map { String(cString: $0) } ?? "\(rd_kafka_event_type(event))"
            context.logger.warning(
                "librdkafka event not served by the producer", metadata: [LogKey.event: "\(name)"])
            return 0
        }
        guard let onDeliveries = context.onDeliveries else { return 0 }
        // The event's messages in runs of up to 512, each run handed over at once: the handler then
        // completes the messages of one send under one lock.
        return withUnsafeTemporaryAllocation(
            of: UnsafePointer<rd_kafka_message_t>?.self, capacity: RDKafkaDeliveries.capacity
        ) { buffer in
            var count = 0
            while true {
                let taken = rd_kafka_event_message_array(event, buffer.baseAddress, buffer.count)
                guard taken > 0 else { return count }
                onDeliveries(RDKafkaDeliveries(UnsafeBufferPointer(rebasing: buffer[..<taken])))
                count += taken
            }
        }
    }

    /// Makes a running ``poll(timeoutMilliseconds:)`` on another thread return at once (closing need
    /// not wait out its timeout): cancels the wait on the main queue.
    func wakePoll() {
        guard let queue = rd_kafka_queue_get_main(handle) else { return }
        rd_kafka_queue_yield(queue)
        rd_kafka_queue_destroy(queue)
    }

    /// Waits for every enqueued message's delivery report (served by the delivery-report thread);
    /// `false` when the timeout passed first. Not for the delivery-report thread itself: see
    /// ``drain(deadline:)``.
    func flush(timeoutMilliseconds: Int32) -> Bool {
        rd_kafka_flush(handle, timeoutMilliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// On the delivery-report thread: serves reports until every enqueued message has one or the
    /// deadline passes; `false` when the deadline passed first.
    func drain(deadline: ContinuousClock.Instant) -> Bool {
        while outstandingCount > 0 {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            poll(timeoutMilliseconds: min(remaining.clampedMilliseconds, 50))
        }
        return true
    }

    /// Messages and requests not yet acknowledged.
    var outstandingCount: Int { Int(rd_kafka_outq_len(handle)) }

    /// Fails every queued and in-flight message (their delivery reports carry `_PURGE_*` errors).
    func purgeQueuedAndInFlight() {
        rd_kafka_purge(handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
    }
}

/// `rd_kafka_topic_t` handles of a producer by name: producing by handle avoids librdkafka's
/// per-message topic lookup under the client-wide lock.
///
/// `Sendable`: the dictionary is lock-protected; topic handles are thread-safe and live until
/// ``destroyAll()``, which the owner calls after the last produce and before destroying the client.
final class RDKafkaTopicHandles: Sendable {
    /// `rd_kafka_topic_t*`. `@unchecked Sendable`: thread-safe librdkafka object, see the owner.
    private struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private let handles = NIOLockedValueBox<[String: Handle]>([:])

    /// The cached handle for a topic (created on first use).
    func handle(for name: String, client: RDKafkaClient) throws(KafkaError) -> OpaquePointer {
        let result: OpaquePointer? = handles.withLockedValue { handles in
            if let handle = handles[name] { return handle.pointer }
            guard let created = rd_kafka_topic_new(client.handle, name, nil) else { return nil }
            handles[name] = Handle(pointer: created)
            return created
        }
        guard let result else { throw KafkaError.rd(.delivery, "topic \(name)", rd_kafka_last_error()) }
        return result
    }

    /// Destroys every handle.
    func destroyAll() {
        let all = handles.withLockedValue { handles in
            defer { handles.removeAll() }
            return Array(handles.values)
        }
        for handle in all { rd_kafka_topic_destroy(handle.pointer) }
    }
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
