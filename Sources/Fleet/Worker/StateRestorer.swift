import Foundation
import Kafka
import Logging

/// Reads `payfleet.order-state` into a ``WorkerCore``: in full for a partition new to the worker,
/// only the tail after the kept offset for a partition kept across a rebalance.
///
/// One task reads batches from the partition reader while this task decodes them (off the
/// core's actor) and applies each batch in one actor call.
struct StateRestorer: Sendable {
    let core: WorkerCore
    let reader: KafkaPartitionReader
    let metrics: WorkerInstruments?
    let logger: Logger
    /// Records decoded and applied together.
    static let batchSize = 2048
    /// Batches read ahead of the one being applied.
    static let readAhead = 2
    /// A restore that read at least this many records returns freed memory afterwards.
    static let trimAfterRecords = 10_000

    /// What one restore read.
    struct Outcome: Sendable {
        var partitions: [Int32]
        var records: Int
        var duration: Duration
    }

    /// Reads the changelog of the partitions that are still restoring at their epoch, from where
    /// each stands, to the high watermark. `nil` when none is restoring.
    /// - Throws: when the read fails (what was applied stays applied; the next call continues).
    func restore(_ epochs: [Int32: Int]) async throws -> Outcome? {
        var starts = await core.restoreStarts(epochs)
        guard !starts.isEmpty else { return nil }
        let clock = ContinuousClock()
        let started = clock.now
        // A kept offset below the low watermark cannot be continued from: restore in full.
        for (partition, offset) in starts where offset > 0 {
            let marks = try await reader.watermarks(topic: FleetTopic.orderState, partition: partition)
            if marks.low > offset, let epoch = epochs[partition] {
                logger.notice(
                    "kept changelog offset is below the low watermark; restoring in full",
                    metadata: [LogKey.partition: "\(partition)", LogKey.offset: "\(offset)"])
                await core.restartRestore(partition, epoch: epoch)
                starts[partition] = 0
            }
        }
        let from = starts
        // At most `readAhead` batches wait between reading and applying, so a read that outruns
        // decoding does not leave all the records it read in memory at once.
        let pipe = BatchPipe(capacity: Self.readAhead)
        let reading = Task { [reader] in
            do {
                var batch: [KafkaConsumerMessage] = []
                batch.reserveCapacity(Self.batchSize)
                for try await record in reader.readToEnd(
                    topic: FleetTopic.orderState, partitions: from.keys.sorted(), from: from)
                {
                    batch.append(record)
                    if batch.count >= Self.batchSize {
                        guard await pipe.put(batch) else { return }
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                if !batch.isEmpty { _ = await pipe.put(batch) }
                await pipe.finish(nil)
            } catch {
                await pipe.finish(error)
            }
        }
        var records = 0
        do {
            while let batch = try await pipe.take() {
                let decoded = batch.compactMap(RestoredRecord.init)
                await core.applyRestored(decoded, epochs: epochs)
                records += batch.count
            }
        } catch {
            await pipe.cancel()
            reading.cancel()
            metrics?.restored(records: records, duration: clock.now - started)
            throw error
        }
        if records >= Self.trimAfterRecords {
            // The records read and decoded are freed but their pages stay with the allocator,
            // interleaved with the orders kept: give them back to the system.
            Allocator.releaseFreedMemory()
        }
        let duration = clock.now - started
        metrics?.restored(records: records, duration: duration)
        return Outcome(partitions: starts.keys.sorted(), records: records, duration: duration)
    }

    /// After a revocation whose work finished: keeps the partitions dormant with the changelog's
    /// high watermark as their resume offset (the worker is the only writer of its partitions, and
    /// every write it made is acknowledged, so its orders match the changelog up to there).
    /// Partitions whose watermark cannot be read are dropped.
    func keepRevoked(_ numbers: [Int32]) async {
        let complete = await core.completeRevokedPartitions(numbers)
        var resumeAt: [Int32: Int64] = [:]
        for partition in complete {
            do {
                resumeAt[partition] = try await reader.watermarks(topic: FleetTopic.orderState, partition: partition)
                    .high
            } catch {
                logger.notice(
                    "changelog watermark unknown; the partition is restored in full if assigned again",
                    metadata: [LogKey.partition: "\(partition)", LogKey.error: "\(error)"])
            }
        }
        await core.keep(numbers, resumeAt: resumeAt)
    }
}

/// A bounded hand-over of record batches from the reading task to the applying one.
private actor BatchPipe {
    private let capacity: Int
    private var batches: [[KafkaConsumerMessage]] = []
    private var ended = false
    private var failure: (any Error)?
    private var cancelled = false
    private var putWaiter: CheckedContinuation<Void, Never>?
    private var takeWaiter: CheckedContinuation<Void, Never>?

    init(capacity: Int) { self.capacity = capacity }

    /// Hands a batch over, waiting while `capacity` batches are pending. False once cancelled.
    func put(_ batch: [KafkaConsumerMessage]) async -> Bool {
        while batches.count >= capacity && !cancelled {
            await withCheckedContinuation { putWaiter = $0 }
        }
        guard !cancelled else { return false }
        batches.append(batch)
        takeWaiter?.resume()
        takeWaiter = nil
        return true
    }

    /// The reading ended (with `error` when it failed).
    func finish(_ error: (any Error)?) {
        ended = true
        failure = error
        takeWaiter?.resume()
        takeWaiter = nil
    }

    /// The applying side gave up: a waiting reader is released.
    func cancel() {
        cancelled = true
        putWaiter?.resume()
        putWaiter = nil
    }

    /// The next batch; `nil` at the end; throws the reading's error.
    func take() async throws -> [KafkaConsumerMessage]? {
        while batches.isEmpty && !ended {
            await withCheckedContinuation { takeWaiter = $0 }
        }
        if !batches.isEmpty {
            let batch = batches.removeFirst()
            putWaiter?.resume()
            putWaiter = nil
            return batch
        }
        if let failure { throw failure }
        return nil
    }
}
