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
        guard var work = partitions[message.partition], case .restoring = work.phase, let key = message.keyString else { return }
        if let problem = work.applyRestoreRecord(key: key, offset: message.offset, value: message.value) {
            logger.error(
                "order-state record skipped",
                metadata: [LogKey.outTradeNo: "\(key)", LogKey.offset: "\(message.offset)", LogKey.error: "\(problem)"])
        }
        partitions[message.partition] = work
    }

    /// Ends the restore of `partition`: it is ready, and the messages held meanwhile start.
    func restoreFinished(_ partition: Int32, epoch: Int) -> [Launch] {
        guard var work = partitions[partition], work.epoch == epoch, case .restoring = work.phase else { return [] }
        work.phase = .ready
        work.restoredOffsets = [:]
        let held = work.held
        work.held = []
        partitions[partition] = work
        logger.debug("partition restored", metadata: [LogKey.partition: "\(partition)", "orders": "\(work.orders.count)"])
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
        guard var work = partitions[message.partition] else {
            // Not (or no longer) ours: the consumer dropped the assignment; the next owner processes it.
            return nil
        }
        work.trackers[message.topic, default: OffsetTracker()].delivered(message.offset)
        switch work.phase {
        case .restoring:
            work.held.append(message)
            partitions[message.partition] = work
            return nil
        case .revoking:
            partitions[message.partition] = work
            return nil
        case .ready:
            partitions[message.partition] = work
            return enqueue(message, partition: message.partition)
        }
    }

    private func enqueue(_ message: KafkaConsumerMessage, partition: Int32) -> Launch? {
        guard var work = partitions[partition] else { return nil }
        let key = orderKey(of: message)
        work.queues[key, default: []].append(message)
        guard !work.running.contains(key) else {
            partitions[partition] = work
            return nil
        }
        work.running.insert(key)
        runningKeys += 1
        partitions[partition] = work
        return Launch(partition: partition, epoch: work.epoch, key: key, message: message, state: work.orders[key])
    }

    /// A launched message is done. `change` is what happened to its order's state; `completed` is
    /// false when its work was abandoned (its offset must not move past it).
    func finished(_ launch: Launch, change: MessageProcessor.StateChange, completed: Bool) -> Release {
        defer { signalCapacity() }
        guard var work = partitions[launch.partition], work.epoch == launch.epoch else {
            return Release(next: nil, offsets: [])
        }
        switch change {
        case .unchanged: break
        case .set(let state): work.orders[launch.key] = state
        case .removed: work.orders[launch.key] = nil
        }
        if completed {
            work.trackers[launch.message.topic]?.finished(launch.message.offset)
        }
        var queue = work.queues[launch.key] ?? []
        if !queue.isEmpty { queue.removeFirst() }
        var next: Launch?
        if completed, work.phase == .ready, let head = queue.first {
            next = Launch(partition: launch.partition, epoch: work.epoch, key: launch.key, message: head, state: work.orders[launch.key])
            work.queues[launch.key] = queue
        } else {
            work.queues[launch.key] = queue.isEmpty ? nil : queue
            work.running.remove(launch.key)
            runningKeys -= 1
        }
        var offsets: [KafkaTopicPartitionOffset] = []
        if completed, work.phase == .ready {
            for (topic, var tracker) in work.trackers {
                if let offset = tracker.takeCommittable() {
                    offsets.append(KafkaTopicPartitionOffset(topic: topic, partition: launch.partition, offset: offset))
                }
                work.trackers[topic] = tracker
            }
        }
        partitions[launch.partition] = work
        return Release(next: next, offsets: offsets)
    }

    // MARK: Revocation and shutdown

    /// Stops starting work on these partitions (queued messages stay unfinished, so no offset passes them).
    func beginRevoking(_ numbers: [Int32]) {
        for number in numbers {
            guard var work = partitions[number] else { continue }
            work.phase = .revoking
            work.held = []
            partitions[number] = work
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
            guard var work = partitions[number] else { continue }
            for (topic, var tracker) in work.trackers {
                if let offset = tracker.takeCommittable() {
                    offsets.append(KafkaTopicPartitionOffset(topic: topic, partition: number, offset: offset))
                }
                work.trackers[topic] = tracker
            }
            partitions[number] = work
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
