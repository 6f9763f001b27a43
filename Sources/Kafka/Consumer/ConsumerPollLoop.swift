import CRdKafka
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
            let rk = client.handle
            var batch: [KafkaConsumerMessage] = []
            batch.reserveCapacity(Self.maxBatch)
            var fatalReported = false
            var fullSince: ContinuousClock.Instant?
            while !state.withLockedValue({ $0.stopRequested }) {
                if holdWhileFull(&fullSince) { continue }
                applyBackPressure()
                let (startSeek, startRebalance) = state.withLockedValue { ($0.seekCounter, $0.rebalanceCount) }
                // First call waits (serving rebalances and errors), then drain what is ready.
                var timeout: Int32 = 100
                while batch.count < Self.maxBatch, let message = rd_kafka_consumer_poll(rk, timeout) {
                    timeout = 0
                    defer { rd_kafka_message_destroy(message) }
                    if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                        batch.append(KafkaConsumerMessage(UnsafePointer(message)))
                    } else {
                        report(message)
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
                                    return state.assignment.contains(partition) && (state.soughtAt[partition] ?? Int.min) <= startSeek
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
                    let list = RDKafkaTopicPartitionList(Array(state.assignment))
                    list.withPointer { _ = rd_kafka_pause_partitions(client.handle, $0) }
                    logger.debug("consumer buffer full; pausing fetch", metadata: [LogKey.buffered: "\(count)"])
                } else if state.backPressurePaused && count <= bufferSize / 2 {
                    state.backPressurePaused = false
                    let list = RDKafkaTopicPartitionList(Array(state.assignment.subtracting(state.userPaused)))
                    list.withPointer { _ = rd_kafka_resume_partitions(client.handle, $0) }
                    logger.debug("consumer buffer drained; resuming fetch", metadata: [LogKey.buffered: "\(count)"])
                }
            }
        }

        private func report(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
            let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
            let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            let level: Logger.Level =
                err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ? .notice : .warning
            logger.log(
                level: level, "consumer error",
                metadata: [
                    LogKey.error: "\(String(cString: rd_kafka_err2name(err)))", LogKey.reason: "\(text)", LogKey.topic: "\(topic)",
                    LogKey.partition: "\(message.pointee.partition)",
                ])
        }

        /// Ends the sequence, commits stored offsets, leaves the group (serving the final revocation),
        /// destroys the handle — within the close deadline.
        private func shutdown() {
            let rk = client.handle
            let deadline = closeRequest.deadline ?? .now + .seconds(30)
            buffer.finish()
            if state.withLockedValue({ $0.abandon }) {
                lifecycle.beginClosing()
                lifecycle.waitUntilIdle(deadline: .now + .seconds(5))
                client.destroy(flags: RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
                lifecycle.markClosed()
                return
            }
            let hasAssignment = state.withLockedValue { !$0.assignment.isEmpty }
            if hasAssignment {
                let err = rd_kafka_commit(rk, nil, 0)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
                    logger.warning("commit on close failed", metadata: [LogKey.error: "\(String(cString: rd_kafka_err2str(err)))"])
                }
            }
            var closed = false
            if let queue = rd_kafka_queue_new(rk) {
                if let error = rd_kafka_consumer_close_queue(rk, queue) {
                    logger.warning("consumer close failed", metadata: [LogKey.error: "\(KafkaError.consuming(.consumer, "close", error))"])
                } else {
                    // Serve the close queue with the event API: it also receives fetched messages, which
                    // rd_kafka_queue_poll_callback would assert on (rdkafka_queue.c "res != PASS").
                    while rd_kafka_consumer_closed(rk) == 0 && ContinuousClock.now < deadline {
                        guard let event = rd_kafka_queue_poll(queue, 100) else { continue }
                        if rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE {
                            rebalance.handle(
                                rk: rk, err: rd_kafka_event_error(event), partitions: rd_kafka_event_topic_partition_list(event),
                                closing: true)
                        }
                        rd_kafka_event_destroy(event)
                    }
                    closed = rd_kafka_consumer_closed(rk) != 0
                }
                rd_kafka_queue_destroy(queue)
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
            client.destroy(flags: closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
            lifecycle.markClosed()
        }
    }
}
