import Foundation
import Kafka
import Logging
import Metrics

/// The scheduler's orchestration: one actor owning the per-partition state, fed by the consume
/// loop, the rebalance handler, timers and acknowledgements. Decisions come from ``TimerPlanner``;
/// this type only carries them out.
actor SchedulerCore {
    private let planner: TimerPlanner
    private let settings: SchedulerSettings
    private let publisher: any RecordPublisher
    private let statistics: SchedulerStatistics
    private let instruments: SchedulerInstruments
    private let health: HealthState
    private let logger: Logger
    private var consumer: KafkaConsumer?
    private var partitions: [KafkaTopicPartition: SchedulerPartition] = [:]
    private var nextGeneration = 0
    private var stopping = false
    /// The one task that sleeps until the earliest held timer is due, and when that is (Unix ms).
    private var wake: (task: Task<Void, Never>, at: Int64, token: Int)?
    private var nextWakeToken = 0
    /// When held timers were last forwarded (Unix ms): the next wake-up is at least
    /// ``SchedulerSettings/wakeInterval`` later, so timers due close together go out as one batch.
    private var lastFire = Int64.min / 2

    init(
        settings: SchedulerSettings, publisher: any RecordPublisher, statistics: SchedulerStatistics,
        instruments: SchedulerInstruments, health: HealthState, logger: Logger
    ) {
        self.instruments = instruments
        self.settings = settings
        self.planner = TimerPlanner(tiers: settings.tiers, resumeLead: settings.resumeLead)
        self.publisher = publisher
        self.statistics = statistics
        self.health = health
        self.logger = logger
    }

    func attach(_ consumer: KafkaConsumer) {
        self.consumer = consumer
    }

    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    // MARK: Messages

    /// Handles every record of the delay tiers, on this actor: a buffered record is taken without
    /// leaving it, and other work (wake-ups, acknowledgements, rebalances) runs whenever the
    /// consumer has nothing buffered, or after every ``yieldEvery`` records.
    func consume(_ messages: KafkaConsumerMessages) async throws {
        var handled = 0
        for try await message in messages {
            instruments.messaging.consumed(topic: message.topic)
            await handle(message)
            handled += 1
            if handled % Self.yieldEvery == 0 { await Task.yield() }
        }
    }

    /// Records handled in a row before the consume loop lets other work of the actor run.
    static let yieldEvery = 64

    /// Mutates the state of `source` in place when it is held (at `generation`, if given).
    ///
    /// Copying a `SchedulerPartition` out of ``partitions`` and writing it back would duplicate its
    /// held timers and sends on every record while the dictionary still holds the old value. The
    /// body must not touch ``partitions`` itself.
    private func modify<Result>(
        _ source: KafkaTopicPartition, generation: Int? = nil, _ body: (inout SchedulerPartition) -> Result
    ) -> Result? {
        // By index: reading `partitions[source]` would copy the partition value out (retaining its
        // heap, tracker and tasks) on every record.
        guard let index = partitions.index(forKey: source),
            generation.map({ $0 == partitions.values[index].generation }) ?? true
        else { return nil }
        return body(&partitions.values[index])
    }

    /// A head that is not awake yet: the partition pauses on it.
    private struct PauseRequest {
        let until: Int64
        let due: Int64
        let generation: Int
    }

    /// Handles one record from a delay tier.
    func handle(_ message: KafkaConsumerMessage) async {
        guard !stopping else { return }
        let request = modify(message.topicPartition) { partition -> PauseRequest? in
            // Records fetched before a pause or seek took effect are dropped; the fetcher re-reads them.
            if partition.waiting != nil { return nil }
            if let position = partition.position, message.offset < position { return nil }

            let due: Int64
            if let header = TimerJob.dueAtMilliseconds(headers: message.headers) {
                due = header
            } else if let job = try? TimerJob.decode(message.value) {
                due = job.dueAtMilliseconds
            } else {
                start(message, in: &partition)
                partition.sending += 1
                deadLetter(message, generation: partition.generation)
                return nil
            }

            let now = Self.nowMilliseconds()
            var decision = planner.decide(
                tier: partition.tier,
                recordTimestampMilliseconds: message.timestamp.map {
                    Int64(($0.timeIntervalSince1970 * 1000).rounded())
                },
                dueAtMilliseconds: due, nowMilliseconds: now)
            if case .hold = decision, partition.held.count >= settings.maximumHeldPerPartition {
                decision = .wait(untilMilliseconds: now + 500)
            }

            switch decision {
            case .emit:
                // Due already: held as well, so it goes out with the next batch of due timers
                // instead of in a write of its own.
                start(message, in: &partition)
                partition.held.insert(HeldTimer(message, due: due))
                armWake(at: due)
            case .hop(let tier):
                start(message, in: &partition)
                partition.sending += 1
                send(
                    forwarded(message, to: tier.topic), source: message.topicPartition, offset: message.offset,
                    due: due, emit: false, generation: partition.generation)
            case .hold(let until):
                start(message, in: &partition)
                partition.held.insert(HeldTimer(message, due: until))
                armWake(at: until)
            case .wait(let until):
                return PauseRequest(until: until, due: due, generation: partition.generation)
            }
            return nil
        }
        if let request = request ?? nil {
            await pause(message, until: request.until, due: request.due, generation: request.generation)
        }
    }

    private func start(_ message: KafkaConsumerMessage, in partition: inout SchedulerPartition) {
        partition.position = message.offset + 1
        partition.tracker.start(message.offset)
    }

    /// A record as forwarded: its key, value and headers, to `topic`.
    private func forwarded(_ message: KafkaConsumerMessage, to topic: String) -> KafkaProducerMessage {
        KafkaProducerMessage(topic: topic, key: message.key, value: message.value, headers: message.headers)
    }

    /// Forwards (or hops) a record and reports back once acknowledged, retrying until it is or the
    /// partition is no longer ours. The caller counts it in the partition's ``SchedulerPartition/sending``.
    private func send(
        _ outgoing: KafkaProducerMessage, source: KafkaTopicPartition, offset: Int64, due: Int64, emit: Bool,
        generation: Int
    ) {
        let publisher = self.publisher
        let topic = outgoing.topic
        let logger = self.logger
        Task {
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try await publisher.publish(outgoing)
                    self.sent(source, offset: offset, generation: generation, due: due, emit: emit, topic: topic)
                    return
                } catch {
                    logger.warning(
                        "timer forward failed, retrying",
                        metadata: [
                            LogKey.topic: "\(topic)", LogKey.error: "\(error)", "attempt": "\(attempt)",
                        ])
                    guard self.owns(source, generation: generation) else { return }
                    try? await Task.sleep(for: .milliseconds(min(5000, 100 * attempt)))
                }
            }
        }
    }

    // MARK: Held timers

    /// Makes sure the wake-up task fires by `due`, or ``SchedulerSettings/wakeInterval`` after the
    /// last one if that is later: one task for all held timers, re-armed only when a timer is due
    /// before the one it sleeps for.
    private func armWake(at requested: Int64) {
        let due = max(requested, lastFire + settings.wakeInterval.wholeMilliseconds)
        if let wake, wake.at <= due { return }
        wake?.task.cancel()
        nextWakeToken += 1
        let token = nextWakeToken
        let task = Task {
            let delay = due - Self.nowMilliseconds()
            if delay > 0 {
                do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
            }
            self.fireDue(token: token)
        }
        wake = (task, due, token)
    }

    /// One held timer on its way to query-jobs (its record is at the same index of the batch's
    /// messages).
    private struct Forward {
        let source: KafkaTopicPartition
        let generation: Int
        let offset: Int64
        let due: Int64
    }

    /// Timers in the last batch fired: the next batch reserves room for as many, so its arrays are
    /// allocated once rather than grown.
    private var lastBatchCount = 0

    /// Forwards every held timer that is due, as one batch, and re-arms for the next one.
    private func fireDue(token: Int) {
        guard wake?.token == token else { return }
        wake = nil
        guard !stopping else { return }
        let now = Self.nowMilliseconds()
        lastFire = now
        var batch: [Forward] = []
        var messages: [KafkaProducerMessage] = []
        batch.reserveCapacity(lastBatchCount)
        messages.reserveCapacity(lastBatchCount)
        let topic = settings.queryJobsTopic
        var next: Int64?
        // A copy of the keys: iterating the dictionary's own keys while `modify` mutates an entry would
        // copy the whole dictionary (every held timer) on each mutation.
        for source in Array(partitions.keys) {
            modify(source) { partition in
                let generation = partition.generation
                partition.held.popDue(now: now) { timer in
                    batch.append(Forward(source: source, generation: generation, offset: timer.offset, due: timer.due))
                    messages.append(timer.message(topic: topic))
                }
                if let earliest = partition.held.earliestDue { next = min(next ?? earliest, earliest) }
            }
        }
        lastBatchCount = batch.count
        if !batch.isEmpty { forward(batch, messages: messages) }
        if let next { armWake(at: next) }
    }

    /// Writes due timers to query-jobs in one batch; each is finished (or retried alone) when its
    /// acknowledgement or failure arrives.
    private func forward(_ batch: [Forward], messages: [KafkaProducerMessage]) {
        let publisher = self.publisher
        var start = batch.startIndex
        while start < batch.endIndex {
            // Items come grouped by partition: one count per run of the same partition.
            let item = batch[start]
            var end = start + 1
            while end < batch.endIndex, batch[end].source == item.source, batch[end].generation == item.generation {
                end += 1
            }
            modify(item.source, generation: item.generation) { partition in partition.sending += end - start }
            start = end
        }
        Task {
            let results = await publisher.publishAll(messages)
            self.forwarded(batch, messages: messages, results: results)
        }
    }

    private func forwarded(
        _ batch: [Forward], messages: [KafkaProducerMessage], results: [Result<Void, any Error>]
    ) {
        let now = Self.nowMilliseconds()
        var lateness: [Int64] = []
        var start = batch.startIndex
        while start < batch.endIndex {
            // Acknowledged items of a run of the same partition are counted and finished together.
            let first = batch[start]
            lateness.removeAll(keepingCapacity: true)
            var end = start
            while end < batch.endIndex, batch[end].source == first.source,
                batch[end].generation == first.generation, case .success = results[end]
            {
                lateness.append(now - batch[end].due)
                end += 1
            }
            if end > start {
                let tier = planner.tier(topic: first.source.topic)
                statistics.recordEmissions(latenessMilliseconds: lateness)
                instruments.emitted(tier: tier, latenessMilliseconds: lateness)
                instruments.messaging.sent(topic: messages[start].topic, count: end - start)
                modify(first.source, generation: first.generation) { partition in
                    partition.sending -= end - start
                    for index in start..<end { partition.tracker.finish(batch[index].offset) }
                }
                start = end
                continue
            }
            // A failed item is retried alone.
            let item = batch[start]
            if case .failure(let error) = results[start] {
                logger.warning(
                    "timer forward failed, retrying",
                    metadata: [
                        LogKey.topic: "\(messages[start].topic)", LogKey.error: "\(error)", "attempt": "1",
                    ])
                if stopping {
                    // Given up: uncommitted, so the next owner reads it again.
                    modify(item.source, generation: item.generation) { partition in partition.sending -= 1 }
                } else if owns(item.source, generation: item.generation) {
                    send(
                        messages[start], source: item.source, offset: item.offset, due: item.due, emit: true,
                        generation: item.generation)
                }
            }
            start += 1
        }
    }

    private func owns(_ source: KafkaTopicPartition, generation: Int) -> Bool {
        !stopping && partitions[source]?.generation == generation
    }

    private func sent(
        _ source: KafkaTopicPartition, offset: Int64, generation: Int, due: Int64, emit: Bool, topic: String
    ) {
        let tier = planner.tier(topic: source.topic)
        if emit {
            let lateness = Self.nowMilliseconds() - due
            statistics.recordEmission(latenessMilliseconds: lateness)
            instruments.emitted(tier: tier, latenessMilliseconds: lateness)
        } else {
            statistics.recordHop()
            instruments.hopped(tier: tier)
        }
        instruments.messaging.sent(topic: topic)
        finish(source, offset: offset, generation: generation)
    }

    /// A forward, hop or dead letter was acknowledged: its offset may be committed.
    private func finish(_ source: KafkaTopicPartition, offset: Int64, generation: Int) {
        modify(source, generation: generation) { partition in
            partition.sending -= 1
            partition.tracker.finish(offset)
        }
    }

    /// Sends an undecodable record to dead-letters (retrying until acknowledged or no longer ours).
    /// The caller counts it in the partition's ``SchedulerPartition/sending``.
    private func deadLetter(_ message: KafkaConsumerMessage, generation: Int) {
        let letter = DeadLetter(
            reason: .missingDueAt,
            detail: "the timer record has no usable \(TimerJob.dueAtHeader) header and its value is not a timer job",
            message: message, role: "scheduler")
        let publisher = self.publisher
        let source = message.topicPartition
        let offset = message.offset
        let logger = self.logger
        let topic = settings.deadLettersTopic
        statistics.recordInvalid()
        instruments.invalid(tier: planner.tier(topic: source.topic), reason: letter.reason)
        Task {
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try await publisher.publish(letter.message(topic: topic))
                    logger.notice(
                        "undecodable timer record sent to dead-letters",
                        metadata: [
                            LogKey.topic: "\(source.topic)", LogKey.partition: "\(source.partition)",
                            LogKey.offset: "\(offset)",
                        ])
                    self.finish(source, offset: offset, generation: generation)
                    return
                } catch {
                    guard self.owns(source, generation: generation) else { return }
                    try? await Task.sleep(for: .milliseconds(min(5000, 100 * attempt)))
                }
            }
        }
    }

    // MARK: Pausing

    /// Pauses the partition on `message` (its head) until `until`, seeking back so the head is
    /// fetched again on resume. The waiting state is recorded *before* the pause takes effect, so
    /// the sweeper never mistakes a partition being paused for a stray one; if pausing or seeking
    /// fails, the head is timed in memory instead, so it is never skipped.
    private func pause(_ message: KafkaConsumerMessage, until: Int64, due: Int64, generation: Int) async {
        let source = message.topicPartition
        let offset = message.offset
        guard let consumer, partitions[source]?.generation == generation else { return }
        let wake = Task {
            let delay = until - Self.nowMilliseconds()
            if delay > 0 {
                do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
            }
            self.wake(source, generation: generation)
        }
        partitions[source]?.waiting = SchedulerPartition.Waiting(offset: offset, untilMilliseconds: until, wake: wake)
        partitions[source]?.position = offset
        do {
            try consumer.pause([source])
            try await consumer.seek([
                KafkaTopicPartitionOffset(topic: source.topic, partition: source.partition, offset: offset)
            ])
        } catch {
            logger.warning(
                "could not pause a delay partition on its head; timing the head in memory",
                metadata: [
                    LogKey.topic: "\(source.topic)", LogKey.partition: "\(source.partition)", LogKey.error: "\(error)",
                ])
            wake.cancel()
            // `modify` answers nil when the partition (at this generation) is no longer held.
            let held: Void? = modify(source, generation: generation) { partition in
                partition.waiting = nil
                partition.position = offset + 1
                partition.tracker.start(offset)
                partition.held.insert(HeldTimer(message, due: due))
            }
            guard held != nil else { return }
            armWake(at: due)
            try? consumer.resume([source])
            return
        }
        instruments.paused(partitions: pausedCount)
    }

    private func wake(_ source: KafkaTopicPartition, generation: Int) {
        let wasWaiting = modify(source, generation: generation) { partition -> Bool in
            defer { partition.waiting = nil }
            return partition.waiting != nil
        }
        guard wasWaiting == true else { return }
        do {
            try consumer?.resume([source])
        } catch {
            logger.warning(
                "could not resume a delay partition",
                metadata: [
                    LogKey.topic: "\(source.topic)", LogKey.partition: "\(source.partition)", LogKey.error: "\(error)",
                ])
        }
        instruments.paused(partitions: pausedCount)
    }

    private var pausedCount: Int { partitions.values.count { $0.waiting != nil } }

    // MARK: Rebalance

    func rebalance(_ event: KafkaRebalance) async {
        switch event.kind {
        case .assigned:
            for source in event.partitions {
                guard let tier = planner.tier(topic: source.topic) else { continue }
                partitions[source]?.cancelAll()
                nextGeneration += 1
                partitions[source] = SchedulerPartition(generation: nextGeneration, tier: tier)
            }
            // A partition assigned again must never stay paused from an earlier assignment.
            if let consumer {
                let stale = consumer.pausedPartitions.intersection(event.partitions)
                if !stale.isEmpty { try? consumer.resume(Array(stale)) }
            }
            logger.info("delay partitions assigned", metadata: [LogKey.partitions: "\(event.partitions.count)"])
        case .revoked:
            storeOffsets(of: event.partitions)
            forget(event.partitions)
            logger.info("delay partitions revoked", metadata: [LogKey.partitions: "\(event.partitions.count)"])
        default:
            forget(event.partitions)
            logger.warning("delay partitions lost", metadata: [LogKey.partitions: "\(event.partitions.count)"])
        }
        instruments.paused(partitions: pausedCount)
    }

    private func forget(_ sources: [KafkaTopicPartition]) {
        for source in sources {
            partitions.removeValue(forKey: source)?.cancelAll()
        }
    }

    // MARK: Housekeeping

    /// Stores committable offsets and repairs any partition left paused without a pending wake-up.
    func sweep() {
        storeOffsets(of: Array(partitions.keys))
        guard let consumer else { return }
        let now = Self.nowMilliseconds()
        var stray: [KafkaTopicPartition] = []
        for source in consumer.pausedPartitions {
            guard let partition = partitions[source], let waiting = partition.waiting else {
                stray.append(source)
                continue
            }
            if now - waiting.untilMilliseconds > 2000 {
                // The wake-up did not happen (should not occur): resume rather than stall the tier.
                partitions[source]?.waiting = nil
                stray.append(source)
            }
        }
        if !stray.isEmpty {
            logger.warning(
                "resuming delay partitions that were paused without a pending wake-up",
                metadata: [
                    "partitions": "\(stray.sorted().map(\.description).joined(separator: ","))"
                ])
            try? consumer.resume(stray)
        }
    }

    private func storeOffsets(of sources: [KafkaTopicPartition]) {
        guard let consumer else { return }
        var offsets: [KafkaTopicPartitionOffset] = []
        for source in sources {
            let moved = modify(source) { partition -> Int64? in
                guard let committable = partition.tracker.committable, committable != partition.stored else {
                    return nil
                }
                partition.stored = committable
                return committable
            }
            if let committable = moved ?? nil {
                offsets.append(
                    KafkaTopicPartitionOffset(topic: source.topic, partition: source.partition, offset: committable))
            }
        }
        guard !offsets.isEmpty else { return }
        do {
            try consumer.storeOffsets(offsets)
        } catch {
            logger.debug("could not store scheduler offsets", metadata: [LogKey.error: "\(error)"])
        }
    }

    /// The commit positions of assigned partitions (next offset to read), for the pending gauge.
    func positions() -> [KafkaTopicPartition: Int64?] {
        partitions.mapValues { $0.tracker.committable ?? $0.waiting?.offset ?? $0.position }
    }

    /// Timers held in memory right now.
    func heldCount() -> Int { partitions.values.reduce(0) { $0 + $1.held.count } }

    // MARK: Shutdown

    /// Stops taking new work, waits (bounded) for forwards in flight, drops held timers (they are
    /// uncommitted and re-read by the next owner) and stores the final offsets.
    func stop(drainTimeout: Duration) async {
        stopping = true
        wake?.task.cancel()
        wake = nil
        // A copy of the keys: iterating the dictionary's own keys while `modify` mutates an entry would
        // copy the whole dictionary (every held timer) on each mutation.
        for source in Array(partitions.keys) {
            modify(source) { partition in
                partition.held.removeAll()
                partition.waiting?.wake.cancel()
            }
        }
        let deadline = ContinuousClock.now + drainTimeout
        while ContinuousClock.now < deadline, !Task.isCancelled,
            partitions.values.contains(where: { $0.sending > 0 })
        {
            // Acknowledgements arrive through `sent`, which does not check `stopping`.
            do { try await Task.sleep(for: .milliseconds(20)) } catch { break }
        }
        storeOffsets(of: Array(partitions.keys))
    }
}
