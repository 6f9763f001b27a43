import CRdKafka
import Foundation
import Logging

extension RDKafkaClient {
    /// Routes the main queue (errors, rebalances) to the consumer queue, so one poll serves both.
    func redirectMainQueueToConsumer() {
        rd_kafka_poll_set_consumer(handle)
    }

    /// Joins the group for these topics (replacing an earlier subscription).
    func subscribe(topics: [String]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(
            topics.map { KafkaTopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA) })
        let err = list.withPointer { rd_kafka_subscribe(handle, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rd(.consumer, "subscribing to \(topics.joined(separator: ","))", err)
        }
    }

    /// Assigns partitions at explicit offsets without joining a group; `nil` drops the assignment.
    func assign(_ offsets: [KafkaTopicPartitionOffset]?) throws(KafkaError) {
        let err: rd_kafka_resp_err_t
        if let offsets {
            err = RDKafkaTopicPartitionList(offsets).withPointer { rd_kafka_assign(handle, $0) }
        } else {
            err = rd_kafka_assign(handle, nil)
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.consumer, "assigning partitions", err) }
    }

    /// Stores offsets for the next commit; a partition no longer assigned gives `.notAssigned`.
    func storeOffsets(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets)
        let (err, failures) = list.withPointer { pointer in
            (rd_kafka_offsets_store(handle, pointer), RDKafkaTopicPartitionList.errors(of: pointer))
        }
        if let (partition, partitionError) = failures.first {
            let code: KafkaError.Code = partitionError == RD_KAFKA_RESP_ERR__STATE ? .notAssigned : .consumer
            throw KafkaError.rd(code, "storing offset for \(partition)", partitionError)
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.consumer, "storing offsets", err) }
    }

    /// Synchronously commits explicit offsets, or the stored offsets of the assignment (`nil`).
    /// Nothing to commit is not an error.
    func commit(_ offsets: [KafkaTopicPartitionOffset]?) throws(KafkaError) {
        let err: rd_kafka_resp_err_t
        if let offsets {
            err = RDKafkaTopicPartitionList(offsets).withPointer { rd_kafka_commit(handle, $0, 0) }
        } else {
            err = rd_kafka_commit(handle, nil, 0)
        }
        if err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        throw KafkaError.rd(.consumer, "commit failed", err)
    }

    /// The group's committed offsets for these partitions (blocking).
    func committed(
        _ partitions: [KafkaTopicPartition], timeoutMilliseconds: Int32
    ) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        try RDKafkaTopicPartitionList(partitions).withPointer { pointer throws(KafkaError) in
            let err = rd_kafka_committed(handle, pointer, timeoutMilliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.rd(.consumer, "fetching committed offsets", err)
            }
            return RDKafkaTopicPartitionList.elements(of: pointer)
        }
    }

    /// Stops fetching these partitions.
    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let err = RDKafkaTopicPartitionList(partitions).withPointer { rd_kafka_pause_partitions(handle, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.consumer, "pausing partitions", err) }
    }

    /// Resumes fetching these partitions.
    func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let err = RDKafkaTopicPartitionList(partitions).withPointer { rd_kafka_resume_partitions(handle, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.consumer, "resuming partitions", err) }
    }

    /// Moves the fetch positions (blocking). librdkafka < 2.1.0 uses a 1000x too short seek timeout:
    /// partitions failing with `_TIMED_OUT` are retried until `timeout` has passed.
    func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration, logger: Logger) throws(KafkaError) {
        let deadline = ContinuousClock.now + timeout
        var pending = offsets
        while true {
            let failures = try RDKafkaTopicPartitionList(pending).withPointer { pointer throws(KafkaError) in
                if let error = rd_kafka_seek_partitions(handle, pointer, timeout.clampedMilliseconds) {
                    throw KafkaError.consuming(.consumer, "seek failed", error)
                }
                return RDKafkaTopicPartitionList.errors(of: pointer)
            }
            guard !failures.isEmpty else { return }
            let retriable = failures.allSatisfy { $0.1 == RD_KAFKA_RESP_ERR__TIMED_OUT }
            guard retriable, ContinuousClock.now < deadline else {
                let (partition, err) = failures[0]
                throw KafkaError.rd(.consumer, "seek of \(partition) failed", err)
            }
            logger.debug("seek timed out (librdkafka 2.0.2 seek timeout bug); retrying")
            let failed = Set(failures.map(\.0))
            pending = pending.filter { failed.contains($0.topicPartition) }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Polls the consumer queue once (serving rebalances and errors). Calls `body` with the message, if
    /// one arrived, and destroys it afterwards; returns `nil` when the timeout passed without one.
    func consumerPoll<T>(timeoutMilliseconds: Int32, _ body: (borrowing RDKafkaMessage) -> T) -> T? {
        guard let message = rd_kafka_consumer_poll(handle, timeoutMilliseconds) else { return nil }
        defer { rd_kafka_message_destroy(message) }
        return body(RDKafkaMessage(borrowing: UnsafePointer(message)))
    }

    /// The consumer's own queue, for batch reads (assign-only readers).
    func consumerQueue() -> RDKafkaQueue? {
        rd_kafka_queue_get_consumer(handle).map(RDKafkaQueue.init(owning:))
    }

    /// Closes the consumer (commit of nothing further, final revocation, LeaveGroup) by serving a close
    /// queue until librdkafka reports the consumer closed or `deadline` passes. Revocations that arrive
    /// meanwhile go to `onRebalance`. Returns whether the close completed.
    ///
    /// The close queue is served with the event API: it also receives fetched messages, which
    /// `rd_kafka_queue_poll_callback` would assert on (rdkafka_queue.c "res != PASS").
    func closeConsumer(
        deadline: ContinuousClock.Instant, logger: Logger, onRebalance: (borrowing RDKafkaRebalance) -> Void
    ) -> Bool {
        guard let queue = rd_kafka_queue_new(handle) else { return false }
        defer { rd_kafka_queue_destroy(queue) }
        if let error = rd_kafka_consumer_close_queue(handle, queue) {
            logger.warning(
                "consumer close failed", metadata: ["error": "\(KafkaError.consuming(.consumer, "close", error))"])
            return false
        }
        while rd_kafka_consumer_closed(handle) == 0 && ContinuousClock.now < deadline {
            guard let event = rd_kafka_queue_poll(queue, 100) else { continue }
            if rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE {
                onRebalance(
                    RDKafkaRebalance(
                        handle: handle, err: rd_kafka_event_error(event),
                        list: rd_kafka_event_topic_partition_list(event)))
            }
            rd_kafka_event_destroy(event)
        }
        return rd_kafka_consumer_closed(handle) != 0
    }
}

/// An owned `rd_kafka_queue_t` (a consumer's queue for batch reads).
///
/// `@unchecked Sendable`: librdkafka queues are thread-safe; the owner calls ``destroy()`` once, after
/// the last read and before destroying the client.
final class RDKafkaQueue: @unchecked Sendable {
    private let pointer: OpaquePointer

    fileprivate init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    /// Reads up to `maxMessages` messages (blocking up to `timeoutMilliseconds`), handing each to `body`
    /// and destroying it afterwards. Returns how many were read.
    func consumeBatch(
        timeoutMilliseconds: Int32, maxMessages: Int, context: String, _ body: (borrowing RDKafkaMessage) -> Void
    ) throws(KafkaError) -> Int {
        var buffer = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: maxMessages)
        let count = rd_kafka_consume_batch_queue(pointer, timeoutMilliseconds, &buffer, buffer.count)
        guard count >= 0 else { throw KafkaError.rd(.consumer, context, rd_kafka_last_error()) }
        for index in 0..<count {
            guard let message = buffer[index] else { continue }
            defer { rd_kafka_message_destroy(message) }
            body(RDKafkaMessage(borrowing: UnsafePointer(message)))
        }
        return count
    }

    func destroy() {
        rd_kafka_queue_destroy(pointer)
    }
}
