import ArgumentParser
import Foundation

/// Child processes of a benchmark (`payfleet broker`, a role) with their logs in one temporary
/// directory, and what the kernel says about their CPU time and memory.
final class BenchProcesses {
    let directory: URL
    private(set) var children: [Process] = []

    /// This binary, the default for every child.
    static var ownBinary: URL { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "payfleet-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Starts `binary arguments…` with extra environment, stdout and stderr to `log` in the directory.
    @discardableResult
    func spawn(
        _ arguments: [String], binary: URL = BenchProcesses.ownBinary, environment: [String: String], log: String
    ) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let logPath = directory.appendingPathComponent(log).path
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else {
            throw ValidationError("cannot create \(logPath)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        children.append(process)
        return process
    }

    /// Starts `payfleet broker` (one embedded broker, the built-in topics) and returns its bootstrap servers.
    func startBroker() async throws -> String {
        let bootstrap = directory.appendingPathComponent("bootstrap").path
        let broker = try spawn(
            ["broker", "--brokers", "1", "--bootstrap-file", bootstrap], environment: [:], log: "broker.log")
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: bootstrap, encoding: .utf8), text.hasSuffix("\n") {
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard broker.isRunning else { throw ValidationError("the broker exited: see \(directory.path)/broker.log") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ValidationError("the broker did not start within 60 s")
    }

    /// Stops the children (last started first) and removes the directory unless PAYFLEET_BENCH_KEEP is set.
    func stop() {
        for child in children.reversed() where child.isRunning {
            child.terminate()
            child.waitUntilExit()
        }
        if ProcessInfo.processInfo.environment["PAYFLEET_BENCH_KEEP"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// User + system CPU time a process has used so far (from /proc/<pid>/stat), or nil if unreadable.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "comm)": state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory of a process in bytes (VmRSS of /proc/<pid>/status), or nil if unreadable.
    static func residentBytes(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let number = line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap
            { Int($0) }
            return number.map { $0 * 1024 }
        }
        return nil
    }
}
