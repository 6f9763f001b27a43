import Dispatch
import Logging
import NIOConcurrencyHelpers
import Observability

/// Runs inside librdkafka's rebalance callback on the consumer's poll thread: applies the eager
/// assignment change and blocks until the application's handler has finished (or timed out).
///
/// `Sendable`: immutable references to lock-protected state.
final class RebalanceCoordinator: Sendable {
    private let state: NIOLockedValueBox<KafkaConsumer.ConsumerState>
    private let buffer: ConsumerMessageBuffer
    private let handler: KafkaConsumer.RebalanceHandler?
    private let timeout: Duration
    private let logger: Logger

    init(
        state: NIOLockedValueBox<KafkaConsumer.ConsumerState>, buffer: ConsumerMessageBuffer,
        handler: KafkaConsumer.RebalanceHandler?, timeout: Duration, logger: Logger
    ) {
        self.state = state
        self.buffer = buffer
        self.handler = handler
        self.timeout = timeout
        self.logger = logger
    }

    /// - Parameter closing: the event is served by the consumer close. Then nothing but the
    ///   (un)assign itself may call into librdkafka: pause and resume are synchronous requests to
    ///   the partitions' queues, and once the close has unassigned them nothing serves those
    ///   queues, so the call would never return (seen with 2.0.2 as a close hanging forever).
    func handle(_ event: borrowing RDKafkaRebalance, closing: Bool = false) {
        let list = event.partitions
        switch event.kind {
        case .assign:
            if let failure = event.assign() {
                logger.error("assigning partitions failed", metadata: [LogKey.error: "\(failure)"])
            }
            let pauseAll = state.withLockedValue { state -> Bool in
                state.assignment = Set(list)
                state.rebalanceCount += 1
                return state.backPressurePaused
            }
            // librdkafka keeps a partition's pause flag across assignments: a partition assigned
            // again starts flowing unless the whole consumer is held back.
            if !closing {
                if pauseAll {
                    event.pausePartitions()
                } else {
                    event.resumePartitions()
                }
            }
            logger.info(
                "partitions assigned",
                metadata: [LogKey.partitions: "\(list.sorted().map(\.description).joined(separator: ","))"])
            invoke(KafkaRebalance(kind: .assigned, partitions: list))

        case .revoke:
            let lost = event.isAssignmentLost
            let dropped = buffer.removeAll(of: Set(list))
            logger.info(
                lost ? "partitions lost" : "partitions revoked",
                metadata: [
                    LogKey.partitions: "\(list.sorted().map(\.description).joined(separator: ","))",
                    LogKey.bufferedMessagesDropped: "\(dropped)",
                ])
            invoke(KafkaRebalance(kind: lost ? .lost : .revoked, partitions: list))
            event.unassign()
            state.withLockedValue { state in
                state.assignment.subtract(list)
                state.userPaused.subtract(list)
                for partition in list { state.soughtAt.removeValue(forKey: partition) }
                state.rebalanceCount += 1
            }

        case .error(let reason):
            logger.error("rebalance error; dropping assignment", metadata: [LogKey.error: "\(reason)"])
            let all = state.withLockedValue { state -> [KafkaTopicPartition] in
                defer {
                    state.assignment = []
                    state.userPaused = []
                }
                return Array(state.assignment)
            }
            _ = buffer.removeAll(of: Set(all))
            if !all.isEmpty { invoke(KafkaRebalance(kind: .lost, partitions: all)) }
            event.unassign()
        }
    }

    /// Runs the handler on the cooperative pool and blocks this (poll) thread until it returns or times out.
    private func invoke(_ event: KafkaRebalance) {
        guard let handler else { return }
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            await handler(event)
            done.signal()
        }
        let milliseconds = Int(timeout.clampedMilliseconds)
        if done.wait(timeout: .now() + .milliseconds(milliseconds)) == .timedOut {
            logger.error(
                "rebalance handler did not finish in time; proceeding",
                metadata: [LogKey.event: "\(event.kind)", LogKey.timeoutMilliseconds: "\(milliseconds)"])
            task.cancel()
        }
    }
}
