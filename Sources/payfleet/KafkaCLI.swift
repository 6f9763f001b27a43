import Dispatch
import Foundation
import Kafka
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Small helpers shared by the Kafka-related subcommands (broker, topics, bench).
enum KafkaCLI {
    /// A logger writing to standard error (standard output carries machine-readable lines),
    /// at PAYFLEET_LOG_LEVEL (default info).
    static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        let level = ProcessInfo.processInfo.environment["PAYFLEET_LOG_LEVEL"].flatMap {
            Logger.Level(rawValue: $0.lowercased())
        }
        logger.logLevel = level ?? .info
        return logger
    }

    /// The topics directory: the flag, else PAYFLEET_TOPICS_DIR; `nil` means the definitions built
    /// into the binary.
    static func topicsDirectory(_ flag: String?) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let variable = ProcessInfo.processInfo.environment["PAYFLEET_TOPICS_DIR"], !variable.isEmpty {
            return variable
        }
        return nil
    }

    /// The topic catalog: the flag's directory, else PAYFLEET_TOPICS_DIR's, else the built-in definitions.
    static func topicCatalog(_ flag: String?) throws -> TopicCatalog {
        try TopicCatalog.load(directoryOrBuiltIn: topicsDirectory(flag))
    }

    /// Writes a line to standard output and flushes it (other processes read it through a pipe).
    static func printLine(_ line: String) {
        printRaw(line + "\n")
    }

    static func printRaw(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Suspends until SIGINT or SIGTERM arrives; returns the signal's name.
    static func waitForTermination() async -> String {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "payfleet.signals")
            let once = SignalOnce(continuation)
            for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { once.fire(name) }
                source.resume()
                once.keep(source)
            }
        }
    }
}

/// Resumes a continuation once, keeping the signal sources alive until then.
/// `@unchecked Sendable`: only touched on the serial signal queue (and once during setup before any signal is handled there).
private final class SignalOnce: @unchecked Sendable {
    private var continuation: CheckedContinuation<String, Never>?
    private var sources: [any DispatchSourceSignal] = []
    private let lock = NSLock()

    init(_ continuation: CheckedContinuation<String, Never>) { self.continuation = continuation }

    func keep(_ source: any DispatchSourceSignal) {
        lock.lock()
        sources.append(source)
        lock.unlock()
    }

    func fire(_ name: String) {
        lock.lock()
        let continuation = self.continuation
        self.continuation = nil
        lock.unlock()
        continuation?.resume(returning: name)
    }
}
