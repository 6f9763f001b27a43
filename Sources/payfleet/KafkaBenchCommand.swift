import ArgumentParser
import Foundation
import Kafka
import KafkaProduceBench
import Logging

/// `payfleet bench kafka`: produce/consume throughput of the Kafka module against the embedded
/// broker, next to kcat on the same machine in the same run.
///
/// The produce rows time every client the same way: each is a fresh process that connects,
/// produces the messages, waits for every delivery report and exits; the wall time runs from
/// spawning it to its exit and the CPU time is the child's user + system time. The runs alternate
/// between the clients and the medians are reported, which evens out a shared machine's noise.
///
/// PayFleet's producer runs in two processes: `payfleet-kafka-produce`, which holds only the Kafka
/// module (as kcat holds only librdkafka; it is the row the ratio target is about), and this
/// binary's hidden `bench kafka-produce`, the same run inside the whole `payfleet` binary, whose
/// start-up costs more.
struct KafkaBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Produce and consume throughput of PayFleet's Kafka module vs kcat (embedded broker).",
        discussion: """
            Every client produces keyed messages with idempotence, acks=all and murmur2_random to topics \
            of the same embedded cluster, each as a whole process run (spawn to exit: start-up, connect, \
            produce, every delivery report, close), alternating, --runs times each; the medians are \
            compared. The clients: kcat; payfleet-kafka-produce, PayFleet's producer in a process holding \
            only the Kafka module (built next to payfleet by `swift build -c release`; --producer-binary); \
            the same run inside the whole payfleet binary (`payfleet bench kafka-produce`). PayFleet's \
            processes also report where their time went. --baseline-binary adds the producer process of \
            another payfleet build, to compare two builds in one run. Then the first run's topic is read back from the beginning (the \
            mock keeps only the last few MB per partition, so keep messages/partitions modest) by kcat \
            -C -e (a process: its time includes start-up and end-of-partition detection), a \
            KafkaPartitionReader and a group KafkaConsumer (in this process; the group join excluded).
            """
    )

    @Option(help: "Messages per run.")
    var messages: Int = 100_000

    @Option(help: "Value size in bytes.")
    var valueSize: Int = 200

    @Option(help: "Partitions of the benchmark topics.")
    var partitions: Int = 8

    @Option(help: "Produce runs per client (alternating kcat and PayFleet); the medians are compared.")
    var runs: Int = 3

    @Option(help: "Path of the kcat binary.")
    var kcat: String = "kcat"

    @Option(
        help: ArgumentHelp(
            "Another payfleet binary (an earlier build) whose producer runs as another client, alternating with the others.",
            valueName: "path"))
    var baselineBinary: String?

    @Option(
        help: ArgumentHelp(
            "The payfleet-kafka-produce binary (default: next to this payfleet binary; without one that row is left out).",
            valueName: "path"))
    var producerBinary: String?

    func run() async throws {
        var logger = KafkaCLI.logger("payfleet.bench")
        logger.logLevel = .warning
        guard messages > 0, valueSize > 0, partitions > 0, runs > 0 else {
            throw ValidationError("counts must be positive")
        }
        let kcatPath = try Self.resolve(kcat)
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        if let baselineBinary, !FileManager.default.isExecutableFile(atPath: baselineBinary) {
            throw ValidationError("--baseline-binary \(baselineBinary) is not an executable file")
        }
        let leanBinary: String?
        if let producerBinary {
            guard FileManager.default.isExecutableFile(atPath: producerBinary) else {
                throw ValidationError("--producer-binary \(producerBinary) is not an executable file")
            }
            leanBinary = producerBinary
        } else {
            let sibling = BenchProcesses.ownBinary.deletingLastPathComponent()
                .appendingPathComponent("payfleet-kafka-produce").path
            leanBinary = FileManager.default.isExecutableFile(atPath: sibling) ? sibling : nil
        }
        for run in 0..<runs {
            for topic in ["bench.payfleet.\(run)", "bench.kcat.\(run)", "bench.baseline.\(run)", "bench.lean.\(run)"] {
                try cluster.createTopic(topic, partitions: partitions)
            }
        }
        let value = String(repeating: "x", count: valueSize)
        let kafka = cluster.configuration()
        print(
            "embedded broker \(cluster.bootstrapServers), librdkafka \(KafkaLibrary.versionString), \(messages) messages of \(valueSize) bytes, \(partitions) partitions, \(runs) produce runs per client"
        )
        if let leanBinary {
            print("payfleet-kafka-produce: \(leanBinary)")
        } else {
            print(
                "no payfleet-kafka-produce next to this binary (swift build -c release builds it): its row is left out")
        }

        // kcat's input: the same keys and values as the PayFleet child builds.
        let input = FileManager.default.temporaryDirectory.appendingPathComponent(
            "payfleet-bench-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: input) }
        var lines = ""
        lines.reserveCapacity(messages * (valueSize + 16))
        for index in 0..<messages { lines += "order-\(index % 10_000):\(value)\n" }
        try Data(lines.utf8).write(to: input)

        // Produce: whole process runs, alternating.
        var kcatRuns: [ChildRun] = []
        var ourRuns: [ChildRun] = []
        var baselineRuns: [ChildRun] = []
        var leanRuns: [ChildRun] = []
        func producerArguments(topic: String) -> [String] {
            [
                "--bootstrap-servers", cluster.bootstrapServers, "--topic", topic, "--messages", "\(messages)",
                "--value-size", "\(valueSize)",
            ]
        }
        for run in 0..<runs {
            kcatRuns.append(
                try await Self.runChild(
                    kcatPath,
                    [
                        "-b", cluster.bootstrapServers, "-t", "bench.kcat.\(run)", "-P", "-K", ":", "-l", input.path,
                        "-X", "enable.idempotence=true", "-X", "acks=all", "-X", "partitioner=murmur2_random",
                    ]))
            if let leanBinary {
                leanRuns.append(try await Self.runChild(leanBinary, producerArguments(topic: "bench.lean.\(run)")))
            }
            ourRuns.append(
                try await Self.runChild(
                    BenchProcesses.ownBinary.path,
                    ["bench", "kafka-produce"] + producerArguments(topic: "bench.payfleet.\(run)")))
            if let baselineBinary {
                baselineRuns.append(
                    try await Self.runChild(
                        baselineBinary, ["bench", "kafka-produce"] + producerArguments(topic: "bench.baseline.\(run)")))
            }
        }
        let kcatProduce = ChildRun.median(kcatRuns)

        // Consume: kcat (no group, from the beginning to the end)
        let kcatConsume = try await Self.timed {
            try await Self.runProcess(
                kcatPath,
                ["-b", cluster.bootstrapServers, "-C", "-t", "bench.payfleet.0", "-o", "beginning", "-e", "-q"])
        }

        // Consume: PayFleet partition reader (no group)
        var readCount = 0
        let ourRead = try await Self.timed {
            readCount = try await withKafkaPartitionReader(configuration: kafka, logger: logger) { reader in
                var count = 0
                for try await _ in reader.readToEnd(
                    topic: "bench.payfleet.0", partitions: (0..<partitions).map(Int32.init))
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
            try consumer.subscribe(topics: ["bench.payfleet.0"])
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
        func rate(_ seconds: Double) -> Double { Double(messages) / max(seconds, 1e-9) }
        print("")
        print("produce (median of \(runs) process runs each, spawn to exit)")
        print("client                               wall s    messages/s   ratio vs kcat   CPU s   CPU µs/message")
        var rows = [("kcat (baseline)", kcatRuns)]
        if !leanRuns.isEmpty { rows.append(("payfleet-kafka-produce", leanRuns)) }
        rows.append(("payfleet bench kafka-produce", ourRuns))
        if !baselineRuns.isEmpty { rows.append(("--baseline-binary", baselineRuns)) }
        for (name, runs) in rows {
            let run = ChildRun.median(runs)
            print(
                name.padding(toLength: 35, withPad: " ", startingAt: 0)
                    + String(
                        format: "%7.3f  %12.0f   %13.2f  %6.3f   %14.2f", run.wallSeconds, rate(run.wallSeconds),
                        rate(run.wallSeconds) / rate(kcatProduce.wallSeconds), run.cpuSeconds,
                        run.cpuSeconds * 1e6 / Double(messages)))
        }
        print("PayFleet's processes, medians over the runs:")
        for (name, runs) in rows.dropFirst() {
            guard let inProcess = Self.median(runs.compactMap(\.reportedSeconds)) else { continue }
            print(
                "  \(name): first enqueue to last delivery report "
                    + String(format: "%.3f s (%.0f messages/s)", inProcess, rate(inProcess)))
            if let breakdown = Self.breakdown(runs) { print("    \(breakdown)") }
        }
        print("")
        print("operation   client                          seconds    messages/s   ratio vs kcat")
        Self.row("consume", "kcat -C -e (baseline)", kcatConsume, rate(kcatConsume), 1)
        Self.row("consume", "payfleet KafkaPartitionReader", ourRead, rate(ourRead), rate(ourRead) / rate(kcatConsume))
        Self.row(
            "consume", "payfleet KafkaConsumer (group)*", groupConsume, rate(groupConsume),
            rate(groupConsume) / rate(kcatConsume))
        print("kcat -C -e is a process run (start-up and end detection included); the reader runs in this process")
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

    /// One whole process run of a producer.
    struct ChildRun {
        var wallSeconds: Double
        var cpuSeconds: Double
        /// What the child reported on standard output (`name=seconds` pairs: `seconds`, `ready`,
        /// `closing`), if anything.
        var reported: [String: Double] = [:]
        var reportedSeconds: Double? { reported["seconds"] }

        /// The run with the median wall time (its CPU time is that run's).
        static func median(_ runs: [ChildRun]) -> ChildRun {
            let sorted = runs.sorted { $0.wallSeconds < $1.wallSeconds }
            return sorted[sorted.count / 2]
        }
    }

    /// Where a producer process's wall time went (medians over the runs): start-up and exit (the
    /// wall time less what the process reports), entering the command to the first enqueue, sending,
    /// closing. `nil` when the process reports no phases (an older build).
    static func breakdown(_ runs: [ChildRun]) -> String? {
        let phases = runs.compactMap { run -> (Double, Double, Double, Double)? in
            guard let ready = run.reported["ready"], let sending = run.reported["seconds"],
                let closing = run.reported["closing"]
            else { return nil }
            return (run.wallSeconds - ready - sending - closing, ready, sending, closing)
        }
        guard !phases.isEmpty,
            let outside = median(phases.map(\.0)), let ready = median(phases.map(\.1)),
            let sending = median(phases.map(\.2)), let closing = median(phases.map(\.3))
        else { return nil }
        return String(
            format: "start-up and exit %.1f ms, to the first enqueue %.1f ms, sending %.1f ms, closing %.1f ms",
            outside * 1000, ready * 1000, sending * 1000, closing * 1000)
    }

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        return values.sorted()[values.count / 2]
    }

    /// Runs a process to completion: its wall time from spawn to exit and its user + system CPU
    /// time (the growth of `RUSAGE_CHILDREN` once it was reaped). Throws on a non-zero exit.
    static func runChild(_ path: String, _ arguments: [String]) async throws -> ChildRun {
        let before = childCPUSeconds()
        let output = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let start = ContinuousClock.now
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let wall = seconds(start.duration(to: .now))
        guard status == 0 else {
            throw ValidationError("\(path) \(arguments.joined(separator: " ")) exited with \(status)")
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        var reported: [String: Double] = [:]
        for pair in text.split(whereSeparator: \.isWhitespace) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Double(parts[1]) { reported[String(parts[0])] = value }
        }
        return ChildRun(wallSeconds: wall, cpuSeconds: childCPUSeconds() - before, reported: reported)
    }

    /// User + system CPU time of every reaped child of this process.
    static func childCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
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

/// `payfleet bench kafka-produce` (hidden): `bench kafka`'s ``ProduceRun`` inside the whole `payfleet`
/// binary (`payfleet-kafka-produce` runs the same in a process holding only the Kafka module).
/// Produces `--messages` keyed messages (`order-<i % 10000>`, `--value-size` bytes of `x`), closes
/// the producer, and prints `seconds=<first enqueue to last delivery report> ready=… closing=…`.
struct KafkaProduceChildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-produce",
        abstract: "The PayFleet producer process of `bench kafka`.",
        shouldDisplay: false
    )

    @OptionGroup var kafkaOptions: KafkaOptions

    @Option(help: "Topic to produce to (it must exist).")
    var topic: String

    @Option(help: "Messages to produce.")
    var messages: Int = 100_000

    @Option(help: "Value size in bytes.")
    var valueSize: Int = 200

    @Option(help: "The producer's sendWindow (default: the producer's default).")
    var sendWindow: Int?

    func run() async throws {
        var logger = KafkaCLI.logger("payfleet.bench")
        logger.logLevel = .warning
        guard messages > 0, valueSize > 0 else { throw ValidationError("counts must be positive") }
        if let sendWindow, sendWindow <= 0 { throw ValidationError("--send-window must be positive") }
        let run = ProduceRun(
            kafka: try kafkaOptions.configuration(ProcessInfo.processInfo.environment), topic: topic,
            messages: messages, valueSize: valueSize, sendWindow: sendWindow)
        print(try await run.run(logger: logger).line)
    }
}
