import Foundation
import Kafka
import Logging

/// A logger for tests: warnings and above (set PAYFLEET_TEST_LOG_LEVEL=debug to see more).
func testLogger(_ label: String = "kafka-tests") -> Logger {
    var logger = Logger(label: label)
    let level =
        ProcessInfo.processInfo.environment["PAYFLEET_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    logger.logLevel = level
    return logger
}

/// Producer settings for the embedded cluster.
func producerConfiguration(
    _ cluster: EmbeddedKafkaCluster, _ properties: [String: String] = [:]
) -> KafkaProducerConfiguration {
    KafkaProducerConfiguration(kafka: cluster.configuration(properties: properties))
}

/// How many records partitions `0..<partitions` of `topic` hold (high minus low watermark, summed).
func recordCount(
    _ cluster: EmbeddedKafkaCluster, topic: String, partitions: Int, logger: Logger
) async throws -> Int64 {
    let consumer = try KafkaConsumer(
        configuration: consumerConfiguration(cluster, group: uniqueName("count")), logger: logger)
    var total: Int64 = 0
    for partition in 0..<partitions {
        let marks = try await consumer.watermarks(topic: topic, partition: Int32(partition))
        total += marks.high - marks.low
    }
    await consumer.close(timeout: .seconds(5))
    return total
}

/// Consumer settings for the embedded cluster with fast group timings.
func consumerConfiguration(
    _ cluster: EmbeddedKafkaCluster, group: String, _ properties: [String: String] = [:]
) -> KafkaConsumerConfiguration {
    var merged = [
        "session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "1000",
        // The mock coordinator waits up to the rebalance timeout (= max.poll.interval.ms) for members to rejoin.
        "max.poll.interval.ms": "10000",
    ]
    for (k, v) in properties { merged[k] = v }
    return KafkaConsumerConfiguration(
        kafka: cluster.configuration(properties: merged), groupID: group, rebalanceHandlerTimeout: .seconds(10),
        closeTimeout: .seconds(10))
}

/// Collects `count` messages from a consumer (or fails after `timeout`).
func collect(
    _ consumer: KafkaConsumer, count: Int, timeout: Duration = .seconds(30), store: Bool = true
) async throws -> [KafkaConsumerMessage] {
    try await withThrowingTaskGroup(of: [KafkaConsumerMessage].self) { group in
        group.addTask {
            var result: [KafkaConsumerMessage] = []
            for try await message in consumer.messages {
                result.append(message)
                if store { try consumer.storeOffset(message) }
                if result.count >= count { break }
            }
            return result
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw KafkaError(.timedOut, "collected fewer than \(count) messages within \(timeout)")
        }
        let result = try await group.next() ?? []
        group.cancelAll()
        return result
    }
}

/// Polls `condition` until true or the timeout passes.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// A value behind a lock, for sharing between test tasks and handlers.
/// `@unchecked Sendable`: every access goes through `lock`.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLockedValue<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
