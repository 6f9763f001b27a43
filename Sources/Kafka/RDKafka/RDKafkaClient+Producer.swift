import CRdKafka
import Foundation
import NIOConcurrencyHelpers

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
                withOptionalBytes(header.value) { pointer, length in
                    _ = rd_kafka_header_add(list, header.key, -1, pointer, length)
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

    /// Serves the main queue (delivery reports, errors, logs) for up to `timeoutMilliseconds`.
    @discardableResult
    func poll(timeoutMilliseconds: Int32) -> Int {
        Int(rd_kafka_poll(handle, timeoutMilliseconds))
    }

    /// Makes a running ``poll(timeoutMilliseconds:)`` on another thread return at once (closing need
    /// not wait out its timeout): cancels the wait on the main queue, which `rd_kafka_poll` serves.
    /// (`rd_kafka_yield` would not do: it only works from inside a callback on the polling thread.)
    func wakePoll() {
        guard let queue = rd_kafka_queue_get_main(handle) else { return }
        rd_kafka_queue_yield(queue)
        rd_kafka_queue_destroy(queue)
    }

    /// Waits for every enqueued message's delivery report; `false` when the timeout passed first.
    func flush(timeoutMilliseconds: Int32) -> Bool {
        rd_kafka_flush(handle, timeoutMilliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR
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
