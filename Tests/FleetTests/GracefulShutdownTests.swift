import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Graceful shutdown of a worker under load, as Kubernetes does it: the real `payfleet` binary for
/// every role (embedded broker, sandbox, ingress, scheduler, two workers of one group), SIGTERM to
/// one worker while orders are flowing and some vendor calls are in flight.
///
/// It must: stop being ready at once, finish or hand back its in-flight orders, commit, leave the
/// group (the other member takes its partitions over long before `session.timeout.ms`), and exit 0
/// well inside the grace period — and no order may be lost or duplicated across the hand-over.
@Suite("Graceful shutdown of a worker (payfleet binary)", .serialized)
struct GracefulShutdownTests {
    /// Orders submitted in total; half before the SIGTERM, half while the worker shuts down.
    static let orderCount = 80
    /// Every fifth order makes the sandbox answer the create only after the worker's vendor timeout,
    /// so vendor calls are in flight at the SIGTERM (they end pending → timer → query → succeeded).
    static let slowEvery = 5
    /// The worker's in-flight wait bound (PAYFLEET_SHUTDOWN_TIMEOUT); the process caps its graceful
    /// shutdown at 25 s + 5 s, the manifests give it 45 s (compose `stop_grace_period`, Kubernetes
    /// `terminationGracePeriodSeconds`).
    static let shutdownTimeout = 10
    static let gracePeriod: Duration = .seconds(30)
    /// A member that left the group is replaced at once; one that did not would hold its partitions
    /// for this long. Takeover must happen well before it.
    static let sessionTimeoutMilliseconds = 60_000

    @Test("SIGTERM under load: not ready at once, in-flight orders finished or handed back, commit, leave, exit 0 in time; every order succeeds exactly once",
          .timeLimit(.minutes(5)))
    func sigtermUnderLoad() async throws {
        let binary = try #require(FleetProcess.payfleetBinary(), "the payfleet executable was not built next to the tests")
        let workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("payfleet-shutdown-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: workDirectory) }
        var processes: [FleetProcess] = []
        defer { for process in processes { process.kill() } }

        // Embedded broker with every topic of topics/ (12 partitions for the co-partitioned four).
        let bootstrapFile = workDirectory.appendingPathComponent("bootstrap")
        let broker = try FleetProcess(name: "broker", binary: binary, arguments: [
            "broker", "--brokers", "1", "--topics-dir", FleetProcess.repositoryTopicsDirectory, "--bootstrap-file", bootstrapFile.path,
        ])
        processes.append(broker)
        let line = try #require(try await broker.firstStdoutLine(timeout: .seconds(30)), "broker printed nothing: \(broker.stderr)")
        #expect(line.hasPrefix("bootstrap.servers="))
        let servers = String(line.dropFirst("bootstrap.servers=".count))

        // One merchants file for the sandbox and the fleet; the key comes from a file, as in production.
        let sandboxPort = try FleetProcess.freePort()
        let ingressPort = try FleetProcess.freePort()
        let keyFile = workDirectory.appendingPathComponent("api_key")
        try Data("sandboxDemoApiKeyNotARealKey0000".utf8).write(to: keyFile)
        let merchantsFile = workDirectory.appendingPathComponent("merchants.yaml")
        try Data("""
            notify_base_url: http://127.0.0.1:\(ingressPort)
            merchants:
              shutdown-wechat:
                channel: wechat-v2
                settings:
                  appid: wx00000000sandbox
                  mch_id: "1900000109"
                  api_base_url: http://127.0.0.1:\(sandboxPort)
                  backup_api_base_url: http://127.0.0.1:\(sandboxPort)
                  sign_type: HMAC-SHA256
                  trade_type: NATIVE
                secrets:
                  api_key: {file: \(keyFile.path)}

            """.utf8).write(to: merchantsFile)

        let groupID = "shutdown-workers-\(UUID().uuidString.prefix(8))"
        let common = [
            "KAFKA_BOOTSTRAP_SERVERS": servers,
            "PAYFLEET_MERCHANTS": merchantsFile.path,
            "PAYFLEET_TOPICS_DIR": FleetProcess.repositoryTopicsDirectory,
            "PAYFLEET_HTTP_HOST": "127.0.0.1",
            "PAYFLEET_LOG_FORMAT": "json",
            "PAYFLEET_LOG_LEVEL": "info",
        ]
        let sandbox = try FleetProcess(name: "sandbox", binary: binary, arguments: [
            "sandbox", "--host", "127.0.0.1", "--port", "\(sandboxPort)", "--autopay-ms", "300", "--merchants", merchantsFile.path,
        ], environment: common)
        processes.append(sandbox)
        let ingress = try FleetProcess(name: "ingress", binary: binary, arguments: ["ingress"],
                                       environment: common.merging(["PAYFLEET_HTTP_PORT": "\(ingressPort)"]) { $1 })
        processes.append(ingress)
        let schedulerPort = try FleetProcess.freePort()
        let scheduler = try FleetProcess(
            name: "scheduler", binary: binary, arguments: ["scheduler"],
            environment: common.merging([
                "PAYFLEET_HTTP_PORT": "\(schedulerPort)", "PAYFLEET_SCHEDULER_GROUP_ID": "\(groupID)-scheduler",
            ]) { $1 })
        processes.append(scheduler)
        func worker(_ name: String, port: Int) throws -> FleetProcess {
            try FleetProcess(name: name, binary: binary, arguments: ["worker"], environment: common.merging([
                "PAYFLEET_HTTP_PORT": "\(port)",
                "PAYFLEET_GROUP_ID": groupID,
                "PAYFLEET_MAX_IN_FLIGHT": "16",
                "PAYFLEET_VENDOR_TIMEOUT": "2s",
                "PAYFLEET_SHUTDOWN_TIMEOUT": "\(Self.shutdownTimeout)s",
                "KAFKA_SESSION_TIMEOUT_MS": "\(Self.sessionTimeoutMilliseconds)",
                "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            ]) { $1 })
        }
        let portA = try FleetProcess.freePort()
        let portB = try FleetProcess.freePort()
        let workerA = try worker("worker-a", port: portA)
        processes.append(workerA)
        let workerB = try worker("worker-b", port: portB)
        processes.append(workerB)

        try await FleetProcess.waitForHTTP200("http://127.0.0.1:\(sandboxPort)/livez", process: sandbox, timeout: .seconds(60))
        for (process, port) in [(ingress, ingressPort), (scheduler, schedulerPort), (workerA, portA), (workerB, portB)] {
            try await FleetProcess.waitForHTTP200("http://127.0.0.1:\(port)/readyz", process: process, timeout: .seconds(90))
        }

        // Read every payment event from now on.
        let logger = Logger(label: "graceful-shutdown-test")
        let kafka = KafkaConfiguration(bootstrapServers: KafkaConfiguration.splitServers(servers))
        let collector = try EventCollector(kafka: kafka, logger: logger)
        let collecting = Task { try await collector.run() }
        defer { collecting.cancel() }

        let upstream = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        let run = UUID().uuidString.prefix(6).uppercased()
        let orders = (0..<Self.orderCount).map { "GS\(run)\(String(format: "%04d", $0))" }
        func create(_ index: Int) -> KafkaProducerMessage {
            // …03 fen selects the sandbox's "timeout" scenario (answer after the vendor timeout).
            let amount = index % Self.slowEvery == 0 ? 1203 : 1200
            let json = #"{"action":"create","out_trade_no":"\#(orders[index])","merchant":"shutdown-wechat","channel":"wechat-v2","amount_fen":\#(amount),"description":"graceful shutdown"}"#
            return KafkaProducerMessage(topic: FleetTopic.orderRequests, key: orders[index], value: Data(json.utf8))
        }
        let half = Self.orderCount / 2
        _ = try await upstream.sendAll((0..<half).map(create))

        // SIGTERM worker A once it is busy (some orders answered, slow vendor calls still running).
        try await collector.waitUntil(timeout: .seconds(60)) { events in
            Set(events.map(\.subject)).count >= half / 3
        }
        let terminatedAt = ContinuousClock.now
        workerA.terminate()
        // Readiness goes false the moment SIGTERM arrives (or the process is already gone).
        let readyAfterTerm = await FleetProcess.httpStatus("http://127.0.0.1:\(portA)/readyz", timeout: .seconds(1))
        #expect(readyAfterTerm != 200, "worker A still ready right after SIGTERM")

        // Load continues during the shutdown.
        _ = try await upstream.sendAll((half..<Self.orderCount).map(create))

        let statusA = try await workerA.waitForExit(timeout: Self.gracePeriod)
        let exitedAfter = ContinuousClock.now - terminatedAt
        #expect(statusA == 0, "worker A exit status \(String(describing: statusA)) after \(exitedAfter); stderr tail: \(workerA.stderrTail)")
        #expect(exitedAfter < .seconds(Self.shutdownTimeout + 10), "worker A took \(exitedAfter) to shut down")
        let exitedAt = ContinuousClock.now

        // Every order reaches succeeded; worker B took A's partitions over without waiting for A's
        // session to time out (A left the group).
        let events = try await collector.waitUntil(timeout: .seconds(180)) { events in
            Set(events.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject)).isSuperset(of: orders)
        }
        let completedAfterExit = ContinuousClock.now - exitedAt
        // Known issue (deploy/README.md): a SIGTERM that meets a rebalance cannot commit
        // (REBALANCE_IN_PROGRESS) and its LeaveGroup times out behind librdkafka's blocking
        // JoinGroup, so the takeover can wait for the session timeout. Nothing is lost either way.
        withKnownIssue("takeover waits for the session timeout when SIGTERM meets a rebalance", isIntermittent: true) {
            #expect(completedAfterExit < .milliseconds(Self.sessionTimeoutMilliseconds - 15_000),
                    "orders completed \(completedAfterExit) after worker A exited: its partitions waited for the session timeout")
        }

        // No order lost (each succeeded) and none duplicated: exactly one succeeded record per order,
        // one prepared-or-pending start, never failed/anomaly/rejected, no record repeated.
        let mine = events.filter { orders.contains($0.subject) }
        for order in orders {
            let records = mine.filter { $0.subject == order }
            let types = records.map(\.type)
            #expect(types.filter { $0 == PaymentEvent.Kind.succeeded.rawValue }.count == 1, "\(order): \(types)")
            #expect(types.first == PaymentEvent.Kind.prepared.rawValue || types.first == PaymentEvent.Kind.pending.rawValue,
                    "\(order): \(types)")
            let unexpected = [PaymentEvent.Kind.failed, .anomaly, .rejected].map(\.rawValue)
            #expect(!types.contains { unexpected.contains($0) },
                    "\(order): \(types)")
            #expect(Set(records.map(\.id)).count == records.count, "\(order): an event was published twice: \(types)")
        }

        // Stop the producers of new input, then worker B; afterwards the group has committed every
        // order request and every callback it consumed (graceful shutdown commits before leaving).
        for process in [scheduler, sandbox, ingress] {
            process.terminate()
            _ = try await process.waitForExit(timeout: .seconds(30))
        }
        workerB.terminate()
        let statusB = try await workerB.waitForExit(timeout: Self.gracePeriod)
        #expect(statusB == 0, "worker B exit status \(String(describing: statusB)); stderr tail: \(workerB.stderrTail)")
        let checker = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(kafka: kafka, groupID: groupID), logger: logger)
        for topic in [FleetTopic.orderRequests, FleetTopic.callbacks] {
            let partitions = try await checker.metadata().topic(topic)?.partitionCount ?? 0
            #expect(partitions > 0, "\(topic) has no partitions")
            let list = (0..<partitions).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
            let committed = try await checker.committedOffsets(list)
            for entry in list {
                let high = try await checker.watermarks(topic: topic, partition: entry.partition).high
                let offset = committed.first { $0.topicPartition == entry }?.offset ?? -1
                #expect(high == 0 || offset == high, "\(entry): committed \(offset), end \(high)")
            }
        }
        await checker.close(timeout: .seconds(5))
        await collector.close()
        await upstream.close(timeout: .seconds(5))
    }
}

/// Payment events read back from `payfleet.payment-events` by an independent consumer group.
private final class EventCollector: Sendable {
    private let consumer: KafkaConsumer
    private let events = Mutex<[ReceivedPaymentEvent]>([])

    init(kafka: KafkaConfiguration, logger: Logger) throws {
        consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(kafka: kafka, groupID: "shutdown-events-\(UUID().uuidString)"),
            logger: logger)
        try consumer.subscribe(topics: [FleetTopic.paymentEvents])
    }

    func run() async throws {
        for try await message in consumer.messages {
            if let event = ReceivedPaymentEvent(headers: message.headers, value: message.value) {
                events.withLock { $0.append(event) }
            }
        }
    }

    /// Waits until `done` holds for the events read so far; returns them.
    @discardableResult
    func waitUntil(timeout: Duration, _ done: ([ReceivedPaymentEvent]) -> Bool) async throws -> [ReceivedPaymentEvent] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let snapshot = events.withLock { $0 }
            if done(snapshot) { return snapshot }
            guard ContinuousClock.now < deadline else {
                let types = Dictionary(grouping: snapshot, by: \.type).mapValues(\.count)
                throw FleetProcessError("events did not arrive within \(timeout): have \(types)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    func close() async {
        await consumer.close(timeout: .seconds(5))
    }
}

private struct FleetProcessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One `payfleet` role as a child process, with its output captured.
private final class FleetProcess: Sendable {
    /// A lock-protected value shared with the pipe and termination handlers.
    final class Shared<Value: Sendable>: Sendable {
        private let mutex: Mutex<Value>
        init(_ value: Value) { mutex = Mutex(value) }
        func withLock<Result>(_ body: (inout sending Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
    }

    let name: String
    private let process: Process
    private let output = Shared(Data())
    private let errors = Shared(Data())
    private let exitStatus = Shared<Int32?>(nil)

    init(name: String, binary: URL, arguments: [String], environment: [String: String] = [:]) throws {
        self.name = name
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("KAFKA_") && !$0.key.hasPrefix("PAYFLEET_") }
        merged.merge(environment) { $1 }
        process.environment = merged
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        self.process = process
        out.fileHandleForReading.readabilityHandler = { [output] handle in
            let data = handle.availableData
            output.withLock { $0.append(data) }
        }
        err.fileHandleForReading.readabilityHandler = { [errors] handle in
            let data = handle.availableData
            errors.withLock { $0.append(data) }
        }
        process.terminationHandler = { [exitStatus] process in exitStatus.withLock { $0 = process.terminationStatus } }
        try process.run()
    }

    var stdout: String { output.withLock { String(decoding: $0, as: UTF8.self) } }
    var stderr: String { errors.withLock { String(decoding: $0, as: UTF8.self) } }
    var stderrTail: String { String(stderr.suffix(2000)) + String(stdout.suffix(2000)) }
    var status: Int32? { exitStatus.withLock { $0 } }

    /// SIGTERM, as Kubernetes and Docker send it.
    func terminate() {
        if status == nil { process.terminate() }
    }

    /// SIGKILL whatever is still running (test cleanup).
    func kill() {
        if status == nil, process.isRunning { _ = Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    func firstStdoutLine(timeout: Duration) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = stdout
            if let newline = text.firstIndex(of: "\n") { return String(text[..<newline]) }
            if status != nil { return nil }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// The exit status, or `nil` if the process was still running after `timeout`.
    func waitForExit(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status { return status }
            try await Task.sleep(for: .milliseconds(20))
        }
        return status
    }

    /// The built `payfleet` executable next to the test bundle.
    static func payfleetBinary() -> URL? {
        if let path = ProcessInfo.processInfo.environment["PAYFLEET_TEST_BINARY"], FileManager.default.isExecutableFile(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("payfleet")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    /// `topics/` of this repository.
    static var repositoryTopicsDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("topics").path
    }

    /// A loopback TCP port nobody listens on right now.
    static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw FleetProcessError("socket() failed") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                Glibc.bind(socket, generic, length) == 0 && getsockname(socket, generic, &length) == 0
            }
        }
        guard bound else { throw FleetProcessError("bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The HTTP status of a GET, or `nil` when nothing answers within `timeout`.
    static func httpStatus(_ url: String, timeout: Duration) async -> UInt? {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .milliseconds(milliseconds)) else {
            return nil
        }
        return response.status.code
    }

    /// Polls `url` until it answers 200; fails early when the process exits.
    static func waitForHTTP200(_ url: String, process: FleetProcess, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await httpStatus(url, timeout: .seconds(1)) == 200 { return }
            if let status = process.status {
                throw FleetProcessError("\(process.name) exited with \(status) before \(url) was 200: \(process.stderrTail)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw FleetProcessError("\(url) (\(process.name)) not 200 within \(timeout): \(process.stderrTail)")
    }
}
