import Foundation
import Kafka
import Testing

@Suite("Consumer groups", .timeLimit(.minutes(3)))
struct GroupTests {
    /// Records rebalance events per member.
    final class Recorder: Sendable {
        let events = Locked<[KafkaRebalance]>([])
        func record(_ event: KafkaRebalance) { events.withLockedValue { $0.append(event) } }
    }

    @Test func twoMembersShareAndTakeOverCoPartitioned() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        let topics = ["a.requests", "a.callbacks", "a.jobs"]
        for topic in topics { try cluster.createTopic(topic, partitions: 6) }
        let group = uniqueName("g")
        let recorderA = Recorder()
        let recorderB = Recorder()
        let a = try KafkaConsumer(configuration: consumerConfiguration(cluster, group: group), logger: logger) {
            recorderA.record($0)
        }
        let b = try KafkaConsumer(configuration: consumerConfiguration(cluster, group: group), logger: logger) {
            recorderB.record($0)
        }
        try a.subscribe(topics: topics)
        try b.subscribe(topics: topics)

        let shared = try await eventually(timeout: .seconds(45)) {
            a.assignment.count + b.assignment.count == 18 && !a.assignment.isEmpty && !b.assignment.isEmpty
        }
        #expect(shared, "both members hold partitions: a=\(a.assignment.count) b=\(b.assignment.count)")
        #expect(a.assignment.isDisjoint(with: b.assignment))
        // Range assignor: partition p of all three topics belongs to one member.
        for member in [a, b] {
            let assignment = member.assignment
            let partitions = Set(assignment.map(\.partition))
            for p in partitions {
                for topic in topics {
                    #expect(
                        assignment.contains(KafkaTopicPartition(topic: topic, partition: p)),
                        "\(topic)[\(p)] co-assigned")
                }
            }
        }

        // Messages produced now are split between the members.
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        try await producer.sendAll(
            (0..<60).map { KafkaProducerMessage(topic: "a.requests", key: "o\($0)", value: Data("\($0)".utf8)) })

        // B leaves: A takes everything over, after B's handler saw the revocation.
        await b.close(timeout: .seconds(10))
        #expect(recorderB.events.withLockedValue { $0.contains { $0.kind == .revoked } })
        let takenOver = try await eventually(timeout: .seconds(30)) { a.assignment.count == 18 }
        #expect(takenOver, "a holds \(a.assignment.count) partitions")
        let received = try await collect(a, count: 60, timeout: .seconds(30))
        #expect(Set(received.compactMap(\.keyString)).count == 60)
        await a.close(timeout: .seconds(10))
        await producer.close(timeout: .seconds(5))
    }

    @Test func revocationWaitsForTheHandlerWhichCanCommit() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("rv", partitions: 2)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        try await producer.sendAll(
            (0..<20).map { KafkaProducerMessage(topic: "rv", key: "k\($0)", value: Data("\($0)".utf8)) })
        let group = uniqueName("rv")
        let handled = Locked<[KafkaConsumerMessage]>([])
        let handlerFinished = Locked<ContinuousClock.Instant?>(nil)
        let consumerBox = Locked<KafkaConsumer?>(nil)
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(cluster, group: group, ["enable.auto.commit": "false"]), logger: logger
        ) { event in
            guard event.kind == .revoked, let consumer = consumerBox.withLockedValue({ $0 }) else { return }
            // Finish "in-flight" work slowly, store and commit before the partitions go away.
            try? await Task.sleep(for: .milliseconds(500))
            for message in handled.withLockedValue({ $0 }) { try? consumer.storeOffset(message) }
            try? await consumer.commit()
            handlerFinished.withLockedValue { $0 = .now }
        }
        consumerBox.withLockedValue { $0 = consumer }
        try consumer.subscribe(topics: ["rv"])
        let messages = try await collect(consumer, count: 20, store: false)
        handled.withLockedValue { $0 = messages }
        let closeStarted = ContinuousClock.now
        await consumer.close(timeout: .seconds(10))
        let finished = try #require(handlerFinished.withLockedValue { $0 })
        #expect(finished > closeStarted + .milliseconds(400))

        // A new member of the group starts after everything: the handler's commit happened.
        let next = try KafkaConsumer(configuration: consumerConfiguration(cluster, group: group), logger: logger)
        let committed = try await next.committedOffsets([
            KafkaTopicPartition(topic: "rv", partition: 0), KafkaTopicPartition(topic: "rv", partition: 1),
        ])
        let total =
            try await next.watermarks(topic: "rv", partition: 0).high + next.watermarks(topic: "rv", partition: 1).high
        #expect(committed.map(\.offset).reduce(0, +) == total)
        await next.close(timeout: .seconds(5))
        consumerBox.withLockedValue { $0 = nil }
        await producer.close(timeout: .seconds(5))
    }

    @Test func atLeastOnceResumeAfterCrash() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("alo", partitions: 1)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        try await producer.sendAll(
            (0..<100).map { KafkaProducerMessage(topic: "alo", key: "k", value: Data("\($0)".utf8)) })
        let group = uniqueName("alo")

        // First life: handle (and store) 40 messages, commit, handle 10 more without storing, then die.
        let first = try KafkaConsumer(configuration: consumerConfiguration(cluster, group: group), logger: logger)
        try first.subscribe(topics: ["alo"])
        let handled = try await collect(first, count: 40)
        try await first.commit()
        _ = try await collect(first, count: 10, store: false)
        await first.simulateCrash()
        let lastHandled = try #require(handled.last?.offset)

        // Second life resumes right after the last handled message and loses nothing.
        let second = try KafkaConsumer(
            configuration: consumerConfiguration(cluster, group: group, ["session.timeout.ms": "6000"]), logger: logger)
        try second.subscribe(topics: ["alo"])
        let rest = try await collect(second, count: Int(99 - lastHandled), timeout: .seconds(40))
        #expect(rest.first?.offset == lastHandled + 1)
        #expect(rest.map(\.offset) == Array((lastHandled + 1)...99))
        await second.close(timeout: .seconds(10))
        await producer.close(timeout: .seconds(5))
    }

    @Test func pauseResumeAndSeek() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("ps", partitions: 1)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        try await producer.sendAll(
            (0..<10).map { KafkaProducerMessage(topic: "ps", key: "k", value: Data("\($0)".utf8)) })
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(cluster, group: uniqueName("ps")), logger: logger)
        try consumer.subscribe(topics: ["ps"])
        let firstTen = try await collect(consumer, count: 10)
        #expect(firstTen.map(\.offset) == Array(0..<10))
        let tp = KafkaTopicPartition(topic: "ps", partition: 0)
        try consumer.pause([tp])
        try await producer.sendAll(
            (10..<15).map { KafkaProducerMessage(topic: "ps", key: "k", value: Data("\($0)".utf8)) })
        let whilePaused = try? await collect(consumer, count: 1, timeout: .seconds(2))
        #expect(whilePaused == nil, "nothing is delivered while paused")
        try consumer.resume([tp])
        let afterResume = try await collect(consumer, count: 5)
        #expect(afterResume.map(\.offset) == Array(10..<15))
        try await consumer.seek([KafkaTopicPartitionOffset(topic: "ps", partition: 0, offset: 3)])
        let replay = try await collect(consumer, count: 2)
        #expect(replay.map(\.offset) == [3, 4])
        await consumer.close(timeout: .seconds(10))
        await producer.close(timeout: .seconds(5))
    }

    @Test func backPressureLosesNothing() async throws {
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("bp", partitions: 2)
        let producer = try KafkaProducer(configuration: producerConfiguration(cluster), logger: logger)
        try await producer.sendAll(
            (0..<3000).map { KafkaProducerMessage(topic: "bp", key: "k\($0 % 7)", value: Data("\($0)".utf8)) })
        var configuration = consumerConfiguration(cluster, group: uniqueName("bp"))
        configuration.messageBufferSize = 50
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        try consumer.subscribe(topics: ["bp"])
        var seen: [Int32: [Int64]] = [:]
        var count = 0
        for try await message in consumer.messages {
            if count % 200 == 0 { try await Task.sleep(for: .milliseconds(20)) }
            // One long stall: the poll loop pauses the assignment (and keeps serving the group), then resumes.
            if count == 1000 { try await Task.sleep(for: .milliseconds(1500)) }
            seen[message.partition, default: []].append(message.offset)
            count += 1
            if count == 3000 { break }
        }
        for (partition, offsets) in seen {
            #expect(
                offsets == Array(0..<Int64(offsets.count)), "partition \(partition) in order, no gaps or duplicates")
        }
        await consumer.close(timeout: .seconds(10))
        await producer.close(timeout: .seconds(5))
    }
}
