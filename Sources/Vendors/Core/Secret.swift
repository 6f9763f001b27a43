/// A secret (API key, APIv3 key, private key PEM, certificate password) that must never be printed.
///
/// Its `description`, `debugDescription` and `Codable` form never reveal the value, so a secret that
/// slips into a log line, an error message or a topic shows up as `<redacted>`. Read the value
/// only at the point of use through ``reveal()``.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The secret value, for signing or decrypting. Never log or persist it.
    public func reveal() -> String { value }

    public var isEmpty: Bool { value.isEmpty }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    /// `key` masked for operator output: first 2 characters, then `*`, e.g. `1c******************************`.
    public var masked: String {
        guard value.count > 4 else { return String(repeating: "*", count: value.count) }
        return String(value.prefix(2)) + String(repeating: "*", count: value.count - 2)
    }
}
