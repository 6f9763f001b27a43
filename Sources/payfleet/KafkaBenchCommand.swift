import ArgumentParser
import Foundation
import Kafka
import Logging

/// `payfleet bench kafka`: produce/consume throughput of the Kafka module against the embedded
/// broker, next to kcat on the same machine in the same run.
struct KafkaBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Produce and consume throughput of PayFleet's Kafka module vs kcat (embedded broker).",
        discussion: """
            Both clients produce keyed messages with idempotence, acks=all and murmur2_random to their own \
            topic of the same embedded cluster, then read the same topic back from the beginning \
            (the mock keeps only the last few MB per partition, so keep messages/partitions modest) \
            (kcat -C -e vs KafkaPartitionReader, and a group KafkaConsumer). Wall time includes client start-up.
            """
    )

    @Option(help: "Messages per run.")
    var messages: Int = 100_000

    @Option(help: "Value size in bytes.")
    var valueSize: Int = 200

    @Option(help: "Partitions of the benchmark topics.")
    var partitions: Int = 8

    @Option(help: "Path of the kcat binary.")
    var kcat: String = "kcat"

    func run() async throws {
        var logger = KafkaCLI.logger("payfleet.bench")
        logger.logLevel = .warning
        guard messages > 0, valueSize > 0, partitions > 0 else { throw ValidationError("counts must be positive") }
        let kcatPath = try Self.resolve(kcat)
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        for topic in ["bench.payfleet", "bench.kcat"] { try cluster.createTopic(topic, partitions: partitions) }
        let value = String(repeating: "x", count: valueSize)
        let kafka = cluster.configuration()
        print(
            "embedded broker \(cluster.bootstrapServers), librdkafka \(KafkaLibrary.versionString), \(messages) messages of \(valueSize) bytes, \(partitions) partitions"
        )

        // Produce: PayFleet
        let payload = Data(value.utf8)
        let batch = (0..<messages).map {
            KafkaProducerMessage(topic: "bench.payfleet", key: "order-\($0 % 10_000)", value: payload)
        }
        let ourProduce = try await Self.timed {
            let reports = try await withKafkaProducer(
                configuration: KafkaProducerConfiguration(kafka: kafka, closeTimeout: .seconds(30)), logger: logger
            ) { producer in
                try await producer.sendAll(batch)
            }
            guard reports.count == messages else { throw ValidationError("only \(reports.count) acknowledged") }
        }

        // Produce: kcat
        let input = FileManager.default.temporaryDirectory.appendingPathComponent(
            "payfleet-bench-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: input) }
        var lines = ""
        lines.reserveCapacity(messages * (valueSize + 16))
        for index in 0..<messages { lines += "order-\(index % 10_000):\(value)\n" }
        try Data(lines.utf8).write(to: input)
        let kcatProduce = try await Self.timed {
            try await Self.runProcess(
                kcatPath,
                [
                    "-b", cluster.bootstrapServers, "-t", "bench.kcat", "-P", "-K", ":", "-l", input.path,
                    "-X", "enable.idempotence=true", "-X", "acks=all", "-X", "partitioner=murmur2_random",
                ])
        }

        // Consume: kcat (no group, from the beginning to the end)
        let kcatConsume = try await Self.timed {
            try await Self.runProcess(
                kcatPath, ["-b", cluster.bootstrapServers, "-C", "-t", "bench.payfleet", "-o", "beginning", "-e", "-q"])
        }

        // Consume: PayFleet partition reader (no group)
        var readCount = 0
        let ourRead = try await Self.timed {
            readCount = try await withKafkaPartitionReader(configuration: kafka, logger: logger) { reader in
                var count = 0
                for try await _ in reader.readToEnd(
                    topic: "bench.payfleet", partitions: (0..<partitions).map(Int32.init))
                { count += 1 }
                return count
            }
        }
        guard readCount == messages else { throw ValidationError("reader saw \(readCount) of \(messages)") }

        // Consume: PayFleet group consumer (from the first message to the last; group join excluded)
        let groupConsume = try await withKafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                kafka: kafka, groupID: "bench-\(UUID().uuidString)", messageBufferSize: 5000, closeTimeout: .seconds(10)
            ),
            logger: logger
        ) { consumer in
            try consumer.subscribe(topics: ["bench.payfleet"])
            var consumed = 0
            var first: ContinuousClock.Instant?
            for try await message in consumer.messages {
                if first == nil { first = .now }
                try consumer.storeOffset(message)
                consumed += 1
                if consumed == messages { break }
            }
            return (first ?? .now).duration(to: .now)
        }

        func rate(_ duration: Duration) -> Double { Double(messages) / max(Self.seconds(duration), 1e-9) }
        print("")
        print("operation   client                          seconds    messages/s   ratio vs kcat")
        Self.row("produce", "kcat (baseline)", kcatProduce, rate(kcatProduce), 1)
        Self.row(
            "produce", "payfleet KafkaProducer.sendAll", ourProduce, rate(ourProduce),
            rate(ourProduce) / rate(kcatProduce))
        Self.row("consume", "kcat -C -e (baseline)", kcatConsume, rate(kcatConsume), 1)
        Self.row("consume", "payfleet KafkaPartitionReader", ourRead, rate(ourRead), rate(ourRead) / rate(kcatConsume))
        Self.row(
            "consume", "payfleet KafkaConsumer (group)*", groupConsume, rate(groupConsume),
            rate(groupConsume) / rate(kcatConsume))
        print("* first to last message, storing every offset; group join not included")
    }

    static func row(_ op: String, _ client: String, _ duration: Duration, _ rate: Double, _ ratio: Double) {
        let line =
            op.padding(toLength: 12, withPad: " ", startingAt: 0)
            + client.padding(toLength: 32, withPad: " ", startingAt: 0)
            + String(format: "%7.3f  %12.0f   %6.2f", seconds(duration), rate, ratio)
        print(line)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }

    static func timed(_ body: () async throws -> Void) async throws -> Duration {
        let start = ContinuousClock.now
        try await body()
        return start.duration(to: .now)
    }

    static func resolve(_ name: String) throws -> String {
        if name.contains("/") { return name }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw ValidationError("\(name) not found on PATH (apt-get install kcat)")
    }

    /// Runs a process to completion with output discarded; throws on a non-zero exit.
    static func runProcess(_ path: String, _ arguments: [String]) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        guard status == 0 else {
            throw ValidationError("\(path) \(arguments.joined(separator: " ")) exited with \(status)")
        }
    }
}
