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
        batch.reserve(4)
        for index in [2, 0, 3, 1] {
            batch.report(
                index, partition: Int32(index), offset: Int64(100 + index),
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
        batch.reserve(4)
        batch.reportFailure(3, KafkaError(.delivery, "fourth failed"))
        batch.report(0, partition: 0, offset: 7)
        batch.reportFailure(1, KafkaError(.delivery, "second failed"))
        batch.report(2, partition: 1, offset: 8)
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
        batch.reserve(2)
        // The second message was never enqueued: its reservation is given back and it fails in the batch.
        batch.unreserve(1)
        batch.fail(1, KafkaError(.delivery, "queue refused it"))
        batch.fail(1, KafkaError(.delivery, "a second outcome is ignored"))
        batch.report(0, partition: 0, offset: 1)
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
        batch.reserve(count)
        let waiter = Task { await batch.wait() }
        let reporter = Thread {
            for index in (0..<count).reversed() {
                batch.report(index, partition: 0, offset: Int64(index))
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
        batch.reserve(10)
        await batch.waitUntilCompleted(atLeast: 0)
        let waiter = Task { await batch.waitUntilCompleted(atLeast: 4) }
        let reporter = Thread {
            for index in 0..<10 {
                batch.report(index, partition: 0, offset: Int64(index))
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

    @Test func messagesInFlightKeepTheirBatchAliveUntilTheLastReport() async throws {
        weak var weakBatch: DeliveryBatch?
        var unretained: Unmanaged<DeliveryBatch>?
        do {
            let batch = DeliveryBatch(messages: messages(["t", "t", "t"]))
            weakBatch = batch
            unretained = Unmanaged.passUnretained(batch)
            batch.reserve(3)
            batch.unreserve(1)  // the third was not enqueued
        }
        // The sender is gone; librdkafka still holds the opaques of two enqueued messages.
        #expect(weakBatch != nil)
        unretained!.takeUnretainedValue().report(0, partition: 0, offset: 0)
        #expect(weakBatch != nil, "one message is still in flight")
        unretained!.takeUnretainedValue().report(1, partition: 0, offset: 1)
        #expect(weakBatch == nil, "the last report gives back the batch's retain")
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
        #expect(try await recordCount(cluster, topic: "sized", partitions: 2, logger: logger) == 4)
        await producer.close(timeout: .seconds(5))
    }

    /// One delivery-report event carries the reports of every send whose messages shared its
    /// produce requests; each send must get exactly its own, each report naming where its own
    /// message was written.
    @Test func concurrentSendsEachGetTheReportsOfTheirOwnMessages() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("mixed", partitions: 2)
        // A linger long enough that the concurrent sends share produce requests, so delivery-report events.
        let producer = try KafkaProducer(
            configuration: producerConfiguration(cluster, ["linger.ms": "20"]), logger: logger)
        let senders = 8
        let perSender = 300
        let sent = try await withThrowingTaskGroup(of: [(String, KafkaDeliveryReport)].self) { group in
            for sender in 0..<senders {
                group.addTask {
                    let values = (0..<perSender).map { "\(sender)-\($0)" }
                    let reports = try await producer.sendAll(
                        values.map { KafkaProducerMessage(topic: "mixed", key: $0, value: Data($0.utf8)) })
                    return Array(zip(values, reports))
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(sent.count == senders * perSender)
        let written = try await withKafkaPartitionReader(configuration: cluster.configuration(), logger: logger) {
            reader in
            var written: [String: String] = [:]
            for try await message in reader.readToEnd(topic: "mixed", partitions: [0, 1]) {
                written["\(message.partition)/\(message.offset)"] = message.value.map {
                    String(decoding: $0, as: UTF8.self)
                }
            }
            return written
        }
        #expect(written.count == senders * perSender)
        let mismatched = sent.filter { value, report in
            report.topic != "mixed" || written["\(report.partition)/\(report.offset)"] != value
        }
        #expect(mismatched.isEmpty, "reports naming another message's place: \(mismatched.prefix(3).map(\.0))")
        await producer.close(timeout: .seconds(5))
    }

    /// A produce request the broker refuses for good fails its messages through their delivery
    /// reports; the sends without reports say so too.
    @Test func aRefusedProduceRequestFailsItsMessagesInTheSendsWithoutReports() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("refused", partitions: 1)
        let producer = try KafkaProducer(
            configuration: producerConfiguration(cluster, ["linger.ms": "50"]), logger: logger)
        func batch(_ name: String) -> [KafkaProducerMessage] {
            (0..<20).map { KafkaProducerMessage(topic: "refused", key: "k", value: Data("\(name)-\($0)".utf8)) }
        }
        #expect(await producer.sendAllFailures(batch("good")).isEmpty)
        try await producer.sendAllWithoutReports(batch("good-again"))

        try cluster.pushRequestErrors(
            apiKey: KafkaAPIKey.produce, errors: [RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue])
        let failures = await producer.sendAllFailures(batch("refused"))
        #expect(failures.count == 20, "one request held the batch, and the broker refused it")
        #expect(failures.values.allSatisfy { $0.code == .delivery })
        #expect(Set(failures.keys) == Set(0..<20))

        try cluster.pushRequestErrors(
            apiKey: KafkaAPIKey.produce, errors: [RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue])
        await #expect(throws: KafkaError.self) { try await producer.sendAllWithoutReports(batch("refused-again")) }
        try await producer.sendAllWithoutReports(batch("after"))
        await producer.close(timeout: .seconds(5))
    }
}

extension DeliveryBatch {
    /// One successful delivery report of message `index`, recorded as the delivery-report thread does.
    fileprivate func report(_ index: Int, partition: Int32, offset: Int64, timestampMilliseconds: Int64? = nil) {
        let delivered = [
            Delivered(
                index: index,
                record: Record(
                    partition: partition, offset: offset, timestampMilliseconds: timestampMilliseconds ?? .min))
        ]
        delivered.withUnsafeBufferPointer { record(delivered: $0, failed: [], reported: 1) }
    }

    /// One failed delivery report of message `index`.
    fileprivate func reportFailure(_ index: Int, _ error: KafkaError) {
        record(delivered: UnsafeBufferPointer(start: nil, count: 0), failed: [(index, error)], reported: 1)
    }
}
