import Foundation
import Kafka
import Testing

/// `payfleet-kafka-produce`, the producer process `payfleet bench kafka` times against kcat: it must
/// write every message it is asked for, print the phases the benchmark reads, and refuse bad
/// arguments with a reason.
@Suite("The benchmark's producer process", .timeLimit(.minutes(2)))
struct ProduceBenchProcessTests {
    /// The built `payfleet-kafka-produce` next to the test bundle.
    private func producerBinary() throws -> URL {
        let payfleet = try #require(payfleetBinary(), "the payfleet executable was not built next to the tests")
        let binary = payfleet.deletingLastPathComponent().appendingPathComponent("payfleet-kafka-produce")
        try #require(
            FileManager.default.isExecutableFile(atPath: binary.path),
            "payfleet-kafka-produce was not built next to payfleet")
        return binary
    }

    /// The output once the process has exited (the pipe may still be draining when its status arrives).
    private func output(of child: Child, _ text: (Child) -> String) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(5)
        while text(child).isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        return text(child)
    }

    @Test func itWritesEveryMessageAndPrintsItsPhases() async throws {
        let binary = try producerBinary()
        let logger = testLogger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("bench.lean", partitions: 3)
        let child = try Child(
            binary.path,
            [
                "--bootstrap-servers", cluster.bootstrapServers, "--topic", "bench.lean", "--messages", "2500",
                "--value-size", "50", "--send-window", "1000",
            ])
        #expect(try await child.wait(timeout: .seconds(60)) == 0, "stderr: \(child.stderr)")
        let line = try await output(of: child) { $0.stdout }
        var phases: [String: Double] = [:]
        for pair in line.split(whereSeparator: \.isWhitespace) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Double(parts[1]) { phases[String(parts[0])] = value }
        }
        #expect(Set(phases.keys) == ["seconds", "ready", "closing"], "printed: \(line)")
        #expect(phases.values.allSatisfy { $0 >= 0 })

        #expect(try await recordCount(cluster, topic: "bench.lean", partitions: 3, logger: logger) == 2500)
    }

    @Test(arguments: [
        (["--topic", "t"], "no Kafka bootstrap servers"),
        (["--bootstrap-servers", "127.0.0.1:1"], "--topic is required"),
        (["--bootstrap-servers", "127.0.0.1:1", "--topic", "t", "--messages", "0"], "--messages must be a positive"),
        (["--bootstrap-servers", "127.0.0.1:1", "--topic", "t", "--value-size"], "--value-size needs a value"),
        (["--bogus", "1"], "unknown argument --bogus"),
    ])
    func badArgumentsAreRefusedWithTheirReason(arguments: [String], reason: String) async throws {
        let child = try Child(try producerBinary().path, arguments, environment: [:])
        #expect(try await child.wait(timeout: .seconds(20)) == 64)
        let errors = try await output(of: child) { $0.stderr }
        #expect(errors.contains(reason), "stderr: \(errors)")
    }
}
