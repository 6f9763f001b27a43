import Foundation
import NIOConcurrencyHelpers

/// Collects the delivery reports of a group of messages and wakes one waiter when all have arrived.
///
/// Per message it holds one ``Slot`` (the opaque handed to librdkafka: which batch, which index)
/// and one ``Record`` of plain values (partition, offset, timestamp) filled in by the delivery
/// report; failures are kept aside by index. The ``KafkaDeliveryReport`` values (with their topic
/// strings, read from the messages sent) are built once, by the waiter, so neither creating the
/// batch nor the delivery-report thread allocates per message. librdkafka keeps a pointer to the
/// slot until the message's delivery report, and every enqueued message holds a retain of the
/// batch until then, so the slots outlive every report.
///
/// `@unchecked Sendable`: the records and the mutable state are only touched under `lock`; the
/// slots and the messages are written before any message is enqueued and only read afterwards.
/// The state lives in an allocation of its own and the waiters are `UnsafeContinuation`s (each
/// resumed exactly once, outside the lock), so a report costs one lock and a few stores: no
/// exclusivity check, no reference counting of a continuation.
final class DeliveryBatch: @unchecked Sendable {
    /// What librdkafka's opaque of one message points to.
    struct Slot {
        /// The batch, unretained (the enqueued message holds a retain of its own, see ``retainForMessage(_:)``).
        var batch: UnsafeMutableRawPointer
        var index: Int
    }

    /// One message's outcome as reported, in plain values.
    struct Record {
        enum State: UInt8 { case pending, delivered, failed }
        var state: State
        var partition: Int32
        var offset: Int64
        /// Milliseconds since the epoch, or `Int64.min` when the report carried no timestamp.
        var timestampMilliseconds: Int64

        static let pending = Record(state: .pending, partition: -1, offset: -1, timestampMilliseconds: .min)
    }

    private struct State {
        var remaining: Int
        var failures: [Int: KafkaError] = [:]
        /// The waiter for the whole batch (``wait()``).
        var waiter: UnsafeContinuation<Void, Never>?
        /// The sender waiting for room in its window (``waitUntilCompleted(atLeast:)``), and how many
        /// outcomes it waits for.
        var roomWaiter: UnsafeContinuation<Void, Never>?
        var roomTarget = 0
    }

    private let lock = NIOLock()
    private let state: UnsafeMutablePointer<State>
    private let messages: [KafkaProducerMessage]
    private let records: UnsafeMutablePointer<Record>
    private let slots: UnsafeMutablePointer<Slot>
    private let count: Int

    /// - Parameter messages: the messages of the batch, in order (kept for their topics; not copied).
    init(messages: [KafkaProducerMessage]) {
        self.messages = messages
        count = messages.count
        state = .allocate(capacity: 1)
        state.initialize(to: State(remaining: messages.count))
        records = .allocate(capacity: max(count, 1))
        records.initialize(repeating: .pending, count: count)
        slots = .allocate(capacity: max(count, 1))
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        for index in 0..<count {
            (slots + index).initialize(to: Slot(batch: opaque, index: index))
        }
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        records.deinitialize(count: count)
        records.deallocate()
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// The opaque for message `index`, holding one retain of the batch until its delivery report
    /// (``delivered(_:partition:offset:timestampMilliseconds:)`` or ``failed(_:_:)``) or
    /// ``release(_:)`` when it was not enqueued.
    func retainForMessage(_ index: Int) -> UnsafeMutableRawPointer {
        _ = Unmanaged.passRetained(self)
        return UnsafeMutableRawPointer(slots + index)
    }

    /// Gives back the retain of a message that was not enqueued (nothing will report on it).
    static func release(_ opaque: UnsafeMutableRawPointer) {
        let slot = opaque.assumingMemoryBound(to: Slot.self).pointee
        Unmanaged<DeliveryBatch>.fromOpaque(slot.batch).release()
    }

    /// A successful delivery report for the message whose opaque is `opaque`: records it and gives
    /// back the message's retain.
    static func delivered(
        _ opaque: UnsafeMutableRawPointer, partition: Int32, offset: Int64, timestampMilliseconds: Int64?
    ) {
        let slot = opaque.assumingMemoryBound(to: Slot.self).pointee
        let batch = Unmanaged<DeliveryBatch>.fromOpaque(slot.batch).takeRetainedValue()
        batch.complete(
            slot.index,
            Record(
                state: .delivered, partition: partition, offset: offset,
                timestampMilliseconds: timestampMilliseconds ?? .min),
            failure: nil)
    }

    /// A failed delivery report for the message whose opaque is `opaque`: records the error and
    /// gives back the message's retain.
    static func failed(_ opaque: UnsafeMutableRawPointer, _ error: KafkaError) {
        let slot = opaque.assumingMemoryBound(to: Slot.self).pointee
        let batch = Unmanaged<DeliveryBatch>.fromOpaque(slot.batch).takeRetainedValue()
        batch.fail(slot.index, error)
    }

    /// Records that message `index` failed (the first outcome of an index counts).
    func fail(_ index: Int, _ error: KafkaError) {
        var failed = Record.pending
        failed.state = .failed
        complete(index, failed, failure: error)
    }

    /// Records the outcome of message `index` (the first outcome of an index counts) and wakes the
    /// waiter when it was the last one.
    private func complete(_ index: Int, _ record: Record, failure: KafkaError?) {
        var roomWaiter: UnsafeContinuation<Void, Never>?
        var waiter: UnsafeContinuation<Void, Never>?
        lock.lock()
        if records[index].state == .pending {
            records[index] = record
            if let failure { state.pointee.failures[index] = failure }
            state.pointee.remaining -= 1
            let remaining = state.pointee.remaining
            if state.pointee.roomWaiter != nil, count - remaining >= state.pointee.roomTarget {
                roomWaiter = state.pointee.roomWaiter
                state.pointee.roomWaiter = nil
            }
            if remaining == 0 {
                waiter = state.pointee.waiter
                state.pointee.waiter = nil
            }
        }
        lock.unlock()
        roomWaiter?.resume()
        waiter?.resume()
    }

    /// The first failure recorded so far, in input order (`nil` while none failed).
    var firstFailure: KafkaError? {
        lock.withLock { state.pointee.failures.min { $0.key < $1.key }?.value }
    }

    /// How many messages have an outcome.
    var completedCount: Int {
        lock.withLock { count - state.pointee.remaining }
    }

    /// Suspends until at least `target` messages have an outcome (at most `count`). One sender
    /// waits at a time.
    func waitUntilCompleted(atLeast target: Int) async {
        let target = min(target, count)
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            lock.lock()
            let done = count - state.pointee.remaining >= target
            if !done {
                state.pointee.roomTarget = target
                state.pointee.roomWaiter = continuation
            }
            lock.unlock()
            if done { continuation.resume() }
        }
    }

    /// Suspends until every message has an outcome.
    func wait() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            lock.lock()
            let done = state.pointee.remaining == 0
            if !done { state.pointee.waiter = continuation }
            lock.unlock()
            if done { continuation.resume() }
        }
    }

    /// The outcomes in input order. Call after ``wait()``.
    func settled() -> [Result<KafkaDeliveryReport, KafkaError>] {
        let failures = lock.withLock { state.pointee.failures }
        var results: [Result<KafkaDeliveryReport, KafkaError>] = []
        results.reserveCapacity(count)
        for index in 0..<count {
            switch records[index].state {
            case .delivered: results.append(.success(report(index)))
            case .failed: results.append(.failure(failures[index] ?? missingReport(index)))
            case .pending: results.append(.failure(missingReport(index)))
            }
        }
        return results
    }

    /// The delivery reports in input order; throws the first failure in input order. Call after ``wait()``.
    func reports() throws(KafkaError) -> [KafkaDeliveryReport] {
        for index in 0..<count where records[index].state != .delivered {
            let failure = lock.withLock { state.pointee.failures[index] }
            throw failure ?? missingReport(index)
        }
        guard count > 0 else { return [] }
        // Written in place, each topic read from the message in place.
        return messages.withUnsafeBufferPointer { messages in
            [KafkaDeliveryReport](unsafeUninitializedCapacity: count) { buffer, initialized in
                for index in 0..<count {
                    (buffer.baseAddress! + index).initialize(to: report(topic: messages[index].topic, records[index]))
                }
                initialized = count
            }
        }
    }

    private func report(_ index: Int) -> KafkaDeliveryReport {
        report(topic: messages[index].topic, records[index])
    }

    private func report(topic: String, _ record: Record) -> KafkaDeliveryReport {
        KafkaDeliveryReport(
            topic: topic, partition: record.partition, offset: record.offset,
            timestamp: record.timestampMilliseconds == .min
                ? nil : Date(timeIntervalSince1970: Double(record.timestampMilliseconds) / 1000))
    }

    private func missingReport(_ index: Int) -> KafkaError {
        KafkaError(.delivery, "no delivery report for a message to \(messages[index].topic)")
    }
}
