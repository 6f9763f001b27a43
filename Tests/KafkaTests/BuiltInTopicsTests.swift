import Foundation
import Kafka
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Topic definitions built into the binary", .timeLimit(.minutes(2)))
struct BuiltInTopicsTests {
    /// topics/ is the source of truth; the embedded bundle must carry exactly its files, byte for byte.
    @Test(
        "the built-in definitions are byte for byte the files of topics/ (run scripts/generate-topics.sh when this fails)"
    )
    func builtInEqualsRepository() throws {
        let directory = URL(fileURLWithPath: repositoryTopicsDirectory)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
            .sorted()
        let builtIn = TopicCatalog.builtInFiles
        #expect(builtIn.map(\.file).sorted() == files)
        for (file, yaml) in builtIn {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            #expect(yaml == text, "\(file) differs from the built-in copy")
        }
        let catalog = try TopicCatalog.builtIn()
        #expect(catalog.topics.count == files.count)
        let fromDirectory = try TopicCatalog.load(directory: repositoryTopicsDirectory)
        #expect(catalog.topics == fromDirectory.topics)
    }

    @Test("payfleet broker and topics apply run from an empty directory with the built-in definitions")
    func brokerFromEmptyDirectory() async throws {
        guard let binary = payfleetBinary() else {
            Issue.record("the payfleet executable was not built next to the tests")
            return
        }
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("payfleet-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        // Neither the working directory nor the environment points at topics/.
        let environment = ProcessInfo.processInfo.environment.filter { $0.key != "PAYFLEET_TOPICS_DIR" }

        let broker = try Child(binary.path, ["broker", "--brokers", "1"], directory: empty, environment: environment)
        defer { if broker.status == nil { broker.process.terminate() } }
        let line = try #require(
            try await broker.firstLine(timeout: .seconds(20)), "no output; stderr: \(broker.stderr)")
        #expect(line.hasPrefix("bootstrap.servers=127.0.0.1:"), "stderr: \(broker.stderr)")
        let servers = String(line.dropFirst("bootstrap.servers=".count))

        let catalog = try TopicCatalog.builtIn()
        let apply = try Child(
            binary.path, ["topics", "apply", "--bootstrap-servers", servers, "--replication-factor", "1"],
            directory: empty, environment: environment)
        #expect(try await apply.wait(timeout: .seconds(30)) == 0, "topics apply: \(apply.stderr)")
        #expect(apply.stdout.components(separatedBy: "verified ").count - 1 == catalog.topics.count, "\(apply.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty.path).isEmpty)

        kill(broker.process.processIdentifier, SIGTERM)
        #expect(try await broker.wait(timeout: .seconds(15)) == 0)
    }
}
