/// A process setting (environment variable or flag) that cannot be used. The message names the
/// setting and what is expected, never a secret value.
public struct RuntimeConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The environment variable or flag at fault.
    public var variable: String
    /// What is wrong with it.
    public var message: String

    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }

    public var description: String { "\(variable): \(message)" }
}
