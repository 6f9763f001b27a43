import Foundation
import Kafka
import Logging
import Testing

@testable import Fleet

@Suite("Worker core: key-ordered parallelism and offsets")
struct WorkerCoreTests {
    func message(_ key: String, _ offset: Int64, topic: String = FleetTopic.orderRequests) -> KafkaConsumerMessage {
        KafkaConsumerMessage(topic: topic, partition: 0, offset: offset, key: Data(key.utf8), value: Data("{}".utf8))
    }

    func readyCore(maxInFlight: Int = 8) async -> WorkerCore {
        let core = WorkerCore(maxInFlight: maxInFlight, logger: Logger(label: "test"))
        let epochs = await core.assigned([0])
        _ = await core.restoreFinished(0, epoch: epochs[0] ?? 0)
        return core
    }

    @Test("different orders run concurrently, one order's messages strictly one after another")
    func keyOrdering() async throws {
        let core = await readyCore()
        let a1 = try #require(await core.accept(message("A", 0)))
        let b1 = try #require(await core.accept(message("B", 1)))
        #expect(await core.accept(message("A", 2)) == nil)  // queued behind A's first message
        #expect(a1.key == "A" && b1.key == "B")

        // B finishes first: offsets cannot pass A's unfinished message 0.
        let afterB = await core.finished(b1, change: .unchanged, completed: true)
        #expect(afterB.next == nil)
        #expect(afterB.offsets.isEmpty)

        // A's first message finishes: its state is handed to A's next message, offset 1 is released (2 still runs).
        var state = OrderState(
            outTradeNo: "A", merchant: "m", channel: .storepos, amount: .init(fen: 1), description: "d",
            createdAt: Date(), expiresAt: Date() + 60, requestDigest: "x")
        state.status = .prepared
        let afterA = await core.finished(a1, change: .set(state), completed: true)
        let a2 = try #require(afterA.next)
        #expect(a2.message.offset == 2)
        #expect(a2.state == state)
        #expect(afterA.offsets == [KafkaTopicPartitionOffset(topic: FleetTopic.orderRequests, partition: 0, offset: 2)])

        let done = await core.finished(a2, change: .unchanged, completed: true)
        #expect(done.offsets == [KafkaTopicPartitionOffset(topic: FleetTopic.orderRequests, partition: 0, offset: 3)])
    }

    @Test("messages arriving while a partition restores are held, then run in order")
    func heldDuringRestore() async throws {
        let core = WorkerCore(maxInFlight: 8, logger: Logger(label: "test"))
        let epoch = try #require(await core.assigned([0])[0])
        #expect(await core.accept(message("A", 0)) == nil)
        #expect(await core.accept(message("A", 1, topic: FleetTopic.callbacks)) == nil)
        var restored = KafkaConsumerMessage(
            topic: FleetTopic.orderState, partition: 0, offset: 7, key: Data("A".utf8),
            value: OrderState(
                outTradeNo: "A", merchant: "m", channel: .storepos, amount: .init(fen: 1), description: "d",
                createdAt: Date(timeIntervalSince1970: 1), expiresAt: Date(timeIntervalSince1970: 61),
                requestDigest: "x"
            ).encoded())
        await core.restoreRecord(restored)
        restored.offset = 8
        restored.value = nil  // a later tombstone wins
        await core.restoreRecord(restored)
        let launches = await core.restoreFinished(0, epoch: epoch)
        #expect(launches.count == 1)  // one key: its second message waits
        #expect(launches.first?.message.offset == 0)
        #expect(launches.first?.state == nil)
    }

    @Test("revoked partitions start nothing new and abandoned work stores no offset")
    func revocation() async throws {
        let core = await readyCore()
        let a = try #require(await core.accept(message("A", 0)))
        await core.beginRevoking([0])
        #expect(await core.accept(message("B", 1)) == nil)
        let abandoned = await core.finished(a, change: .unchanged, completed: false)
        #expect(abandoned.next == nil && abandoned.offsets.isEmpty)
        #expect(await core.waitUntilIdle([0], deadline: .now + .seconds(1)))
        #expect(await core.finalOffsets([0]).isEmpty)  // offset 0 never finished: nothing to commit
        await core.drop([0])
        #expect(await core.partitionNumbers.isEmpty)
    }

    @Test("the in-flight bound holds the consume loop until an order finishes")
    func capacity() async throws {
        let core = await readyCore(maxInFlight: 1)
        let a = try #require(await core.accept(message("A", 0)))
        let waiter = Task { await core.waitForCapacity() }
        try await Task.sleep(for: .milliseconds(50))
        _ = await core.finished(a, change: .unchanged, completed: true)
        await waiter.value
    }

    @Test(
        "the buffer bound counts every unfinished message of ready partitions and holds the consume loop",
        .timeLimit(.minutes(1)))
    func bufferBound() async throws {
        let core = await readyCore(maxInFlight: 8)  // buffer bound: 64; one key runs at a time
        let first = try #require(await core.accept(message("A", 0)))
        for offset in 1..<63 { #expect(await core.accept(message("A", Int64(offset))) == nil) }
        await core.waitForCapacity()  // 63 unfinished: below the bound
        _ = await core.assigned([1])  // a restoring partition's messages do not count
        let restoring = KafkaConsumerMessage(
            topic: FleetTopic.orderRequests, partition: 1, offset: 0, key: Data("R".utf8), value: Data("{}".utf8))
        #expect(await core.accept(restoring) == nil)
        await core.waitForCapacity()
        #expect(await core.accept(message("A", 63)) == nil)  // 64 in partition 0: at the bound
        let waiter = Task {
            await core.waitForCapacity()
            return ContinuousClock.now
        }
        try await Task.sleep(for: .milliseconds(50))
        let released = ContinuousClock.now
        _ = await core.finished(first, change: .unchanged, completed: true)
        #expect(await waiter.value >= released)  // held until an order finished
    }

    @Test("a consume loop waiting for capacity stops waiting when it is cancelled (shutdown)")
    func capacityCancellation() async throws {
        let core = await readyCore(maxInFlight: 1)
        _ = try #require(await core.accept(message("A", 0)))
        let waiter = Task { await core.waitForCapacity() }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await waiter.value
    }
}
