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
    private var snapshotSequence = 0

    private let metrics: WorkerInstruments?
    /// A dormant partition assigned again after longer than this is restored in full: tombstones
    /// written meanwhile by another owner may have been compacted away (the changelog's
    /// `delete.retention.ms`).
    private let maximumDormancy: Duration

    init(
        maxInFlight: Int, logger: Logger, metrics: WorkerInstruments? = nil,
        maximumDormancy: Duration = .seconds(86_400)
    ) {
        self.maxInFlight = maxInFlight
        self.maxBuffered = max(maxInFlight * 8, 64)
        self.logger = logger
        self.metrics = metrics
        self.maximumDormancy = maximumDormancy
    }

    // MARK: Flow control

    /// Messages taken and not finished in ready partitions (a restoring partition's held messages do
    /// not count: they wait for the restore, not for capacity).
    private var bufferedCount: Int {
        var count = 0
        inPlace { work in if work.phase == .ready { count += work.unfinishedCount } }
        return count
    }

    /// Runs `body` on every partition's work where it lies. Iterating `partitions.values`, or reading
    /// an element through its getter, copies each `PartitionWork` (a reference count for each of its
    /// collections, taken and dropped again), and the flow-control counts run for every message.
    private func inPlace(_ body: (inout PartitionWork) -> Void) {
        var index = partitions.startIndex
        while index != partitions.endIndex {
            body(&partitions.values[index])
            partitions.formIndex(after: &index)
        }
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

    /// The assignment arrived: each partition starts restoring — in full when it is new here, from
    /// its kept changelog offset when it was kept dormant across the rebalance. Dormant partitions
    /// not in `numbers` went to another member and are dropped. Returns the epochs of the
    /// partitions that start restoring.
    func assigned(_ numbers: [Int32]) -> [Int32: Int] {
        let assignedSet = Set(numbers)
        for (number, work) in partitions where work.phase == .dormant && !assignedSet.contains(number) {
            partitions[number] = nil
            logger.debug("kept partition not assigned again; dropped", metadata: [LogKey.partition: "\(number)"])
        }
        var epochs: [Int32: Int] = [:]
        for number in numbers {
            if let phase = partitions[number]?.phase, phase != .dormant { continue }
            nextEpoch += 1
            let epoch = nextEpoch
            if partitions[number] == nil {
                partitions[number] = PartitionWork(partition: number, epoch: epoch)
            } else {
                let limit = maximumDormancy
                modify(number) { work in
                    work.epoch = epoch
                    work.phase = .restoring
                    work.restored = false
                    if let since = work.dormantSince, since.duration(to: .now) > limit { work.resetOrders() }
                    work.dormantSince = nil
                }
            }
            epochs[number] = epoch
        }
        publishRetained()
        return epochs
    }

    /// Where the restore of each partition still restoring at its epoch starts reading `payfleet.order-state`.
    func restoreStarts(_ epochs: [Int32: Int]) -> [Int32: Int64] {
        var starts: [Int32: Int64] = [:]
        for (number, epoch) in epochs {
            guard let work = partitions[number], work.epoch == epoch, case .restoring = work.phase else { continue }
            starts[number] = work.nextStateOffset
        }
        return starts
    }

    /// Restores `partition` from the beginning after all (its kept offset cannot be read from).
    func restartRestore(_ partition: Int32, epoch: Int) {
        modify(partition) { work in
            guard work.epoch == epoch, case .restoring = work.phase else { return }
            work.resetOrders()
        }
    }

    /// Applies a batch of decoded order-state records (those of partitions no longer restoring at
    /// their epoch are ignored). Logs the records that could not be read.
    func applyRestored(_ records: [RestoredRecord], epochs: [Int32: Int]) {
        var problems: [(RestoredRecord, OrderStateDecodingError)] = []
        for record in records {
            guard let epoch = epochs[record.partition] else { continue }
            let problem = modify(record.partition) { work -> OrderStateDecodingError? in
                guard work.epoch == epoch, case .restoring = work.phase else { return nil }
                return work.apply(record)
            }
            if let problem = problem ?? nil { problems.append((record, problem)) }
        }
        for (record, problem) in problems {
            logger.error(
                "order-state record skipped",
                metadata: [
                    LogKey.outTradeNo: "\(record.key)", LogKey.offset: "\(record.offset)", LogKey.error: "\(problem)",
                ])
        }
    }

    /// An order-state record read during restore (ignored unless its partition is restoring).
    func restoreRecord(_ message: KafkaConsumerMessage) {
        guard let record = RestoredRecord(message), let epoch = partitions[message.partition]?.epoch else { return }
        applyRestored([record], epochs: [message.partition: epoch])
    }

    /// Ends the restore of `partition`: it is ready, and the messages held meanwhile start.
    func restoreFinished(_ partition: Int32, epoch: Int) -> [Launch] {
        let taken = modify(partition) { work -> [KafkaConsumerMessage]? in
            guard work.epoch == epoch, case .restoring = work.phase else { return nil }
            work.phase = .ready
            work.restored = true
            defer { work.held = [] }
            return work.held
        }
        guard let held = taken ?? nil else { return [] }
        publishRetained()
        logger.debug(
            "partition restored",
            metadata: [
                LogKey.partition: "\(partition)", "live": "\(partitions[partition]?.orders.count ?? 0)",
                "terminal": "\(partitions[partition]?.terminal.count ?? 0)",
            ])
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
            if work.phase == .dormant { return work.phase }
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
            return Launch(
                partition: partition, epoch: work.epoch, key: key, message: message, state: work.state(of: key))
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
            case .set(let state): work.setState(state, of: launch.key)
            case .removed: work.setState(nil, of: launch.key)
            }
            if completed {
                work.trackers[launch.message.topic]?.finished(launch.message.offset)
            } else {
                work.diverged = true
            }
            if work.queues[launch.key]?.isEmpty == false { work.queues[launch.key]?.removeFirst() }
            var next: Launch?
            var keyIdle = false
            if completed, work.phase == .ready, let head = work.queues[launch.key]?.first {
                next = Launch(
                    partition: launch.partition, epoch: work.epoch, key: launch.key, message: head,
                    state: work.state(of: launch.key))
            } else {
                if work.queues[launch.key]?.isEmpty ?? true { work.queues[launch.key] = nil }
                work.running.remove(launch.key)
                keyIdle = true
            }
            var offsets: [KafkaTopicPartitionOffset] = []
            if completed, work.phase == .ready {
                for index in work.trackers.indices {
                    if let offset = work.trackers.values[index].takeCommittable() {
                        offsets.append(
                            KafkaTopicPartitionOffset(
                                topic: work.trackers.keys[index], partition: launch.partition, offset: offset))
                    }
                }
            }
            return (Release(next: next, offsets: offsets), keyIdle)
        }
        guard let outcome = outcome ?? nil else { return Release(next: nil, offsets: []) }
        if outcome.keyIdle { runningKeys -= 1 }
        if case .unchanged = change {} else { publishRetained() }
        return outcome.release
    }

    // MARK: Revocation and shutdown

    /// Stops starting work on these partitions (queued messages stay unfinished, so no offset passes them).
    func beginRevoking(_ numbers: [Int32]) {
        for number in numbers {
            modify(number) { work in
                guard work.phase != .dormant else { return }
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
        publishRetained()
        signalCapacity()
    }

    /// The revoked partitions whose orders match the changelog up to its current end once the
    /// revocation finished: restored, nothing running, nothing abandoned. Only those can be kept
    /// with the changelog's high watermark as their resume offset.
    func completeRevokedPartitions(_ numbers: [Int32]) -> [Int32] {
        numbers.filter { number in
            guard let work = partitions[number] else { return false }
            return work.phase == .revoking && work.restored && work.running.isEmpty && !work.diverged
        }
    }

    /// Keeps revoked partitions dormant (their orders stay, nothing runs) until the next assignment
    /// resumes or drops them. `resumeAt` is the changelog high watermark of each restored partition
    /// after its work finished; a partition still restoring keeps what it read so far. A partition
    /// that cannot be kept (work running or abandoned, no resume offset) is dropped.
    func keep(_ numbers: [Int32], resumeAt: [Int32: Int64]) {
        var dropped: [Int32] = []
        for number in numbers {
            let kept = modify(number) { work -> Bool in
                guard work.phase == .revoking, work.running.isEmpty, !work.diverged else { return false }
                if work.restored {
                    guard let offset = resumeAt[number], offset >= work.nextStateOffset else { return false }
                    work.nextStateOffset = offset
                }
                work.phase = .dormant
                work.dormantSince = .now
                work.queues = [:]
                work.held = []
                work.trackers = [:]
                return true
            }
            if kept != true { dropped.append(number) }
        }
        if !dropped.isEmpty { drop(dropped) }
    }

    /// The current assignment epoch of each of these partitions that is held.
    func epochs(_ numbers: [Int32]) -> [Int32: Int] {
        var epochs: [Int32: Int] = [:]
        for number in numbers { if let work = partitions[number] { epochs[number] = work.epoch } }
        return epochs
    }

    /// The input offsets an output transaction commits: per input topic-partition of every held
    /// partition, the next offset to consume once the messages in `finishing` (whose last outputs
    /// are in the transaction) are finished too — everything below it is then finished with its
    /// outputs durable — or at least the last offset released for storing, or the first offset
    /// delivered in this assignment (committing it again moves nothing). Sent with every
    /// transaction, so each one carries the group generation the broker checks.
    func transactionOffsets(finishing: [KafkaTopicPartitionOffset] = []) -> [KafkaTopicPartitionOffset] {
        var finishingByTopicPartition: [String: [Int32: Set<Int64>]] = [:]
        for input in finishing {
            let place = input.topicPartition
            finishingByTopicPartition[place.topic, default: [:]][place.partition, default: []].insert(input.offset)
        }
        var offsets: [KafkaTopicPartitionOffset] = []
        for (number, work) in partitions where work.phase == .ready || work.phase == .revoking {
            for (topic, tracker) in work.trackers {
                let assumed = finishingByTopicPartition[topic]?[number] ?? []
                // The highest of the three that exist.
                func higher(_ lhs: Int64?, _ rhs: Int64?) -> Int64? {
                    guard let lhs else { return rhs }
                    guard let rhs else { return lhs }
                    return max(lhs, rhs)
                }
                let committable = tracker.committable(assumingFinished: assumed)
                if let offset = higher(higher(committable, tracker.stored), tracker.firstDelivered) {
                    offsets.append(KafkaTopicPartitionOffset(topic: topic, partition: number, offset: offset))
                }
            }
        }
        return offsets
    }

    /// Partition numbers currently held (dormant ones excluded).
    var partitionNumbers: [Int32] { partitions.filter { $0.value.phase != .dormant }.keys.sorted() }

    /// The partitions held (dormant ones excluded) and those of them still restoring, for the
    /// `/assignedz` probe; `sequence` orders the snapshots (a later one supersedes an earlier one).
    func assignmentSnapshot() -> (sequence: Int, held: [Int32], restoring: [Int32]) {
        snapshotSequence += 1
        let restoring = partitions.filter { if case .restoring = $0.value.phase { true } else { false } }.keys.sorted()
        return (snapshotSequence, partitionNumbers, restoring)
    }

    /// Partition numbers kept dormant.
    var dormantPartitionNumbers: [Int32] { partitions.filter { $0.value.phase == .dormant }.keys.sorted() }

    /// Orders retained in memory (dormant partitions included).
    var retainedOrders: (live: Int, terminal: Int) {
        var counts = (live: 0, terminal: 0)
        inPlace { work in
            counts.live += work.orders.count
            counts.terminal += work.terminal.count
        }
        return counts
    }

    private func publishRetained() {
        guard let metrics else { return }
        let counts = retainedOrders
        metrics.orders(live: counts.live, terminal: counts.terminal)
    }

    /// Whether every held partition finished restoring.
    var allRestored: Bool {
        partitions.values.allSatisfy { if case .restoring = $0.phase { false } else { true } }
    }
}
