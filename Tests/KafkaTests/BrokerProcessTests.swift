import Foundation
import Kafka
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `payfleet` executable next to the test bundle.
func payfleetBinary() -> URL? {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent("payfleet")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return nil
}

/// A child process with captured output.
final class Child: @unchecked Sendable {
    let process = Process()
    private let output = Locked(Data())
    private let errors = Locked(Data())
    private let exit = Locked<Int32?>(nil)

    /// - Parameters:
    ///   - directory: the working directory (default: the test's).
    ///   - environment: the whole environment (default: the test's).
    init(
        _ executable: String, _ arguments: [String], stdin: Data? = nil, directory: URL? = nil,
        environment: [String: String]? = nil
    ) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if let stdin {
            let input = Pipe()
            process.standardInput = input
            try process.run()
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        }
        out.fileHandleForReading.readabilityHandler = { [output] handle in
            let data = handle.availableData
            output.withLockedValue { $0.append(data) }
        }
        err.fileHandleForReading.readabilityHandler = { [errors] handle in
            let data = handle.availableData
            errors.withLockedValue { $0.append(data) }
        }
        process.terminationHandler = { [exit] process in exit.withLockedValue { $0 = process.terminationStatus } }
        if stdin == nil { try process.run() }
    }

    var stdout: String { output.withLockedValue { String(decoding: $0, as: UTF8.self) } }
    var stderr: String { errors.withLockedValue { String(decoding: $0, as: UTF8.self) } }
    var status: Int32? { exit.withLockedValue { $0 } }

    func firstLine(timeout: Duration) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = stdout.split(separator: "\n", omittingEmptySubsequences: false).first, stdout.contains("\n") {
                return String(line)
            }
            if status != nil { return nil }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Waits for exit; kills the process when the timeout passes.
    func wait(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status { return status }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        return nil
    }
}

@Suite("payfleet broker from other processes", .timeLimit(.minutes(2)))
struct BrokerProcessTests {
    @Test func kcatAndOurClientsUseTheEmbeddedBroker() async throws {
        guard let binary = payfleetBinary() else {
            Issue.record("the payfleet executable was not built next to the tests")
            return
        }
        let bootstrapFile = FileManager.default.temporaryDirectory.appendingPathComponent(
            "payfleet-bootstrap-\(UUID().uuidString)")
        let broker = try Child(
            binary.path,
            [
                "broker", "--brokers", "2", "--topics-dir", repositoryTopicsDirectory, "--bootstrap-file",
                bootstrapFile.path,
            ])
        defer { if broker.status == nil { broker.process.terminate() } }
        let line = try #require(
            try await broker.firstLine(timeout: .seconds(20)), "no output; stderr: \(broker.stderr)")
        #expect(line.hasPrefix("bootstrap.servers=127.0.0.1:"))
        let servers = String(line.dropFirst("bootstrap.servers=".count))
        #expect(
            try String(contentsOf: bootstrapFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                == servers)

        // kcat (a client we did not write) lists every topic with its partitions.
        let list = try Child("/usr/bin/kcat", ["-b", servers, "-L"])
        #expect(try await list.wait(timeout: .seconds(20)) == 0)
        let catalog = try TopicCatalog.load(directory: repositoryTopicsDirectory)
        for topic in catalog.topics {
            #expect(
                list.stdout.contains("topic \"\(topic.name)\" with \(topic.partitions) partitions"), "\(topic.name)")
        }

        // kcat produces; kcat consumes with a consumer group; our consumer reads the same messages.
        let produce = try Child(
            "/usr/bin/kcat",
            ["-b", servers, "-t", "payfleet.order-requests", "-P", "-K", ":", "-X", "partitioner=murmur2_random"],
            stdin: Data("order-1:hello\norder-2:world\n".utf8))
        #expect(try await produce.wait(timeout: .seconds(20)) == 0, "kcat -P: \(produce.stderr)")
        let consume = try Child(
            "/usr/bin/kcat",
            [
                "-b", servers, "-G", "kcat-group", "-X", "auto.offset.reset=earliest", "-c", "2", "-q", "-f", "%k=%s\n",
                "payfleet.order-requests",
            ])
        #expect(try await consume.wait(timeout: .seconds(40)) == 0, "kcat -G: \(consume.stderr)")
        #expect(Set(consume.stdout.split(separator: "\n").map(String.init)) == ["order-1=hello", "order-2=world"])

        let logger = testLogger()
        let kafka = KafkaConfiguration(bootstrapServers: KafkaConfiguration.splitServers(servers))
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(kafka: kafka, groupID: uniqueName("ours")), logger: logger)
        try consumer.subscribe(topics: ["payfleet.order-requests"])
        let received = try await collect(consumer, count: 2)
        for message in received {
            // kcat with murmur2_random put each key where Java (and we) would.
            let key = try #require(message.keyString)
            #expect(message.partition == KafkaPartitioner.partition(forKey: key, partitionCount: 12))
        }
        await consumer.close(timeout: .seconds(10))

        // topics apply against it verifies everything, twice.
        for _ in 0..<2 {
            let apply = try Child(
                binary.path,
                [
                    "topics", "apply", "--bootstrap-servers", servers, "--topics-dir", repositoryTopicsDirectory,
                    "--replication-factor", "1",
                ])
            #expect(try await apply.wait(timeout: .seconds(30)) == 0, "topics apply: \(apply.stderr)")
            #expect(apply.stdout.components(separatedBy: "verified ").count - 1 == catalog.topics.count)
        }

        kill(broker.process.processIdentifier, SIGTERM)
        #expect(try await broker.wait(timeout: .seconds(15)) == 0)
        #expect(!FileManager.default.fileExists(atPath: bootstrapFile.path))
    }
}
