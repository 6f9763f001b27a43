import Logging
import Synchronization

/// Process-wide logging set-up. `LoggingSystem.bootstrap` may run only once per process, so every
/// role (and `payfleet dev`, which runs several in one process) goes through ``bootstrap(_:)``,
/// which installs the handler the first time and ignores later calls.
public enum FleetLogging {
    private static let installed = Mutex<Bool>(false)

    /// Installs the JSON or text handler at the configured level. Later calls do nothing.
    /// - Returns: whether this call installed the handler.
    @discardableResult
    public static func bootstrap(_ settings: LoggingSettings) -> Bool {
        let first = installed.withLock { installed in
            defer { installed = true }
            return !installed
        }
        guard first else { return false }
        let level = settings.level
        switch settings.format {
        case .json:
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        return true
    }

    /// A logger for a role, with `role` in its metadata.
    public static func logger(role: String) -> Logger {
        var logger = Logger(label: "payfleet.\(role)")
        logger[metadataKey: LogKey.role] = "\(role)"
        return logger
    }
}
