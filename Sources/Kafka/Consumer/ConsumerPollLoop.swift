import Foundation
import Logging
import NIOConcurrencyHelpers
import Observability

extension KafkaConsumer {
    /// The body of the consumer's poll thread.
    ///
    /// `Sendable`: immutable references to thread-safe objects.
    struct PollLoop: Sendable {
        let client: RDKafkaClient
        let lifecycle: ClientLifecycle
        let buffer: ConsumerMessageBuffer
        let state: NIOLockedValueBox<ConsumerState>
        let closeRequest: CloseRequest
        let rebalance: RebalanceCoordinator
        let bufferSize: Int
        let logger: Logger

        static let maxBatch = 500

        func run() {
            var batch: [KafkaConsumerMessage] = []
            batch.reserveCapacity(Self.maxBatch)
            var fatalReported = false
            var fullSince: ContinuousClock.Instant?
            var names = RDKafkaNames.Consumed()
            while !state.withLockedValue({ $0.stopRequested }) {
                if holdWhileFull(&fullSince) { continue }
                applyBackPressure()
                let (startSeek, startRebalance) = state.withLockedValue { ($0.seekCounter, $0.rebalanceCount) }
                // First call waits (serving rebalances and errors), then drain what is ready.
                var timeout: Int32 = 100
                while batch.count < Self.maxBatch,
                    let polled = client.consumerPoll(
                        timeoutMilliseconds: timeout,
                        { message -> Result<KafkaConsumerMessage, RDKafkaMessageError> in
                            if let error = message.error { return .failure(error) }
                            return .success(message.consumerMessage(names: &names))
                        })
                {
                    timeout = 0
                    switch polled {
                    case .success(let message): batch.append(message)
                    case .failure(let error): report(error)
                    }
                }
                if !batch.isEmpty {
                    // Under the state lock, so a concurrent seek cannot slip between the check and the append.
                    state.withLockedValue { state in
                        if state.seekCounter == startSeek && state.rebalanceCount == startRebalance {
                            buffer.append(contentsOf: batch)
                        } else {
                            // A rebalance or seek happened while this batch was fetched: keep only messages
                            // of still-assigned partitions that were not sought since the batch began.
                            buffer.append(
                                contentsOf: batch.filter {
                                    let partition = $0.topicPartition
                                    return state.assignment.contains(partition)
                                        && (state.soughtAt[partition] ?? Int.min) <= startSeek
                                })
                        }
                    }
                }
                batch.removeAll(keepingCapacity: true)
                if !fatalReported, let fatal = client.context.fatalError.withLockedValue({ $0 }) {
                    fatalReported = true
                    buffer.finish(error: fatal)
                }
            }
            shutdown()
        }

        /// Short stalls: while the buffer is full, stop polling (librdkafka's own prefetch queue is bounded
        /// by `queued.max.messages.kbytes`) and wait for the application to drain it. Returns `true` when
        /// the caller should skip this poll. After ``stallThreshold`` the loop falls back to pausing the
        /// assignment and polling again, so rebalances are still served while the application is stuck.
        private func holdWhileFull(_ fullSince: inout ContinuousClock.Instant?) -> Bool {
            guard buffer.count >= bufferSize, !state.withLockedValue({ $0.backPressurePaused }) else {
                fullSince = nil
                return false
            }
            let now = ContinuousClock.now
            let since = fullSince ?? now
            fullSince = since
            guard since.duration(to: now) < Self.stallThreshold else { return false }
            let until = now + .milliseconds(50)
            while buffer.count > bufferSize / 2 && ContinuousClock.now < until {
                Thread.sleep(forTimeInterval: 0.001)
            }
            return true
        }

        static let stallThreshold = Duration.seconds(1)

        /// Pauses the whole assignment when the buffer stays full, resumes at half.
        private func applyBackPressure() {
            let count = buffer.count
            state.withLockedValue { state in
                if !state.backPressurePaused && count >= bufferSize {
                    state.backPressurePaused = true
                    try? client.pause(Array(state.assignment))
                    logger.debug("consumer buffer full; pausing fetch", metadata: [LogKey.buffered: "\(count)"])
                } else if state.backPressurePaused && count <= bufferSize / 2 {
                    state.backPressurePaused = false
                    try? client.resume(Array(state.assignment.subtracting(state.userPaused)))
                    logger.debug("consumer buffer drained; resuming fetch", metadata: [LogKey.buffered: "\(count)"])
                }
            }
        }

        private func report(_ error: RDKafkaMessageError) {
            if error.isPartitionEOF { return }
            logger.log(
                level: error.isConnectionTrouble ? .notice : .warning, "consumer error",
                metadata: [
                    LogKey.error: "\(error.name)", LogKey.reason: "\(error.reason)", LogKey.topic: "\(error.topic)",
                    LogKey.partition: "\(error.partition)",
                ])
        }

        /// Ends the sequence, commits stored offsets, leaves the group (serving the final revocation),
        /// destroys the handle — within the close deadline.
        private func shutdown() {
            let deadline = closeRequest.deadline ?? .now + .seconds(30)
            buffer.finish()
            if state.withLockedValue({ $0.abandon }) {
                lifecycle.beginClosing()
                lifecycle.waitUntilIdle(deadline: .now + .seconds(5))
                client.destroy(skipConsumerClose: true)
                lifecycle.markClosed()
                return
            }
            let hasAssignment = state.withLockedValue { !$0.assignment.isEmpty }
            if hasAssignment {
                do {
                    try client.commit(nil)
                } catch {
                    logger.warning("commit on close failed", metadata: [LogKey.error: "\(error.message)"])
                }
            }
            let closed = client.closeConsumer(deadline: deadline, logger: logger) { event in
                rebalance.handle(event, closing: true)
            }
            if closed {
                // A dynamic member has sent its LeaveGroup; a static one (group.instance.id) keeps its
                // membership until session.timeout.ms by design.
                logger.info("consumer closed and left the group")
            } else {
                logger.warning("consumer did not leave the group before the close deadline")
            }
            lifecycle.beginClosing()
            lifecycle.waitUntilIdle(deadline: deadline + .seconds(5))
            client.destroy(skipConsumerClose: !closed)
            lifecycle.markClosed()
        }
    }
}
