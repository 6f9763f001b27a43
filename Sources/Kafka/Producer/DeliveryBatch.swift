import NIOConcurrencyHelpers

/// Collects the delivery reports of a group of messages and wakes one waiter when all have arrived.
///
/// `@unchecked Sendable`: all state is behind `lock`.
final class DeliveryBatch: @unchecked Sendable {
    private let lock = NIOLock()
    private var results: [Result<KafkaDeliveryReport, KafkaError>?]
    private var remaining: Int
    private var continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>?

    init(count: Int) {
        results = Array(repeating: nil, count: count)
        remaining = count
    }

    /// Records the outcome of message `index` (exactly once per index).
    func complete(_ index: Int, _ result: Result<KafkaDeliveryReport, KafkaError>) {
        let finished:
            (
                CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>,
                [Result<KafkaDeliveryReport, KafkaError>]
            )? =
                lock.withLock {
                    guard results[index] == nil else { return nil }
                    results[index] = result
                    remaining -= 1
                    guard remaining == 0, let continuation else { return nil }
                    self.continuation = nil
                    return (continuation, results.compactMap { $0 })
                }
        if let (continuation, all) = finished { continuation.resume(returning: all) }
    }

    /// Suspends until every message has an outcome.
    func wait() async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await withCheckedContinuation { continuation in
            let ready: [Result<KafkaDeliveryReport, KafkaError>]? = lock.withLock {
                if remaining == 0 { return results.compactMap { $0 } }
                self.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// The per-message opaque handed to librdkafka (retained until its delivery report).
final class DeliveryTicket {
    let batch: DeliveryBatch
    let index: Int

    init(batch: DeliveryBatch, index: Int) {
        self.batch = batch
        self.index = index
    }
}
