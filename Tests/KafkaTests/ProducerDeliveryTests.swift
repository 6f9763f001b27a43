import CRdKafka
import Foundation
import Testing

@testable import Kafka

/// How a producer batch turns delivery reports into results, and how its delivery-report thread is
/// woken when the producer closes.
@Suite("Producer delivery reports", .timeLimit(.minutes(2)))
struct ProducerDeliveryTests {
    private func messages(_ topics: [String]) -> [KafkaProducerMessage] {
        topics.enumerated().map { index, topic in
            KafkaProducerMessage(topic: topic, key: "k\(index)", value: Data("v\(index)".utf8))
        }
    }

    @Test func reportsComeBackInInputOrderWhateverOrderTheyArriveIn() async throws {
        let batch = DeliveryBatch(messages: messages(["a", "b", "a", "c"]))
        let opaques = (0..<4).map { batch.retainForMessage($0) }
        for index in [2, 0, 3, 1] {
            DeliveryBatch.delivered(
                opaques[index], partition: Int32(index), offset: Int64(100 + index),
                timestampMilliseconds: index == 3 ? nil : 1_700_000_000_000 + Int64(index))
        }
        await batch.wait()
        let reports = try batch.reports()
        #expect(reports.map(\.topic) == ["a", "b", "a", "c"])
        #expect(reports.map(\.partition) == [0, 1, 2, 3])
        #expect(reports.map(\.offset) == [100, 101, 102, 103])
        #expect(reports[0].timestamp == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(reports[3].timestamp == nil)
        #expect(try batch.settled().map { try $0.get() } == reports)
    }

    @Test func aFailureStaysWithItsMessageAndTheFirstFailureInInputOrderIsThrown() async throws {
        let batch = DeliveryBatch(messages: messages(["t", "t", "t", "t"]))
        let opaques = (0..<4).map { batch.retainForMessage($0) }
        DeliveryBatch.failed(opaques[3], KafkaError(.delivery, "fourth failed"))
        DeliveryBatch.delivered(opaques[0], partition: 0, offset: 7, timestampMilliseconds: nil)
        DeliveryBatch.failed(opaques[1], KafkaError(.delivery, "second failed"))
        DeliveryBatch.delivered(opaques[2], partition: 1, offset: 8, timestampMilliseconds: nil)
        await batch.wait()

        let settled = batch.settled()
        #expect(settled.count == 4)
        #expect((try? settled[0].get())?.offset == 7)
        #expect((try? settled[2].get())?.offset == 8)
        for (index, text) in [(1, "second failed"), (3, "fourth failed")] {
            guard case .failure(let error) = settled[index] else {
                Issue.record("message \(index) must have failed")
                continue
            }
            #expect(error.code == .delivery)
            #expect(error.message.contains(text))
        }
        let thrown = #expect(throws: KafkaError.self) { try batch.reports() }
        #expect(thrown?.message.contains("second failed") == true)
    }

    @Test func aMessageNotEnqueuedFailsWithoutAReportAndTheFirstOutcomeCounts() async throws {
        let batch = DeliveryBatch(messages: messages(["t", "t"]))
        let first = batch.retainForMessage(0)
        let second = batch.retainForMessage(1)
        // The second message was never enqueued: its retain is given back and it fails in the batch.
        DeliveryBatch.release(second)
        batch.fail(1, KafkaError(.delivery, "queue refused it"))
        batch.fail(1, KafkaError(.delivery, "a second outcome is ignored"))
        DeliveryBatch.delivered(first, partition: 0, offset: 1, timestampMilliseconds: nil)
        await batch.wait()
        let settled = batch.settled()
        #expect((try? settled[0].get())?.offset == 1)
        guard case .failure(let error) = settled[1] else {
            Issue.record("the message that was not enqueued must fail")
            return
        }
        #expect(error.message.contains("queue refused it"))
    }

    @Test func theWaiterWakesOnceTheLastReportArrivesFromAnotherThread() async throws {
        let count = 5000
        let batch = DeliveryBatch(messages: messages(Array(repeating: "t", count: count)))
        let opaques = (0..<count).map { UInt(bitPattern: batch.retainForMessage($0)) }
        let waiter = Task { await batch.wait() }
        let reporter = Thread {
            for (index, opaque) in opaques.enumerated().reversed() {
                DeliveryBatch.delivered(
                    UnsafeMutableRawPointer(bitPattern: opaque)!, partition: 0, offset: Int64(index),
                    timestampMilliseconds: nil)
            }
        }
        reporter.start()
        await waiter.value
        let reports = try batch.reports()
        #expect(reports.count == count)
        #expect(reports.map(\.offset) == (0..<count).map(Int64.init))
    }

    @Test func aSenderWaitingForRoomWakesWhenEnoughMessagesHaveOutcomes() async throws {
        let batch = DeliveryBatch(messages: messages(Array(repeating: "t", count: 10)))
        let opaques = (0..<10).map { UInt(bitPattern: batch.retainForMessage($0)) }
        await batch.waitUntilCompleted(atLeast: 0)
        let waiter = Task { await batch.waitUntilCompleted(atLeast: 4) }
        let reporter = Thread {
            for index in 0..<10 {
                DeliveryBatch.delivered(
                    UnsafeMutableRawPointer(bitPattern: opaques[index])!, partition: 0, offset: Int64(index),
                    timestampMilliseconds: nil)
            }
        }
        reporter.start()
        await waiter.value
        #expect(batch.completedCount >= 4)
        await batch.wait()
        #expect(batch.completedCount == 10)
        // Asking for more than the batch holds waits only for the whole batch.
        await batch.waitUntilCompleted(atLeast: 50)
    }

    @Test func everyEnqueuedMessageKeepsItsBatchAliveUntilItsReport() async throws {
        weak var weakBatch: DeliveryBatch?
        var opaque: UnsafeMutableRawPointer?
        do {
            let batch = DeliveryBatch(messages: messages(["t"]))
            weakBatch = batch
            opaque = batch.retainForMessage(0)
        }
        // The sender is gone; librdkafka still holds the opaque of an enqueued message.
        #expect(weakBatch != nil)
        DeliveryBatch.delivered(opaque!, partition: 0, offset: 0, timestampMilliseconds: nil)
        #expect(weakBatch == nil, "the report gives back the message's retain")
    }

    @Test func aStringKeyIsItsUTF8Bytes() {
        for key in ["order-1", "", "订单-42", String(repeating: "k", count: 300)] {
            #expect(KafkaProducerMessage(topic: "t", key: key, value: nil).key == Data(key.utf8))
        }
    }

    /// Closing wakes the delivery-report thread instead of letting it wait out its poll timeout:
    /// after ``RDKafkaClient/wakePoll()`` from another thread, a poll with a five-minute timeout
    /// returns (the test's one-minute time limit fails it if it does not).
    @Test(.timeLimit(.minutes(1)))
    func wakingThePollThreadEndsALongPoll() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        // Never sent with, so no delivery-report thread of its own polls this handle.
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        let client = producer.client
        let waker = Thread { client.wakePoll() }
        waker.start()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let poller = Thread {
                client.poll(timeoutMilliseconds: 300_000)
                continuation.resume()
            }
            poller.start()
        }
        await producer.close(timeout: .seconds(5))
    }

    /// Delivery reports are served as events; an error on the same queue comes back as an event too
    /// and must still reach the error handler: a fatal error (raised here with librdkafka's
    /// `rd_kafka_test_fatal_error`) is recorded on the client, and messages are still reported.
    @Test func anErrorOnTheDeliveryQueueReachesTheErrorHandler() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("errors", partitions: 1)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        let report = try await producer.send(KafkaProducerMessage(topic: "errors", key: "k", value: Data("v".utf8)))
        #expect(report.topic == "errors")
        #expect(producer.client.context.fatalError.withLockedValue { $0 } == nil)

        #expect(
            rd_kafka_test_fatal_error(producer.client.handle, RD_KAFKA_RESP_ERR__INVALID_ARG, "test")
                == RD_KAFKA_RESP_ERR_NO_ERROR)
        let deadline = ContinuousClock.now + .seconds(10)
        while producer.client.context.fatalError.withLockedValue({ $0 }) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let fatal = producer.client.context.fatalError.withLockedValue { $0 }
        #expect(fatal?.code == .fatal)
        #expect(fatal.map { "\($0)".contains("test") } == true)
        await producer.close(timeout: .seconds(5))
    }

    @Test func aBatchLargerThanTheSendWindowIsDeliveredWholeAndInOrder() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("windowed", partitions: 3)
        var configuration = producerConfiguration(cluster)
        configuration.sendWindow = 7
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let batch = (0..<500).map {
            KafkaProducerMessage(topic: "windowed", key: "k\($0 % 20)", value: Data("\($0)".utf8))
        }
        let reports = try await producer.sendAll(batch)
        #expect(reports.count == 500)
        // Per partition, offsets follow the send order: a window never reorders.
        var lastOffset: [Int32: Int64] = [:]
        for report in reports {
            if let last = lastOffset[report.partition] { #expect(report.offset > last) }
            lastOffset[report.partition] = report.offset
        }
        let settled = try await producer.sendAllSettled(batch)
        #expect(settled.allSatisfy { (try? $0.get()) != nil })
        await producer.close(timeout: .seconds(5))
    }

    @Test func anOversizedMessageFailsAloneAndTheRestOfTheBatchIsDelivered() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("sized", partitions: 2)
        let producer = try KafkaProducer(
            configuration: producerConfiguration(cluster, ["message.max.bytes": "10000"]), logger: logger)
        let batch = [
            KafkaProducerMessage(topic: "sized", key: "a", value: Data(count: 100)),
            KafkaProducerMessage(topic: "sized", key: "b", value: Data(count: 50_000)),
            KafkaProducerMessage(topic: "sized", key: "c", value: Data(count: 100)),
        ]
        let settled = try await producer.sendAllSettled(batch)
        #expect(settled.count == 3)
        #expect((try? settled[0].get())?.topic == "sized")
        #expect((try? settled[2].get())?.topic == "sized")
        guard case .failure(let error) = settled[1] else {
            Issue.record("a message above message.max.bytes must fail")
            await producer.close(timeout: .seconds(5))
            return
        }
        #expect(error.code == .delivery)
        await #expect(throws: KafkaError.self) { try await producer.sendAll(batch) }

        // Both runs delivered their two good messages; nothing else was written.
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(cluster, group: uniqueName("sized")), logger: logger)
        var total: Int64 = 0
        for partition in 0..<2 {
            let marks = try await consumer.watermarks(topic: "sized", partition: Int32(partition))
            total += marks.high - marks.low
        }
        #expect(total == 4)
        await consumer.close(timeout: .seconds(5))
        await producer.close(timeout: .seconds(5))
    }
}
