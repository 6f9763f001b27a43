/// A configured merchant account: its alias, its channel, its plain settings (vendor ids, endpoints)
/// and its secrets (keys, certificates), already resolved from files or environment variables.
///
/// Each channel documents the setting and secret names it reads; a missing one is a
/// ``ChannelError/Code/configuration`` error naming the setting, never its value.
public struct MerchantAccount: Sendable, Hashable {
    public var alias: String
    public var channel: ChannelID
    public var settings: [String: String]
    public var secrets: [String: Secret]

    public init(alias: String, channel: ChannelID, settings: [String: String] = [:], secrets: [String: Secret] = [:]) {
        self.alias = alias
        self.channel = channel
        self.settings = settings
        self.secrets = secrets
    }

    /// A required plain setting.
    public func setting(_ name: String) throws(ChannelError) -> String {
        guard let value = settings[name], !value.isEmpty else {
            throw .configuration("merchant \(alias): setting '\(name)' is missing")
        }
        return value
    }

    /// An optional plain setting.
    public func setting(_ name: String, default value: String) -> String {
        if let configured = settings[name], !configured.isEmpty { return configured }
        return value
    }

    /// A required secret.
    public func secret(_ name: String) throws(ChannelError) -> Secret {
        guard let value = secrets[name], !value.isEmpty else {
            throw .configuration("merchant \(alias): secret '\(name)' is missing")
        }
        return value
    }
}
