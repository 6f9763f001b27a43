import Payments

/// The configured merchant accounts and the public base URL vendors send callbacks to.
public struct MerchantDirectory: Sendable, Hashable {
    /// `https://pay.example.com`: vendors call `<notifyBaseURL>/notify/<channel>/<merchant>`.
    public var notifyBaseURL: String
    /// Accounts by merchant alias.
    public var accounts: [String: MerchantAccount]

    public init(notifyBaseURL: String, accounts: [String: MerchantAccount]) {
        var base = notifyBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.notifyBaseURL = base
        self.accounts = accounts
    }

    /// The account with this alias.
    public func account(_ alias: String) -> MerchantAccount? { accounts[alias] }

    /// Aliases, sorted.
    public var aliases: [String] { accounts.keys.sorted() }

    /// `<notify_base_url>/notify/<channel>/<merchant>`.
    public func notifyURL(channel: ChannelID, merchant: String) -> String {
        Self.notifyURL(base: notifyBaseURL, channel: channel, merchant: merchant)
    }

    /// `<base>/notify/<channel>/<merchant>` (trailing slashes of `base` ignored).
    public static func notifyURL(base: String, channel: ChannelID, merchant: String) -> String {
        var trimmed = base
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        return "\(trimmed)/notify/\(channel.rawValue)/\(merchant)"
    }
}
