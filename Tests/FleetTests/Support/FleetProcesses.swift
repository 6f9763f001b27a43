import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Support for the tests that run the real `payfleet` binary as separate processes, the way
// Kubernetes and Docker run it (signals, exits, restarts).

/// Payment events read back from `payfleet.payment-events` by an independent consumer group.
final class EventCollector: Sendable {
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

    /// The events read so far.
    func snapshot() -> [ReceivedPaymentEvent] {
        events.withLock { $0 }
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

struct FleetProcessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One `payfleet` role as a child process, with its output captured.
final class FleetProcess: Sendable {
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
        var merged = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("KAFKA_") && !$0.key.hasPrefix("PAYFLEET_")
        }
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
        if let directory = ProcessInfo.processInfo.environment["PAYFLEET_TEST_LOG_DIR"] {
            try? Data((stdout + stderr).utf8).write(
                to: URL(fileURLWithPath: directory).appendingPathComponent("\(name).log"))
        }
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
        if let path = ProcessInfo.processInfo.environment["PAYFLEET_TEST_BINARY"],
            FileManager.default.isExecutableFile(atPath: path)
        {
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
        repositoryDirectory.appendingPathComponent("topics").path
    }

    /// The package root (the directory holding `Package.swift` above this file).
    static var repositoryDirectory: URL {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/"
            && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path)
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory
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

    /// The JSON log records (`PAYFLEET_LOG_FORMAT=json`) the process wrote so far.
    func logRecords() -> [[String: Any]] {
        (stderr + "\n" + stdout).split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// The `ts` of a JSON log record.
    static func logTime(_ record: [String: Any]) -> Date? {
        guard let text = record["ts"] as? String else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// Polls `probe` until it returns a value.
    static func waitFor<Value>(
        timeout: Duration, _ what: String, _ probe: () async throws -> Value?
    ) async throws -> Value {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let value = try await probe() { return value }
            guard ContinuousClock.now < deadline else {
                throw FleetProcessError("timed out after \(timeout) waiting for \(what)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Polls a readiness URL until it stops answering 200; returns how long that took, or `nil` if
    /// it was still 200 after `timeout`.
    static func waitUntilNotReady(_ url: String, timeout: Duration) async -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if await httpStatus(url, timeout: .milliseconds(500)) != 200 { return ContinuousClock.now - start }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
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
                throw FleetProcessError(
                    "\(process.name) exited with \(status) before \(url) was 200: \(process.stderrTail)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw FleetProcessError("\(url) (\(process.name)) not 200 within \(timeout): \(process.stderrTail)")
    }
}
