import Logging

/// The log level and format of a role, from `PAYFLEET_LOG_LEVEL` and `PAYFLEET_LOG_FORMAT`.
public struct LoggingSettings: Sendable, Hashable {
    /// Lowest level written (`PAYFLEET_LOG_LEVEL`: trace, debug, info, notice, warning, error, critical; default `info`).
    public var level: Logger.Level = .info
    /// Line format (`PAYFLEET_LOG_FORMAT`: `json` or `text`; default `json`).
    public var format: LogFormat = .json

    public init(level: Logger.Level = .info, format: LogFormat = .json) {
        self.level = level
        self.format = format
    }

    /// Reads `PAYFLEET_LOG_LEVEL` and `PAYFLEET_LOG_FORMAT`.
    /// - Throws: ``ConfigurationError`` naming the variable when a value is not recognised.
    public init(environment: [String: String]) throws(ConfigurationError) {
        if let raw = environment["PAYFLEET_LOG_LEVEL"], !raw.isEmpty {
            guard let level = Logger.Level(rawValue: raw.lowercased()) else {
                throw ConfigurationError(
                    setting: "PAYFLEET_LOG_LEVEL",
                    message: "must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            self.level = level
        }
        if let raw = environment["PAYFLEET_LOG_FORMAT"], !raw.isEmpty {
            guard let format = LogFormat(rawValue: raw.lowercased()) else {
                throw ConfigurationError(setting: "PAYFLEET_LOG_FORMAT", message: "must be json or text")
            }
            self.format = format
        }
    }
}
