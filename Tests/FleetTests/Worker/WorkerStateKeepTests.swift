import Foundation
import Kafka
import Logging
import Payments
import Testing

@testable import Fleet

/// State kept across a rebalance (eager assignor: every rebalance revokes every partition) and
/// restores that read only what changed.
@Suite("Worker state: kept across rebalances, tail restores", .serialized)
struct WorkerStateKeepTests {
    static let logger = Logger(label: "test")

    static func record(
        _ key: String, _ offset: Int64, _ state: OrderState?, partition: Int32 = 0
    ) -> KafkaConsumerMessage {
        KafkaConsumerMessage(
            topic: FleetTopic.orderState, partition: partition, offset: offset, key: Data(key.utf8),
            value: state?.encoded())
    }

    static func succeeded(_ key: String) -> OrderState {
        var state = OrderState(
            outTradeNo: key, merchant: "shop", channel: .wechatV2, amount: Money(fen: 100), description: "tea",
            createdAt: Fixture.t0, expiresAt: Fixture.at(7200), requestDigest: "digest-\(key)")
        state.status = .succeeded
        state.terminalAt = Fixture.at(60)
        state.payment = OrderState.PaymentRecord(
            transactionID: "42\(key)", amountFen: 100, paidAt: Fixture.at(59), vendorMerchantID: "10000100",
            subPayments: [])
        return state
    }

    static func live(_ key: String) -> OrderState {
        var state = OrderState(
            outTradeNo: key, merchant: "shop", channel: .wechatV2, amount: Money(fen: 100), description: "tea",
            createdAt: Fixture.t0, expiresAt: Fixture.at(7200), requestDigest: "digest-\(key)")
        state.status = .prepared
        return state
    }

    /// A core holding partition 0, restored from `records`.
    static func restoredCore(
        _ records: [KafkaConsumerMessage], maximumDormancy: Duration = .seconds(86_400)
    ) async throws -> WorkerCore {
        let core = WorkerCore(maxInFlight: 8, logger: logger, maximumDormancy: maximumDormancy)
        let epoch = try #require(await core.assigned([0])[0])
        for record in records { await core.restoreRecord(record) }
        _ = await core.restoreFinished(0, epoch: epoch)
        return core
    }

    @Test("terminal orders are held as summaries and handed to the machine as their summary state")
    func terminalHeldAsSummary() async throws {
        let core = try await Self.restoredCore([
            Self.record("A", 0, Self.live("A")), Self.record("B", 1, Self.succeeded("B")),
        ])
        #expect(await core.retainedOrders == (live: 1, terminal: 1))
        let message = KafkaConsumerMessage(
            topic: FleetTopic.callbacks, partition: 0, offset: 0, key: Data("B".utf8), value: Data())
        let launch = try #require(await core.accept(message))
        #expect(launch.state == TerminalSummary(Self.succeeded("B"))?.orderState)

        // A live order that becomes terminal moves to the summaries.
        let a = KafkaConsumerMessage(
            topic: FleetTopic.callbacks, partition: 0, offset: 1, key: Data("A".utf8), value: Data())
        let launchA = try #require(await core.accept(a))
        _ = await core.finished(launchA, change: .set(Self.succeeded("A")), completed: true)
        #expect(await core.retainedOrders == (live: 0, terminal: 2))
    }

    @Test("a kept partition resumes from the tail only")
    func keptPartitionResumesFromTail() async throws {
        let core = try await Self.restoredCore([
            Self.record("A", 0, Self.live("A")), Self.record("B", 1, Self.succeeded("B")),
        ])
        await core.beginRevoking([0])
        #expect(await core.completeRevokedPartitions([0]) == [0])
        await core.keep([0], resumeAt: [0: 5])
        #expect(await core.dormantPartitionNumbers == [0])
        #expect(await core.partitionNumbers.isEmpty)

        let epoch = try #require(await core.assigned([0])[0])
        #expect(await core.restoreStarts([0: epoch]) == [0: 5])
        #expect(await core.retainedOrders == (live: 1, terminal: 1))
        // Another owner's writes after the kept offset apply; anything below it is already reflected.
        await core.restoreRecord(Self.record("A", 3, nil))
        await core.restoreRecord(Self.record("C", 5, Self.live("C")))
        await core.restoreRecord(Self.record("A", 6, Self.succeeded("A")))
        _ = await core.restoreFinished(0, epoch: epoch)
        #expect(await core.retainedOrders == (live: 1, terminal: 2))
    }

    @Test("a kept partition not assigned again is dropped when the assignment arrives")
    func notReassignedIsDropped() async throws {
        let core = try await Self.restoredCore([Self.record("A", 0, Self.live("A"))])
        await core.beginRevoking([0])
        await core.keep([0], resumeAt: [0: 1])
        #expect(await core.retainedOrders == (live: 1, terminal: 0))
        let epochs = await core.assigned([])
        #expect(epochs.isEmpty)
        #expect(await core.dormantPartitionNumbers.isEmpty)
        #expect(await core.retainedOrders == (live: 0, terminal: 0))
        // Assigned later, it is restored in full.
        let epoch = try #require(await core.assigned([0])[0])
        #expect(await core.restoreStarts([0: epoch]) == [0: 0])
    }

    @Test("a partition with abandoned work is not kept")
    func abandonedWorkIsNotKept() async throws {
        let core = try await Self.restoredCore([Self.record("A", 0, Self.live("A"))])
        let message = KafkaConsumerMessage(
            topic: FleetTopic.callbacks, partition: 0, offset: 0, key: Data("A".utf8), value: Data())
        let launch = try #require(await core.accept(message))
        await core.beginRevoking([0])
        _ = await core.finished(launch, change: .unchanged, completed: false)
        #expect(await core.completeRevokedPartitions([0]).isEmpty)
        await core.keep([0], resumeAt: [0: 1])
        #expect(await core.dormantPartitionNumbers.isEmpty)
        #expect(await core.retainedOrders == (live: 0, terminal: 0))
    }

    @Test("a partition kept longer than the changelog's tombstone retention is restored in full")
    func longAbsenceRestoresInFull() async throws {
        let core = try await Self.restoredCore([Self.record("A", 0, Self.live("A"))], maximumDormancy: .zero)
        await core.beginRevoking([0])
        await core.keep([0], resumeAt: [0: 1])
        try await Task.sleep(for: .milliseconds(5))
        let epoch = try #require(await core.assigned([0])[0])
        #expect(await core.restoreStarts([0: epoch]) == [0: 0])
        #expect(await core.retainedOrders == (live: 0, terminal: 0))
    }

    @Test("restore reads the changelog in full, then only the tail after a rebalance (embedded broker)")
    func restoreFromBroker() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: Self.logger)
        defer { cluster.shutdown() }
        try cluster.createTopic(FleetTopic.orderState, partitions: 2)
        let kafka = cluster.configuration()
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: Self.logger)
        func write(_ states: [(String, OrderState?)], partition: Int32) async throws {
            _ = try await producer.sendAll(
                states.map {
                    KafkaProducerMessage(
                        topic: FleetTopic.orderState, partition: partition, key: $0.0, value: $0.1?.encoded())
                })
        }
        // Partition 0: 40 orders, one old format 1 terminal record, one tombstone.
        try await write(
            (0..<30).map { ("T\($0)", Self.succeeded("T\($0)")) } + (0..<10).map { ("L\($0)", Self.live("L\($0)")) },
            partition: 0)
        _ = try await producer.sendAll([
            KafkaProducerMessage(
                topic: FleetTopic.orderState, partition: 0, key: "old",
                value: Data(OrderStateRecordTests.formatOneSucceeded.utf8)),
            KafkaProducerMessage(topic: FleetTopic.orderState, partition: 0, key: "T0", value: nil),
        ])
        try await write([("P1", Self.live("P1"))], partition: 1)

        let reader = try KafkaPartitionReader(configuration: kafka, logger: Self.logger)
        let core = WorkerCore(maxInFlight: 8, logger: Self.logger)
        let restorer = StateRestorer(core: core, reader: reader, metrics: nil, logger: Self.logger)
        let epochs = await core.assigned([0, 1])
        let full = try #require(try await restorer.restore(epochs))
        #expect(full.records == 43)
        for (partition, epoch) in epochs { _ = await core.restoreFinished(partition, epoch: epoch) }
        #expect(await core.retainedOrders == (live: 11, terminal: 30))

        // Rebalance: both revoked with their work finished and kept; meanwhile another owner writes 3 records to partition 0.
        await core.beginRevoking([0, 1])
        await restorer.keepRevoked([0, 1])
        #expect(await core.dormantPartitionNumbers == [0, 1])
        try await write([("T1", nil), ("N1", Self.live("N1")), ("L0", Self.succeeded("L0"))], partition: 0)

        // Only partition 0 comes back: it reads the 3 new records; partition 1 is dropped.
        let resumed = await core.assigned([0])
        let tail = try #require(try await restorer.restore(resumed))
        #expect(tail.records == 3)
        _ = await core.restoreFinished(0, epoch: try #require(resumed[0]))
        #expect(await core.retainedOrders == (live: 10, terminal: 30))
        #expect(await core.dormantPartitionNumbers.isEmpty)

        await producer.close(timeout: .seconds(5))
        await reader.close()
    }
}
