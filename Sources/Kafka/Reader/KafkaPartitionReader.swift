import CRdKafka
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Reads partitions outside any consumer group, from the beginning up to the high watermark measured
/// when the read starts — e.g. restoring a compacted changelog partition (`payfleet.order-state`)
/// when the matching input partition is assigned.
///
/// ```swift
/// let reader = try KafkaPartitionReader(configuration: .fromEnvironment(), logger: logger)
/// for try await record in reader.readToEnd(topic: "payfleet.order-state", partitions: [p]) {
///     if let value = record.value { state[record.keyString!] = value } else { state[record.keyString!] = nil }
/// }
/// ```
///
/// It never commits and never joins a group. Reads are serialized: one read sequence is active at a
/// time per reader (reading several partitions in one call is efficient).
public final class KafkaPartitionReader: Sendable {
    private let client: RDKafkaClient
    private let queue: QueueHandle
    private let lifecycle: ClientLifecycle
    private let readLock: NIOLockedValueBox<Bool>
    private let logger: Logger
    private let idleTimeout: Duration

    /// Creates the reader.
    ///
    /// - Parameter idleTimeout: a read fails when no message arrives for this long before the end is reached.
    public init(configuration: KafkaConfiguration, logger: Logger, idleTimeout: Duration = .seconds(30)) throws {
        let defaults = [
            // A group id is needed for the consumer queue; assign() never joins the group and nothing commits.
            "group.id": "payfleet-reader-\(UUID().uuidString.lowercased())",
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "enable.partition.eof": "true",
            "auto.offset.reset": "earliest",
        ]
        var properties = configuration.effectiveProperties(defaults: defaults)
        properties["enable.partition.eof"] = "true"
        properties["enable.auto.commit"] = "false"
        properties.removeValue(forKey: "group.instance.id")
        let context = RDKafkaClientContext(logger: logger)
        let client = try RDKafkaClient.make(type: RD_KAFKA_CONSUMER, properties: properties, context: context, label: "reader")
        rd_kafka_poll_set_consumer(client.handle)
        guard let queue = rd_kafka_queue_get_consumer(client.handle) else {
            client.destroy()
            throw KafkaError(.clientCreation, "the partition reader has no consumer queue")
        }
        self.client = client
        self.queue = QueueHandle(pointer: queue)
        self.lifecycle = ClientLifecycle(name: "partition reader")
        self.readLock = NIOLockedValueBox(false)
        self.logger = logger
        self.idleTimeout = idleTimeout
    }

    /// The messages of `partitions` of `topic` from their low watermark (or from `start[p]` when it
    /// is higher) up to (excluding) the high watermark at the time the read starts, in offset order
    /// per partition; tombstones included.
    public func readToEnd(topic: String, partitions: [Int32], from start: [Int32: Int64] = [:]) -> KafkaPartitionReadSequence {
        KafkaPartitionReadSequence(reader: self, topic: topic, partitions: partitions, start: start)
    }

    /// Low/high watermarks of a partition.
    public func watermarks(topic: String, partition: Int32, timeout: Duration = .seconds(10)) async throws -> KafkaWatermarks {
        let client = self.client
        let lifecycle = self.lifecycle
        return try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in
                try client.watermarks(topic: topic, partition: partition, timeoutMilliseconds: timeout.clampedMilliseconds)
            }
        }
    }

    /// Cluster metadata (all topics).
    public func metadata(timeout: Duration = .seconds(10)) async throws -> KafkaClusterMetadata {
        let client = self.client
        let lifecycle = self.lifecycle
        return try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in try client.metadata(timeoutMilliseconds: timeout.clampedMilliseconds) }
        }
    }

    /// The number of partitions of a topic (throws `.metadata` when it does not exist).
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) async throws -> Int {
        guard let metadata = try await metadata(timeout: timeout).topic(topic) else {
            throw KafkaError(.metadata, "topic \(topic) does not exist")
        }
        return metadata.partitionCount
    }

    /// Destroys the reader. Idempotent.
    public func close() async {
        guard lifecycle.beginClosing() else {
            await lifecycle.waitUntilClosed()
            return
        }
        let client = self.client
        let lifecycle = self.lifecycle
        let queue = self.queue
        client.blockingQueue.async {
            lifecycle.waitUntilIdle(deadline: .now + .seconds(30))
            rd_kafka_queue_destroy(queue.pointer)
            client.destroy(flags: RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
            lifecycle.markClosed()
        }
        await lifecycle.waitUntilClosed()
    }

    // MARK: Read session (called by the sequence's iterator)

    func begin(topic: String, partitions: [Int32], start: [Int32: Int64] = [:]) async throws(KafkaError) -> [Int32: Int64] {
        let busy = readLock.withLockedValue { busy -> Bool in
            defer { busy = true }
            return busy
        }
        if busy { throw KafkaError(.consumer, "the partition reader is already reading; reads are one at a time") }
        do {
            let client = self.client
            let lifecycle = self.lifecycle
            return try await client.blocking { () throws(KafkaError) in
                try lifecycle.using { () throws(KafkaError) -> [Int32: Int64] in
                    var targets: [Int32: Int64] = [:]
                    var starts: [KafkaTopicPartitionOffset] = []
                    for partition in Set(partitions) {
                        let marks = try client.watermarks(topic: topic, partition: partition, timeoutMilliseconds: 10_000)
                        let first = max(marks.low, start[partition] ?? marks.low)
                        if marks.high > first {
                            targets[partition] = marks.high
                            starts.append(KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: first))
                        }
                    }
                    let list = RDKafkaTopicPartitionList(starts)
                    let err = list.withPointer { rd_kafka_assign(client.handle, $0) }
                    guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.consumer, "assigning \(topic)", err) }
                    return targets
                }
            }
        } catch {
            end()
            throw error
        }
    }

    /// One batch of messages (blocking on the reader's queue, never the cooperative pool).
    func fetch(topic: String, targets: [Int32: Int64]) async throws(KafkaError) -> (messages: [KafkaConsumerMessage], finished: Set<Int32>) {
        let client = self.client
        let lifecycle = self.lifecycle
        let queue = self.queue
        let logger = self.logger
        return try await client.blocking { () throws(KafkaError) in
            try lifecycle.using { () throws(KafkaError) in
                var buffer = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: 500)
                let count = rd_kafka_consume_batch_queue(queue.pointer, 200, &buffer, buffer.count)
                guard count >= 0 else { throw KafkaError.rd(.consumer, "reading \(topic)", rd_kafka_last_error()) }
                var messages: [KafkaConsumerMessage] = []
                var finished = Set<Int32>()
                var failure: KafkaError?
                for index in 0..<count {
                    guard let message = buffer[index] else { continue }
                    defer { rd_kafka_message_destroy(message) }
                    let m = message.pointee
                    let target = targets[m.partition] ?? 0
                    if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                        finished.insert(m.partition)
                    } else if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                        let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
                        if m.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || m.err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION
                            || m.err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE
                        {
                            failure = failure ?? KafkaError.rd(.consumer, "reading \(topic)[\(m.partition)]: \(text)", m.err)
                        } else {
                            logger.notice("partition read error (retrying)", metadata: ["error": "\(text)"])
                        }
                    } else if m.offset < target {
                        messages.append(KafkaConsumerMessage(UnsafePointer(message)))
                        if m.offset >= target - 1 { finished.insert(m.partition) }
                    } else {
                        finished.insert(m.partition)
                    }
                }
                if let failure { throw failure }
                return (messages, finished)
            }
        }
    }

    func end() {
        _ = try? lifecycle.using { () throws(KafkaError) in rd_kafka_assign(client.handle, nil) }
        readLock.withLockedValue { $0 = false }
    }

    var readIdleTimeout: Duration { idleTimeout }
}

/// `rd_kafka_queue_t*`. `@unchecked Sendable`: librdkafka queues are thread-safe; destroyed once at close.
struct QueueHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// The messages of a partition read (``KafkaPartitionReader/readToEnd(topic:partitions:)``).
public struct KafkaPartitionReadSequence: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    let reader: KafkaPartitionReader
    let topic: String
    let partitions: [Int32]
    var start: [Int32: Int64] = [:]

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(reader: reader, topic: topic, partitions: partitions, start: start)
    }

    /// Iterator; ends at the high watermark of every partition. Finishing early (break) releases the reader
    /// when the iterator is deallocated.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: KafkaPartitionReader
        let topic: String
        let partitions: [Int32]
        let start: [Int32: Int64]
        private var session: Session?
        private var pending: [KafkaConsumerMessage] = []
        private var done = false

        init(reader: KafkaPartitionReader, topic: String, partitions: [Int32], start: [Int32: Int64]) {
            self.reader = reader
            self.topic = topic
            self.partitions = partitions
            self.start = start
        }

        /// Ends the read (releases the reader) when the iterator goes away.
        final class Session {
            let reader: KafkaPartitionReader
            var remaining: [Int32: Int64]
            let targets: [Int32: Int64]
            var lastProgress = ContinuousClock.now
            var ended = false
            init(reader: KafkaPartitionReader, targets: [Int32: Int64]) {
                self.reader = reader
                self.targets = targets
                self.remaining = targets
            }
            func end() {
                guard !ended else { return }
                ended = true
                reader.end()
            }
            deinit { end() }
        }

        public mutating func next() async throws -> KafkaConsumerMessage? {
            if let next = pending.popLast() { return next }
            if done { return nil }
            if session == nil {
                let targets = try await reader.begin(topic: topic, partitions: partitions, start: start)
                session = Session(reader: reader, targets: targets)
            }
            guard let session else { return nil }
            while pending.isEmpty {
                if session.remaining.isEmpty {
                    session.end()
                    done = true
                    return nil
                }
                try Task.checkCancellation()
                let batch: (messages: [KafkaConsumerMessage], finished: Set<Int32>)
                do {
                    batch = try await reader.fetch(topic: topic, targets: session.targets)
                } catch {
                    session.end()
                    done = true
                    throw error
                }
                for partition in batch.finished { session.remaining.removeValue(forKey: partition) }
                if batch.messages.isEmpty && batch.finished.isEmpty {
                    if session.lastProgress.duration(to: .now) > reader.readIdleTimeout {
                        session.end()
                        done = true
                        throw KafkaError(
                            .timedOut,
                            "reading \(topic) made no progress for \(reader.readIdleTimeout); partitions left: \(session.remaining.keys.sorted())")
                    }
                } else {
                    session.lastProgress = .now
                }
                pending = batch.messages
                pending.reverse()
            }
            return pending.removeLast()
        }
    }
}
