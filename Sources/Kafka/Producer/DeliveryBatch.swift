import Foundation
import NIOConcurrencyHelpers

/// Collects the delivery reports of a group of messages and wakes one waiter when all have arrived.
///
/// Per message it holds one ``Slot`` (the opaque handed to librdkafka: which batch, which index)
/// and, once reported, a plain ``Outcome``; the ``KafkaDeliveryReport`` values (with their topic
/// strings) are built once, by the waiter, so the delivery-report thread does no allocation per
/// message. librdkafka keeps a pointer to the slot until the message's delivery report, and every
/// enqueued message holds a retain of the batch until then, so the slots outlive every report.
///
/// `@unchecked Sendable`: all mutable state is behind `lock`; the slots are written before the
/// message is enqueued and only read afterwards.
final class DeliveryBatch: @unchecked Sendable {
    /// What librdkafka's opaque of one message points to.
    struct Slot {
        /// The batch, unretained (the enqueued message holds a retain of its own, see ``retainForMessage()``).
        var batch: UnsafeMutableRawPointer
        var index: Int
    }

    /// One message's outcome as reported (no strings: the topic comes from the message sent).
    enum Outcome {
        case delivered(partition: Int32, offset: Int64, timestampMilliseconds: Int64?)
        case failed(KafkaError)
    }

    private let lock = NIOLock()
    private let topics: [String]
    private var outcomes: [Outcome?]
    private var remaining: Int
    private var continuation: CheckedContinuation<Void, Never>?
    private let slots: UnsafeMutablePointer<Slot>
    private let count: Int

    /// - Parameter topics: the topic of each message, in order.
    init(topics: [String]) {
        self.topics = topics
        count = topics.count
        outcomes = Array(repeating: nil, count: topics.count)
        remaining = topics.count
        slots = .allocate(capacity: max(topics.count, 1))
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        for index in 0..<topics.count {
            (slots + index).initialize(to: Slot(batch: opaque, index: index))
        }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// The opaque for message `index`, holding one retain of the batch until its delivery report
    /// (``deliver(_:_:)``) or ``release(_:)`` when it was not enqueued.
    func retainForMessage(_ index: Int) -> UnsafeMutableRawPointer {
        _ = Unmanaged.passRetained(self)
        return UnsafeMutableRawPointer(slots + index)
    }

    /// Gives back the retain of a message that was not enqueued (nothing will report on it).
    static func release(_ opaque: UnsafeMutableRawPointer) {
        let slot = opaque.assumingMemoryBound(to: Slot.self).pointee
        Unmanaged<DeliveryBatch>.fromOpaque(slot.batch).release()
    }

    /// A delivery report for the message whose opaque is `opaque`: records its outcome and gives
    /// back its retain.
    static func deliver(_ opaque: UnsafeMutableRawPointer, _ outcome: Outcome) {
        let slot = opaque.assumingMemoryBound(to: Slot.self).pointee
        let batch = Unmanaged<DeliveryBatch>.fromOpaque(slot.batch).takeRetainedValue()
        batch.complete(slot.index, outcome)
    }

    /// Records the outcome of message `index` (the first outcome of an index counts).
    func complete(_ index: Int, _ outcome: Outcome) {
        let waiter: CheckedContinuation<Void, Never>? = lock.withLock {
            guard outcomes[index] == nil else { return nil }
            outcomes[index] = outcome
            remaining -= 1
            guard remaining == 0, let continuation else { return nil }
            self.continuation = nil
            return continuation
        }
        waiter?.resume()
    }

    /// Records that message `index` failed.
    func fail(_ index: Int, _ error: KafkaError) {
        complete(index, .failed(error))
    }

    /// Suspends until every message has an outcome; the outcomes in input order.
    func wait() async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: Bool = lock.withLock {
                if remaining == 0 { return true }
                self.continuation = continuation
                return false
            }
            if done { continuation.resume() }
        }
        let outcomes = lock.withLock { self.outcomes }
        var results: [Result<KafkaDeliveryReport, KafkaError>] = []
        results.reserveCapacity(count)
        for index in 0..<count {
            switch outcomes[index] {
            case .delivered(let partition, let offset, let milliseconds)?:
                results.append(
                    .success(
                        KafkaDeliveryReport(
                            topic: topics[index], partition: partition, offset: offset,
                            timestamp: milliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) })))
            case .failed(let error)?:
                results.append(.failure(error))
            case nil:
                results.append(.failure(KafkaError(.delivery, "no delivery report for a message to \(topics[index])")))
            }
        }
        return results
    }
}
