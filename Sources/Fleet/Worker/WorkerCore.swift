import DequeModule
import Foundation
import Kafka
import Logging

/// The worker's bookkeeping: assigned partitions, restore progress, per-order queues, offsets and
/// the in-flight bound. An actor, so every decision is made in one place; the processing itself
/// runs outside it, one task per message, and reports back with ``finished(_:)``.
///
/// Key-ordered parallelism: at most one message per order key runs at a time (the others wait in
/// that key's queue), different keys of a partition run concurrently up to `maxInFlight` keys
/// across all partitions, and an offset is released for storing only once every message below it
/// in its topic-partition finished.
actor WorkerCore {
    /// One message to process, with the order state it starts from.
    struct Launch: Sendable {
        var partition: Int32
        var epoch: Int
        var key: String
        var message: KafkaConsumerMessage
        var state: OrderState?
    }

    /// What a finished message releases.
    struct Release: Sendable {
        /// The next message of the same key, if any.
        var next: Launch?
        /// Offsets that may now be stored.
        var offsets: [KafkaTopicPartitionOffset]
    }

    private let maxInFlight: Int
    private let maxBuffered: Int
    private let logger: Logger
    private var partitions: [Int32: PartitionWork] = [:]
    private var nextEpoch = 0
    private var runningKeys = 0
    private var capacityWaiters: [UUID: CheckedContinuation<Void, Never>] = [:]

    init(maxInFlight: Int, logger: Logger) {
        self.maxInFlight = maxInFlight
        self.maxBuffered = max(maxInFlight * 8, 64)
        self.logger = logger
    }

    // MARK: Flow control

    /// Messages taken and not finished in ready partitions (a restoring partition's held messages do
    /// not count: they wait for the restore, not for capacity).
    private var bufferedCount: Int {
        partitions.values.reduce(0) { $0 + ($1.phase == .ready ? $1.unfinishedCount : 0) }
    }
    private var hasCapacity: Bool { runningKeys < maxInFlight && bufferedCount < maxBuffered }

    /// Mutates the work of `partition` in place; `nil` when the partition is not held.
    ///
    /// Never copy a `PartitionWork` out of ``partitions`` to mutate it and write it back: while the
    /// dictionary still holds the old value, the first write to the copy duplicates every
    /// collection inside it — all orders of the partition — so each message cost time in
    /// proportion to the orders retained.
    private func modify<Result>(_ partition: Int32, _ body: (inout PartitionWork) -> Result) -> Result? {
        guard partitions[partition] != nil else { return nil }
        return body(&partitions[partition]!)
    }

    /// Waits until another message may be taken from the consumer (or the task is cancelled).
    func waitForCapacity() async {
        if hasCapacity { return }
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume()
                } else {
                    capacityWaiters[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.releaseWaiter(id) }
        }
    }

    private func releaseWaiter(_ id: UUID) {
        capacityWaiters.removeValue(forKey: id)?.resume()
    }

    private func signalCapacity() {
        guard hasCapacity, !capacityWaiters.isEmpty else { return }
        let waiters = capacityWaiters.values
        capacityWaiters = [:]
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Assignment and restore

    /// Partitions were assigned: each starts restoring. Returns the epochs.
    func assigned(_ numbers: [Int32]) -> [Int32: Int] {
        var epochs: [Int32: Int] = [:]
        for number in numbers where partitions[number] == nil {
            nextEpoch += 1
            partitions[number] = PartitionWork(partition: number, epoch: nextEpoch)
            epochs[number] = nextEpoch
        }
        return epochs
    }

    /// An order-state record read during restore (ignored unless its partition is restoring).
    func restoreRecord(_ message: KafkaConsumerMessage) {
        guard let key = message.keyString else { return }
        let problem = modify(message.partition) { work -> OrderStateDecodingError? in
            guard case .restoring = work.phase else { return nil }
            return work.applyRestoreRecord(key: key, offset: message.offset, value: message.value)
        }
        if let problem = problem ?? nil {
            logger.error(
                "order-state record skipped",
                metadata: [LogKey.outTradeNo: "\(key)", LogKey.offset: "\(message.offset)", LogKey.error: "\(problem)"])
        }
    }

    /// Ends the restore of `partition`: it is ready, and the messages held meanwhile start.
    func restoreFinished(_ partition: Int32, epoch: Int) -> [Launch] {
        let taken = modify(partition) { work -> [KafkaConsumerMessage]? in
            guard work.epoch == epoch, case .restoring = work.phase else { return nil }
            work.phase = .ready
            work.restoredOffsets = [:]
            defer { work.held = [] }
            return work.held
        }
        guard let held = taken ?? nil else { return [] }
        logger.debug("partition restored", metadata: [LogKey.partition: "\(partition)", "orders": "\(partitions[partition]?.orders.count ?? 0)"])
        var launches: [Launch] = []
        for message in held {
            if let launch = enqueue(message, partition: partition) { launches.append(launch) }
        }
        return launches
    }

    /// Whether `partition` (at `epoch`) is still restoring.
    func isRestoring(_ partition: Int32, epoch: Int) -> Bool {
        guard let work = partitions[partition], work.epoch == epoch, case .restoring = work.phase else { return false }
        return true
    }

    // MARK: Messages

    /// An input message from the consumer.
    /// - Returns: a launch when its key was idle and its partition ready.
    func accept(_ message: KafkaConsumerMessage) -> Launch? {
        // Not (or no longer) ours when absent: the consumer dropped the assignment; the next owner processes it.
        let phase = modify(message.partition) { work -> PartitionWork.Phase in
            work.trackers[message.topic, default: OffsetTracker()].delivered(message.offset)
            if case .restoring = work.phase { work.held.append(message) }
            return work.phase
        }
        guard case .ready = phase else { return nil }
        return enqueue(message, partition: message.partition)
    }

    private func enqueue(_ message: KafkaConsumerMessage, partition: Int32) -> Launch? {
        let key = orderKey(of: message)
        let launch = modify(partition) { work -> Launch? in
            work.queues[key, default: []].append(message)
            guard !work.running.contains(key) else { return nil }
            work.running.insert(key)
            return Launch(partition: partition, epoch: work.epoch, key: key, message: message, state: work.orders[key])
        }
        guard let launch = launch ?? nil else { return nil }
        runningKeys += 1
        return launch
    }

    /// A launched message is done. `change` is what happened to its order's state; `completed` is
    /// false when its work was abandoned (its offset must not move past it).
    func finished(_ launch: Launch, change: MessageProcessor.StateChange, completed: Bool) -> Release {
        defer { signalCapacity() }
        let outcome = modify(launch.partition) { work -> (release: Release, keyIdle: Bool)? in
            guard work.epoch == launch.epoch else { return nil }
            switch change {
            case .unchanged: break
            case .set(let state): work.orders[launch.key] = state
            case .removed: work.orders[launch.key] = nil
            }
            if completed {
                work.trackers[launch.message.topic]?.finished(launch.message.offset)
            }
            if work.queues[launch.key]?.isEmpty == false { work.queues[launch.key]?.removeFirst() }
            var next: Launch?
            var keyIdle = false
            if completed, work.phase == .ready, let head = work.queues[launch.key]?.first {
                next = Launch(partition: launch.partition, epoch: work.epoch, key: launch.key, message: head, state: work.orders[launch.key])
            } else {
                if work.queues[launch.key]?.isEmpty ?? true { work.queues[launch.key] = nil }
                work.running.remove(launch.key)
                keyIdle = true
            }
            var offsets: [KafkaTopicPartitionOffset] = []
            if completed, work.phase == .ready {
                for topic in Array(work.trackers.keys) {
                    if let offset = work.trackers[topic]?.takeCommittable() {
                        offsets.append(KafkaTopicPartitionOffset(topic: topic, partition: launch.partition, offset: offset))
                    }
                }
            }
            return (Release(next: next, offsets: offsets), keyIdle)
        }
        guard let outcome = outcome ?? nil else { return Release(next: nil, offsets: []) }
        if outcome.keyIdle { runningKeys -= 1 }
        return outcome.release
    }

    // MARK: Revocation and shutdown

    /// Stops starting work on these partitions (queued messages stay unfinished, so no offset passes them).
    func beginRevoking(_ numbers: [Int32]) {
        for number in numbers {
            modify(number) { work in
                work.phase = .revoking
                work.held = []
            }
        }
    }

    /// Stops starting work on every partition (graceful shutdown).
    func beginRevokingAll() {
        beginRevoking(Array(partitions.keys))
    }

    /// Waits until no message of these partitions runs, or `deadline` passes.
    /// - Returns: whether they went idle in time.
    func waitUntilIdle(_ numbers: [Int32], deadline: ContinuousClock.Instant) async -> Bool {
        while numbers.contains(where: { !(partitions[$0]?.running.isEmpty ?? true) }) {
            if ContinuousClock.now >= deadline { return false }
            let remaining = deadline - ContinuousClock.now
            try? await Task.sleep(for: min(remaining, .milliseconds(20)))
        }
        return true
    }

    /// The final offsets of these partitions (everything finished below them).
    func finalOffsets(_ numbers: [Int32]) -> [KafkaTopicPartitionOffset] {
        var offsets: [KafkaTopicPartitionOffset] = []
        for number in numbers {
            modify(number) { work in
                for topic in Array(work.trackers.keys) {
                    if let offset = work.trackers[topic]?.takeCommittable() {
                        offsets.append(KafkaTopicPartitionOffset(topic: topic, partition: number, offset: offset))
                    }
                }
            }
        }
        return offsets
    }

    /// Forgets these partitions (their running work, if any, was abandoned).
    func drop(_ numbers: [Int32]) {
        for number in numbers {
            if let work = partitions.removeValue(forKey: number) {
                runningKeys -= work.running.count
            }
        }
        signalCapacity()
    }

    /// Partition numbers currently held.
    var partitionNumbers: [Int32] { partitions.keys.sorted() }

    /// Whether every held partition finished restoring.
    var allRestored: Bool {
        partitions.values.allSatisfy { if case .restoring = $0.phase { false } else { true } }
    }
}
