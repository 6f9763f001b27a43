import CRdKafka
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
    func handle(
        rk: OpaquePointer, err: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        closing: Bool = false
    ) {
        let list = RDKafkaTopicPartitionList.partitions(of: partitions)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let assignErr = rd_kafka_assign(rk, partitions)
            if assignErr != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.error("assigning partitions failed", metadata: [LogKey.error: "\(String(cString: rd_kafka_err2str(assignErr)))"])
            }
            let pauseAll = state.withLockedValue { state -> Bool in
                state.assignment = Set(list)
                state.rebalanceCount += 1
                return state.backPressurePaused
            }
            // librdkafka keeps a partition's pause flag across assignments: a partition assigned
            // again starts flowing unless the whole consumer is held back.
            if !closing, let partitions {
                if pauseAll {
                    rd_kafka_pause_partitions(rk, partitions)
                } else {
                    rd_kafka_resume_partitions(rk, partitions)
                }
            }
            logger.info("partitions assigned", metadata: [LogKey.partitions: "\(list.sorted().map(\.description).joined(separator: ","))"])
            invoke(KafkaRebalance(kind: .assigned, partitions: list))

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            let dropped = buffer.removeAll(of: Set(list))
            logger.info(
                lost ? "partitions lost" : "partitions revoked",
                metadata: [
                    LogKey.partitions: "\(list.sorted().map(\.description).joined(separator: ","))",
                    LogKey.bufferedMessagesDropped: "\(dropped)",
                ])
            invoke(KafkaRebalance(kind: lost ? .lost : .revoked, partitions: list))
            rd_kafka_assign(rk, nil)
            state.withLockedValue { state in
                state.assignment.subtract(list)
                state.userPaused.subtract(list)
                for partition in list { state.soughtAt.removeValue(forKey: partition) }
                state.rebalanceCount += 1
            }

        default:
            logger.error("rebalance error; dropping assignment", metadata: [LogKey.error: "\(String(cString: rd_kafka_err2str(err)))"])
            let all = state.withLockedValue { state -> [KafkaTopicPartition] in
                defer {
                    state.assignment = []
                    state.userPaused = []
                }
                return Array(state.assignment)
            }
            _ = buffer.removeAll(of: Set(all))
            if !all.isEmpty { invoke(KafkaRebalance(kind: .lost, partitions: all)) }
            rd_kafka_assign(rk, nil)
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
