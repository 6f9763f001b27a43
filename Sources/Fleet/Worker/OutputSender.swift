import Foundation
import Kafka
import Logging

/// The worker's one way to Kafka for the outputs of its messages: it writes them in groups and
/// fences the work of revoked partitions.
///
/// **Group commit.** Writes that arrive while a group is being written wait for the next group, so
/// the producer sees batches (one transaction, or without transactions two `sendAll`s: the state
/// records after the rest, see ``Mode/plain``) however many orders run concurrently. A write
/// returns when its group is durable: committed in transactional mode, acknowledged (`acks=all`)
/// otherwise.
///
/// **Transactions** (``Mode/transactional(groupMetadata:offsets:)``, the default). Each group is one
/// Kafka transaction: the records of its messages plus the input offsets they make committable —
/// a message whose last write is in the group has its offset commit with its outputs — sent with
/// the consumer group's metadata (`send_offsets_to_transaction`, KIP-447). The broker
/// accepts that offset commit only from the group's current generation, so a worker that lost its
/// partitions without knowing it (a process paused past `session.timeout.ms`) cannot commit: its
/// transaction is aborted and `read_committed` readers never see those records. A group's records
/// commit together or not at all. Offsets are also stored on the consumer after the commit (see
/// `FleetWorker`), which is what the embedded broker keeps: its TxnOffsetCommit stores nothing.
///
/// **Fencing.** Every write carries the partition and assignment epoch of the message that made it
/// (``scope``). ``fence(_:)`` — called on revocation, after in-flight work had its deadline — refuses
/// every later write of those epochs and waits for the group being written, so once it returns no
/// record of the revoked assignment can reach Kafka: work that outlives the revocation deadline
/// finds its write refused (``WriteFenced``), and the partition's next owner is the only writer.
actor OutputSender {
    /// The partition and assignment epoch a write belongs to.
    struct Scope: Sendable, Hashable {
        var partition: Int32
        var epoch: Int
    }

    /// The scope of the message being processed by the current task (set by the worker around each message).
    @TaskLocal static var scope: Scope?

    enum Mode: Sendable {
        /// One transaction per group; `groupMetadata` is the consumer's, `offsets` the input offsets
        /// to commit given the input messages the group finishes.
        case transactional(
            groupMetadata: @Sendable () throws -> KafkaConsumerGroupMetadata,
            offsets: @Sendable (_ finishing: [KafkaTopicPartitionOffset]) async -> [KafkaTopicPartitionOffset])
        /// Idempotent writes without transactions (fencing by epoch only); a group's order-state
        /// records are written after its other records were acknowledged (``sendStateLast(_:)``).
        case plain
    }

    private struct Entry {
        var records: [KafkaProducerMessage]
        var scope: Scope?
        /// The input message these records are the last write of, if they are.
        var finishing: KafkaTopicPartitionOffset?
        var continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], any Error>
    }

    private let producer: KafkaProducer
    private let mode: Mode
    private let metrics: WorkerInstruments?
    private let logger: Logger
    /// Called once when the producer failed for good (fenced by another producer with the same
    /// transactional id, or a fatal librdkafka error): the worker must stop.
    private let onFatal: @Sendable (KafkaError) -> Void

    /// Per partition, the epochs below this are fenced.
    private var fencedBelow: [Int32: Int] = [:]
    private var queue: [Entry] = []
    private var writing = false
    private var groupWaiters: [CheckedContinuation<Void, Never>] = []
    private var fatal: KafkaError?
    /// The shortest time from the start of one group to the start of the next (``init``).
    private let groupInterval: Duration
    /// When the last group started.
    private var lastGroup: ContinuousClock.Instant?

    /// `groupInterval`: a group starts at least this long after the one before it, and writes that
    /// arrive meanwhile join it. Zero starts each group as soon as the one before is durable.
    init(
        producer: KafkaProducer, mode: Mode, metrics: WorkerInstruments?, logger: Logger,
        groupInterval: Duration = .zero, onFatal: @escaping @Sendable (KafkaError) -> Void = { _ in }
    ) {
        self.producer = producer
        self.mode = mode
        self.groupInterval = groupInterval
        self.metrics = metrics
        self.logger = logger
        self.onFatal = onFatal
    }

    /// Writes `records` in the next group and returns each one's outcome, in order. In
    /// transactional mode the outcomes are all successes (committed) or all the same failure (the
    /// transaction was aborted: nothing of it is visible to `read_committed` readers).
    ///
    /// - Throws: ``WriteFenced`` when `scope`'s assignment was revoked; the producer's fatal error
    ///   once it failed for good.
    ///
    /// `finishing`: the input message whose last write this is; in transactional mode its offset
    /// (and whatever it unblocks) commits in the same transaction.
    func send(
        _ records: [KafkaProducerMessage], scope: Scope?, finishing: KafkaTopicPartitionOffset? = nil
    ) async throws -> [Result<KafkaDeliveryReport, KafkaError>] {
        if let fatal { throw fatal }
        try admit(scope)
        guard !records.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            queue.append(Entry(records: records, scope: scope, finishing: finishing, continuation: continuation))
            if !writing {
                writing = true
                Task { await self.writeGroups() }
            }
        }
    }

    /// Throws ``WriteFenced`` when `scope`'s assignment was revoked (counted as a fenced write).
    func admit(_ scope: Scope?) throws {
        if let scope, isFenced(scope) {
            metrics?.fencedWrite()
            throw WriteFenced(partition: scope.partition, epoch: scope.epoch)
        }
    }

    /// Refuses every later write of these assignments (partition → its current epoch and older) and
    /// waits until the group being written, if any, is durable or failed.
    func fence(_ epochs: [Int32: Int]) async {
        for (partition, epoch) in epochs {
            fencedBelow[partition] = max(fencedBelow[partition] ?? 0, epoch + 1)
        }
        var kept: [Entry] = []
        for entry in queue {
            if let scope = entry.scope, isFenced(scope) {
                metrics?.fencedWrite()
                entry.continuation.resume(throwing: WriteFenced(partition: scope.partition, epoch: scope.epoch))
            } else {
                kept.append(entry)
            }
        }
        queue = kept
        if writing {
            await withCheckedContinuation { groupWaiters.append($0) }
        }
    }

    private func isFenced(_ scope: Scope) -> Bool {
        scope.epoch < (fencedBelow[scope.partition] ?? 0)
    }

    // MARK: Groups

    private func writeGroups() async {
        while !queue.isEmpty {
            if groupInterval > .zero, let lastGroup, ContinuousClock.now < lastGroup + groupInterval {
                try? await Task.sleep(until: lastGroup + groupInterval, clock: .continuous)
                // A fence during the wait may have taken every queued write.
                if queue.isEmpty { break }
            }
            lastGroup = .now
            let group = queue
            queue = []
            await write(group)
            let waiters = groupWaiters
            groupWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        writing = false
        let waiters = groupWaiters
        groupWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    private func write(_ group: [Entry]) async {
        if let fatal {
            for entry in group { entry.continuation.resume(throwing: fatal) }
            return
        }
        let records = group.flatMap(\.records)
        let clock = ContinuousClock()
        let started = clock.now
        defer {
            logger.trace(
                "output group written",
                metadata: [
                    "writes": "\(group.count)", "records": "\(records.count)", "duration": "\(clock.now - started)",
                ])
        }
        switch mode {
        case .plain:
            do {
                deliver(try await sendStateLast(group), to: group)
            } catch {
                for entry in group { entry.continuation.resume(throwing: error) }
            }
        case .transactional(let groupMetadata, let offsets):
            do {
                let results = try await commitTransaction(
                    records, finishing: group.compactMap(\.finishing), groupMetadata: groupMetadata, offsets: offsets)
                metrics?.transaction(.committed)
                deliver(results, to: group)
            } catch {
                let failure = error as? KafkaError ?? KafkaError(.transaction, "\(error)")
                await abandon(after: failure)
                for entry in group { entry.continuation.resume(throwing: failure) }
            }
        }
    }

    /// Without transactions a crash can leave any part of a group durable, so the order-state
    /// records go last: the group's other records (events, timer jobs, dead letters, forwarded
    /// inputs) first, and a write's state records only once all its other records were
    /// acknowledged. A crash in between leaves the state behind its outputs, never ahead of them:
    /// the input is read again (its offset is stored only after all of its write), the state says
    /// it was not applied, and applying it again repeats the same events (same `ce_id`). The other
    /// way round, the replay would find the state already changed and publish nothing, and an
    /// event of the order, possibly its terminal one, would be lost. A write whose other records
    /// failed gets its state records failed with the first of those errors, unsent (the writer
    /// repeats it from its first failure). A group of state records only, or none, is one batch.
    private func sendStateLast(_ group: [Entry]) async throws -> [Result<KafkaDeliveryReport, KafkaError>] {
        let records = group.flatMap(\.records)
        let isState = records.map { $0.topic == FleetTopic.orderState }
        guard isState.contains(true), isState.contains(false) else {
            return try await producer.sendAllSettled(records)
        }
        var results = [Result<KafkaDeliveryReport, KafkaError>?](repeating: nil, count: records.count)
        let others = records.indices.filter { !isState[$0] }
        for (index, result) in zip(others, try await producer.sendAllSettled(others.map { records[$0] })) {
            results[index] = result
        }
        // Per write: the first failure among its other records, which keeps its state records unsent.
        var states: [Int] = []
        var start = 0
        for entry in group {
            let range = start..<(start + entry.records.count)
            start = range.upperBound
            let failure = range.lazy.compactMap { index -> KafkaError? in
                if case .failure(let error)? = results[index] { return error }
                return nil
            }.first
            for index in range where isState[index] {
                if let failure { results[index] = .failure(failure) } else { states.append(index) }
            }
        }
        if !states.isEmpty {
            for (index, result) in zip(states, try await producer.sendAllSettled(states.map { records[$0] })) {
                results[index] = result
            }
        }
        return results.map { $0! }
    }

    private func deliver(_ results: [Result<KafkaDeliveryReport, KafkaError>], to group: [Entry]) {
        var start = 0
        for entry in group {
            let end = start + entry.records.count
            entry.continuation.resume(returning: Array(results[start..<end]))
            start = end
        }
    }

    /// Begin; enqueue the records, send the offsets and commit (the commit flushes the records, so
    /// it does not wait for their delivery reports first). A record that fails makes the
    /// transaction abortable.
    private func commitTransaction(
        _ records: [KafkaProducerMessage], finishing: [KafkaTopicPartitionOffset],
        groupMetadata: @Sendable () throws -> KafkaConsumerGroupMetadata,
        offsets: @Sendable ([KafkaTopicPartitionOffset]) async -> [KafkaTopicPartitionOffset]
    ) async throws -> [Result<KafkaDeliveryReport, KafkaError>] {
        try producer.beginTransaction()
        // The offsets assume this group's finishing messages finished: they commit with its records
        // or not at all.
        let committable = await offsets(finishing)
        let results = try await producer.sendAndCommitTransaction(
            records, offsets: committable, group: committable.isEmpty ? nil : try groupMetadata())
        for result in results {
            if case .failure(let error) = result {
                // Committed without it cannot happen (the commit fails when a record failed); kept as
                // a guard so a record is never reported durable when it is not.
                throw KafkaError(
                    .transactionAbortable, "an output was not acknowledged: \(error.message)",
                    rdKafkaErrorCode: error.rdKafkaErrorCode)
            }
        }
        return results
    }

    /// After a failed transaction: abort it (abortable errors), or stop for good (fatal errors).
    private func abandon(after failure: KafkaError) async {
        if failure.code == .fatal || failure.isFenced {
            guard fatal == nil else { return }
            fatal = failure
            logger.critical(
                "output producer failed for good; the worker stops", metadata: [LogKey.error: "\(failure)"])
            onFatal(failure)
            return
        }
        metrics?.transaction(.aborted)
        logger.warning("output transaction aborted; its writes are retried", metadata: [LogKey.error: "\(failure)"])
        do {
            try await producer.abortTransaction()
        } catch let error as KafkaError {
            if error.code == .fatal || error.isFenced {
                await abandon(after: error)
            } else if error.code != .transaction {
                // `.transaction`: there was no transaction to abort (begin itself failed).
                logger.warning("aborting the output transaction failed", metadata: [LogKey.error: "\(error)"])
            }
        } catch {
            logger.warning("aborting the output transaction failed", metadata: [LogKey.error: "\(error)"])
        }
    }
}

/// A write refused because the assignment it belongs to was revoked from this worker.
struct WriteFenced: Error, CustomStringConvertible {
    var partition: Int32
    var epoch: Int

    var description: String {
        "write refused: partition \(partition) (assignment \(epoch)) was revoked from this worker"
    }
}
