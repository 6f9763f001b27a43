import DequeModule
import NIOConcurrencyHelpers

/// The hand-off between the consumer's poll thread and the application's iterator.
///
/// `@unchecked Sendable`: all state is behind `lock`.
final class ConsumerMessageBuffer: @unchecked Sendable {
    private let lock = NIOLock()
    private var messages = Deque<KafkaConsumerMessage>()
    private var waiter: CheckedContinuation<KafkaConsumerMessage?, any Error>?
    private var finished = false
    private var failure: KafkaError?
    private var lastTake = ContinuousClock.now

    /// Messages buffered and not yet taken by the application.
    var count: Int { lock.withLock { messages.count } }

    /// When the application last took a message (or the buffer was empty), for stall detection.
    var idleSince: ContinuousClock.Instant? {
        lock.withLock { messages.isEmpty ? nil : lastTake }
    }

    /// Appends messages (poll thread).
    func append(contentsOf batch: [KafkaConsumerMessage]) {
        guard !batch.isEmpty else { return }
        let resumed: (CheckedContinuation<KafkaConsumerMessage?, any Error>, KafkaConsumerMessage)? = lock.withLock {
            guard !finished else { return nil }
            if messages.isEmpty { lastTake = .now }
            messages.append(contentsOf: batch)
            guard let waiter, let first = messages.popFirst() else { return nil }
            self.waiter = nil
            lastTake = .now
            return (waiter, first)
        }
        if let (waiter, message) = resumed { waiter.resume(returning: message) }
    }

    /// Drops buffered messages of the given partitions (revocation: the next owner will process them).
    func removeAll(of partitions: Set<KafkaTopicPartition>) -> Int {
        lock.withLock {
            let before = messages.count
            messages.removeAll { partitions.contains($0.topicPartition) }
            return before - messages.count
        }
    }

    /// Ends the sequence: buffered messages are dropped; a pending `next()` returns `nil` or throws `error`.
    func finish(error: KafkaError? = nil) {
        let waiter: CheckedContinuation<KafkaConsumerMessage?, any Error>? = lock.withLock {
            guard !finished else { return nil }
            finished = true
            failure = error
            messages.removeAll()
            defer { self.waiter = nil }
            return self.waiter
        }
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    /// The next message, waiting for one; `nil` once finished. Runs on the caller's actor
    /// (`isolation`), so a message already buffered is taken without leaving it.
    func next(isolation: isolated (any Actor)? = #isolation) async throws -> KafkaConsumerMessage? {
        // A buffered message is taken at once, without a continuation (an allocation) per message.
        let buffered: KafkaConsumerMessage? = lock.withLock {
            guard let first = messages.popFirst() else { return nil }
            lastTake = .now
            return first
        }
        if let buffered { return buffered }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation(isolation: isolation) {
                (continuation: CheckedContinuation<KafkaConsumerMessage?, any Error>) in
                enum Immediate { case message(KafkaConsumerMessage), end, failed(KafkaError), cancelled, wait }
                let immediate: Immediate = lock.withLock {
                    if let first = messages.popFirst() {
                        lastTake = .now
                        return .message(first)
                    }
                    if finished { return failure.map { .failed($0) } ?? .end }
                    if Task.isCancelled { return .cancelled }
                    precondition(waiter == nil, "KafkaConsumer.messages supports one iterator at a time")
                    waiter = continuation
                    return .wait
                }
                switch immediate {
                case .message(let message): continuation.resume(returning: message)
                case .end: continuation.resume(returning: nil)
                case .failed(let error): continuation.resume(throwing: error)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let waiter: CheckedContinuation<KafkaConsumerMessage?, any Error>? = lock.withLock {
                defer { self.waiter = nil }
                return self.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}

/// The messages of a ``KafkaConsumer`` as an `AsyncSequence`. Iterate it from one task at a time.
///
/// The sequence ends (returns `nil`) when the consumer is closed and throws ``KafkaError`` `.fatal`
/// when librdkafka reports a fatal error.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    let buffer: ConsumerMessageBuffer

    /// Iterator over consumed messages.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: ConsumerMessageBuffer
        /// The next message; `nil` when the consumer has been closed.
        public mutating func next() async throws -> KafkaConsumerMessage? {
            try await buffer.next(isolation: nil)
        }

        /// The next message, taken on the caller's actor: a loop isolated to an actor that handles
        /// each message on that actor does not hop off and back for every message.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> KafkaConsumerMessage? {
            try await buffer.next(isolation: actor)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}
