import Foundation
import Kafka
import Logging
import Synchronization

/// Logs mis-partitioned inputs with a rate limit: the first one at once, then at most one line per
/// `interval`, each saying how many were forwarded since the previous line. A producer with the
/// wrong partitioner sends most of its records to the wrong partition, so one line per record would
/// flood the log; the counter `payfleet_requests_rerouted_total` has the exact number.
final class RerouteReporter: Sendable {
    private struct State {
        var lastLogged: ContinuousClock.Instant?
        var suppressed = 0
    }

    private let interval: Duration
    private let state = Mutex(State())

    init(interval: Duration = .seconds(10)) {
        self.interval = interval
    }

    /// Records one forwarded input and logs it when the rate limit allows.
    func forwarded(_ message: KafkaConsumerMessage, to owner: Int32, logger: Logger) {
        let now = ContinuousClock.now
        let suppressed = state.withLock { state -> Int? in
            if let last = state.lastLogged, now - last < interval {
                state.suppressed += 1
                return nil
            }
            defer {
                state.lastLogged = now
                state.suppressed = 0
            }
            return state.suppressed
        }
        guard let suppressed else { return }
        logger.warning(
            "input on the wrong partition forwarded to its owner; its producer does not partition by murmur2 (set partitioner=murmur2_random in librdkafka clients)",
            metadata: [
                "owner_partition": "\(owner)",
                "producer": "\(PartitionOwnership.producerName(of: message) ?? "unknown")",
                "forwarded_unlogged": "\(suppressed)",
            ])
    }
}
