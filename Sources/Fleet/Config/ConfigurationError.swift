/// A setting that cannot be used: a merchants-file entry (``setting`` is its path,
/// `merchants.shop-a.secrets.api_key`) or a process setting (an environment variable or flag,
/// `PAYFLEET_HTTP_PORT`). The message says what is wrong and what is expected; it never contains a
/// secret or the setting's value.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The setting at fault: a merchants-file path, an environment variable or a flag.
    public var setting: String
    /// What is wrong with it.
    public var message: String

    public init(setting: String, message: String) {
        self.setting = setting
        self.message = message
    }

    public var description: String { "\(setting): \(message)" }
}
