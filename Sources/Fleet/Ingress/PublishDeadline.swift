import Kafka
import Synchronization

/// Publishes with an upper bound on the wait: the answer is whichever comes first, the broker's
/// acknowledgement (or failure) or the deadline. A publish that misses the deadline keeps going in
/// the background (librdkafka cannot withdraw an enqueued message); if it lands later, the vendor's
/// retry produces a duplicate record, which the worker treats as a duplicate callback.
enum PublishDeadline {
    enum Result: Sendable, Hashable {
        case acknowledged
        case failed(String)
        case timedOut
    }

    static func publish(
        _ message: KafkaProducerMessage, via publisher: any RecordPublisher, within limit: Duration
    ) async -> Result {
        let once = Once()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Result, Never>) in
            let timer = Task {
                // Only a deadline that really passed may answer: a cancelled sleep returns at once, and
                // claiming then answered "too slow" for callbacks the broker had just acknowledged.
                do { try await Task.sleep(for: limit) } catch { return }
                if once.claim() { continuation.resume(returning: .timedOut) }
            }
            Task {
                let outcome: Result
                do {
                    try await publisher.publish(message)
                    outcome = .acknowledged
                } catch {
                    outcome = .failed(String(describing: error))
                }
                if once.claim() { continuation.resume(returning: outcome) }
                timer.cancel()
            }
        }
    }

    /// Lets exactly one of two racers resume the continuation.
    private final class Once: Sendable {
        private let claimed = Mutex(false)
        func claim() -> Bool {
            claimed.withLock { claimed in
                defer { claimed = true }
                return !claimed
            }
        }
    }
}
