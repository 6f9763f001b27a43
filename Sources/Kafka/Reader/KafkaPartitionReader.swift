import Foundation
import Logging
import NIOConcurrencyHelpers
import Observability

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
    private let queue: RDKafkaQueue
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
        // Aborted transactions (a fenced worker's late writes) are never read; the end of a
        // partition is its last stable offset, so a transaction still open is not waited for.
        properties["isolation.level"] = "read_committed"
        properties.removeValue(forKey: "group.instance.id")
        let context = RDKafkaClientContext(logger: logger)
        let client = try RDKafkaClient.make(kind: .consumer, properties: properties, context: context, label: "reader")
        client.redirectMainQueueToConsumer()
        guard let queue = client.consumerQueue() else {
            client.destroy()
            throw KafkaError(.clientCreation, "the partition reader has no consumer queue")
        }
        self.client = client
        self.queue = queue
        self.lifecycle = ClientLifecycle(name: "partition reader")
        self.readLock = NIOLockedValueBox(false)
        self.logger = logger
        self.idleTimeout = idleTimeout
    }

    /// The messages of `partitions` of `topic` from their low watermark (or from `start[p]` when it
    /// is higher) up to (excluding) the high watermark at the time the read starts, in offset order
    /// per partition; tombstones included.
    public func readToEnd(
        topic: String, partitions: [Int32], from start: [Int32: Int64] = [:]
    ) -> KafkaPartitionReadSequence {
        KafkaPartitionReadSequence(reader: self, topic: topic, partitions: partitions, start: start)
    }

    /// Low/high watermarks of a partition.
    public func watermarks(
        topic: String, partition: Int32, timeout: Duration = .seconds(10)
    ) async throws -> KafkaWatermarks {
        try await client.watermarks(topic: topic, partition: partition, timeout: timeout, lifecycle: lifecycle)
    }

    /// Cluster metadata (all topics).
    public func metadata(timeout: Duration = .seconds(10)) async throws -> KafkaClusterMetadata {
        try await client.metadata(timeout: timeout, lifecycle: lifecycle)
    }

    /// The number of partitions of a topic (throws `.metadata` when it does not exist).
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) async throws -> Int {
        try await client.partitionCount(topic: topic, timeout: timeout, lifecycle: lifecycle)
    }

    /// Destroys the reader. Idempotent.
    public func close() async {
        let queue = self.queue
        await client.destroyWhenIdle(lifecycle, skipConsumerClose: true) { queue.destroy() }
    }

    // MARK: Read session (called by the sequence's iterator)

    func begin(
        topic: String, partitions: [Int32], start: [Int32: Int64] = [:]
    ) async throws(KafkaError) -> [Int32: Int64] {
        let busy = readLock.withLockedValue { busy -> Bool in
            defer { busy = true }
            return busy
        }
        if busy { throw KafkaError(.consumer, "the partition reader is already reading; reads are one at a time") }
        do {
            return try await client.blockingUse(lifecycle) { client throws(KafkaError) -> [Int32: Int64] in
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
                try client.assign(starts)
                return targets
            }
        } catch {
            end()
            throw error
        }
    }

    /// One batch of messages (blocking on the reader's queue, never the cooperative pool).
    func fetch(
        topic: String, targets: [Int32: Int64]
    ) async throws(KafkaError) -> (messages: [KafkaConsumerMessage], finished: Set<Int32>) {
        let queue = self.queue
        let logger = self.logger
        return try await client.blockingUse(lifecycle) { _ throws(KafkaError) in
            var messages: [KafkaConsumerMessage] = []
            var finished = Set<Int32>()
            var failure: KafkaError?
            _ = try queue.consumeBatch(timeoutMilliseconds: 200, maxMessages: 500, context: "reading \(topic)") {
                message in
                let partition = message.partition
                let target = targets[partition] ?? 0
                if let error = message.error {
                    if error.isPartitionEOF {
                        finished.insert(partition)
                    } else if error.isMissingPartitionOrOffset {
                        failure =
                            failure ?? error.kafkaError(.consumer, "reading \(topic)[\(partition)]: \(error.reason)")
                    } else {
                        logger.notice("partition read error (retrying)", metadata: ["error": "\(error.reason)"])
                    }
                } else if message.offset < target {
                    messages.append(message.consumerMessage)
                    if message.offset >= target - 1 { finished.insert(partition) }
                } else {
                    finished.insert(partition)
                }
            }
            if let failure { throw failure }
            return (messages, finished)
        }
    }

    func end() {
        _ = try? lifecycle.using { () throws(KafkaError) in try client.assign(nil) }
        readLock.withLockedValue { $0 = false }
    }

    var readIdleTimeout: Duration { idleTimeout }
}

/// Creates a partition reader, runs `body` with it, and always closes it before returning — also when
/// `body` throws or the task is cancelled.
///
/// - Throws: what creating the reader or `body` throws.
@discardableResult
public func withKafkaPartitionReader<Result>(
    configuration: KafkaConfiguration,
    logger: Logger,
    idleTimeout: Duration = .seconds(30),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (KafkaPartitionReader) async throws -> Result
) async throws -> Result {
    let reader = try KafkaPartitionReader(configuration: configuration, logger: logger, idleTimeout: idleTimeout)
    return try await withClosing(reader, close: { await $0.close() }, body)
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
                            "reading \(topic) made no progress for \(reader.readIdleTimeout); partitions left: \(session.remaining.keys.sorted())"
                        )
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
