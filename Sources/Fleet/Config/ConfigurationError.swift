/// A merchants file that cannot be used. ``setting`` names the place (`merchants.shop-a.secrets.api_key`);
/// the message says what is wrong and never contains a secret or a setting's value.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The path of the setting at fault.
    public var setting: String
    /// What is wrong with it.
    public var message: String

    public init(setting: String, message: String) {
        self.setting = setting
        self.message = message
    }

    public var description: String { "\(setting): \(message)" }
}
