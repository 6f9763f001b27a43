import Foundation
import Kafka
import Logging
import MetricsTestKit
import Synchronization
import Testing

@testable import Fleet

/// The scheduler core with a fake publisher: how held and due timers are written, acknowledged and
/// committed.
@Suite("Scheduler core batches")
struct SchedulerCoreTests {
    /// Records what was written (successes only) and when; refuses, once, a batch write of the
    /// records whose keys it is given (a single write of them succeeds).
    final class Publisher: RecordPublisher {
        struct Written {
            var key: String
            var at: Int64
        }

        struct Refused: Error {}

        private let state: Mutex<(written: [Written], refuseOnce: Set<String>)>

        init(refuseOnce: Set<String> = []) {
            state = Mutex(([], refuseOnce))
        }

        var written: [Written] { state.withLock { $0.written } }

        func publish(_ message: KafkaProducerMessage) async throws {
            let key = message.key.map { String(decoding: $0, as: UTF8.self) } ?? ""
            state.withLock { $0.written.append(Written(key: key, at: SchedulerCore.nowMilliseconds())) }
        }

        func publishAll(_ messages: [KafkaProducerMessage]) async -> [Result<Void, any Error>] {
            state.withLock { state in
                messages.map { message in
                    let key = message.key.map { String(decoding: $0, as: UTF8.self) } ?? ""
                    if state.refuseOnce.remove(key) != nil { return .failure(Refused()) }
                    state.written.append(Written(key: key, at: SchedulerCore.nowMilliseconds()))
                    return .success(())
                }
            }
        }
    }

    static func core(_ publisher: Publisher, statistics: SchedulerStatistics) -> SchedulerCore {
        SchedulerCore(
            settings: SchedulerSettings(), publisher: publisher, statistics: statistics,
            instruments: SchedulerInstruments(group: "payfleet-scheduler", factory: TestMetrics()),
            health: HealthState(), logger: Logger(label: "test"))
    }

    static func record(_ source: KafkaTopicPartition, offset: Int64, key: String, due: Int64) -> KafkaConsumerMessage {
        KafkaConsumerMessage(
            topic: source.topic, partition: source.partition, offset: offset, key: Data(key.utf8),
            value: Data("{\"out_trade_no\":\"\(key)\"}".utf8),
            headers: [KafkaHeader(key: TimerJob.dueAtHeader, string: String(due))])
    }

    /// Waits (bounded, no assertion on the time taken) until `done` holds.
    static func waitUntil(_ done: () async -> Bool) async throws {
        for _ in 0..<2000 {
            if await done() { return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("due records of two partitions are each written once, counted once and become committable")
    func dueRecordsAreForwardedAndCommitted() async throws {
        let publisher = Publisher()
        let statistics = SchedulerStatistics()
        let core = Self.core(publisher, statistics: statistics)
        let first = KafkaTopicPartition(topic: DelayTier.fiveSeconds.topic, partition: 0)
        let second = KafkaTopicPartition(topic: DelayTier.fiveSeconds.topic, partition: 1)
        await core.rebalance(KafkaRebalance(kind: .assigned, partitions: [first, second]))
        let due = SchedulerCore.nowMilliseconds() - 1000
        for offset in 0..<5 {
            await core.handle(Self.record(first, offset: Int64(offset), key: "A\(offset)", due: due))
        }
        for offset in 10..<13 {
            await core.handle(Self.record(second, offset: Int64(offset), key: "B\(offset)", due: due + 1))
        }
        try await Self.waitUntil {
            let positions = await core.positions()
            return positions[first] == 5 && positions[second] == 13
        }

        let keys = publisher.written.map(\.key)
        #expect(keys.sorted() == ["A0", "A1", "A2", "A3", "A4", "B10", "B11", "B12"])
        #expect(keys.filter { $0.hasPrefix("A") } == ["A0", "A1", "A2", "A3", "A4"], "offset order within a partition")
        let positions = await core.positions()
        #expect(positions[first] == 5)
        #expect(positions[second] == 13)
        let snapshot = statistics.snapshot
        #expect(snapshot.emitted == 8)
        #expect(snapshot.latenessMilliseconds.count == 8)
        #expect(snapshot.latenessMilliseconds.allSatisfy { $0 >= 999 })
    }

    @Test("a timer whose batch write fails is written again alone and committed only after that")
    func failedForwardIsRetried() async throws {
        let publisher = Publisher(refuseOnce: ["K1"])
        let statistics = SchedulerStatistics()
        let core = Self.core(publisher, statistics: statistics)
        let source = KafkaTopicPartition(topic: DelayTier.fiveSeconds.topic, partition: 2)
        await core.rebalance(KafkaRebalance(kind: .assigned, partitions: [source]))
        let due = SchedulerCore.nowMilliseconds() - 10
        for offset in 0..<3 {
            await core.handle(Self.record(source, offset: Int64(offset), key: "K\(offset)", due: due))
        }
        try await Self.waitUntil { await core.positions()[source] == 3 }

        #expect(publisher.written.map(\.key).sorted() == ["K0", "K1", "K2"], "each timer written once successfully")
        #expect(await core.positions()[source] == 3)
        #expect(statistics.snapshot.emitted == 3)
    }

    @Test("held timers are written at or after their due time, never before")
    func heldTimersAreNeverEarly() async throws {
        let publisher = Publisher()
        let statistics = SchedulerStatistics()
        let core = Self.core(publisher, statistics: statistics)
        let source = KafkaTopicPartition(topic: DelayTier.fiveSeconds.topic, partition: 3)
        await core.rebalance(KafkaRebalance(kind: .assigned, partitions: [source]))
        let now = SchedulerCore.nowMilliseconds()
        // Due 20 ms apart, some closer together than the wake interval, arriving out of due order.
        let dues: [Int64] = [now + 120, now + 20, now + 60, now + 61, now + 62, now + 200, now + 40]
        for (offset, due) in dues.enumerated() {
            await core.handle(Self.record(source, offset: Int64(offset), key: "H\(offset)", due: due))
        }
        #expect(await core.heldCount() <= dues.count)
        try await Self.waitUntil { publisher.written.count == dues.count }

        let written = publisher.written
        #expect(written.count == dues.count)
        for entry in written {
            let offset = try #require(Int(entry.key.dropFirst()))
            #expect(entry.at >= dues[offset], "\(entry.key) written \(dues[offset] - entry.at) ms before it was due")
        }
        try await Self.waitUntil { await core.positions()[source] == Int64(dues.count) }
        #expect(await core.positions()[source] == Int64(dues.count))
        #expect(await core.heldCount() == 0)
    }
}
