import Foundation
import Logging
import Observability
import Payments

/// WeChat Pay: the v2 `unifiedorder` channel (`wechat-v2`, ``WeChatV2Channel``) and the APIv3
/// combine Native channel (`wechat-v3-combine`, ``WeChatCombineChannel``).
public enum WeChatPay {
    public static let channels: [ChannelID] = [.wechatV2, .wechatV3Combine]

    /// WeChat Pay's primary API host.
    public static let primaryBaseURL = "https://api.mch.weixin.qq.com"
    /// The backup host of WeChat's cross-city disaster recovery (跨城冗灾).
    public static let backupBaseURL = "https://api2.mch.weixin.qq.com"

    /// A random nonce of `length` characters from `[0-9A-Z]`, as the SDKs generate them.
    ///
    /// Each character takes one random byte below 252 (= 7 × 36, so `byte % 36` is uniform; the
    /// rest are skipped); the bytes come eight at a time from the system generator, one
    /// system call per eight instead of one per character.
    static func nonce(length: Int = 32) -> String {
        let alphabet: StaticString = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        let table = alphabet.utf8Start
        var generator = SystemRandomNumberGenerator()
        return String(unsafeUninitializedCapacity: length) { out in
            var written = 0
            while written < length {
                var word = generator.next()
                for _ in 0..<8 where written < length {
                    let byte = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    if byte < 252 {
                        out[written] = table[Int(byte % 36)]
                        written += 1
                    }
                }
            }
            return written
        }
    }

    /// Whether `text` is a merchant order number WeChat accepts: 6–32 (v3) or 1–32 (v2)
    /// characters of digits, letters and `_-|*`.
    static func isValidOutTradeNo(_ text: String, minimumLength: Int = 1) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= minimumLength, bytes.count <= 32 else { return false }
        return bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "|") || byte == UInt8(ascii: "*")
        }
    }

    /// A base URL without a trailing slash.
    static func trimmed(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// `api_base_url` (default ``primaryBaseURL``) and, unless `backup_api_base_url` is `none` or the
    /// same host, the backup host (default ``backupBaseURL``) a failed connection is retried on once.
    static func baseURLs(_ account: MerchantAccount) throws(ChannelError) -> [String] {
        let primary = trimmed(account.setting("api_base_url", default: primaryBaseURL))
        guard primary.hasPrefix("http://") || primary.hasPrefix("https://") else {
            throw .configuration("merchant \(account.alias): setting 'api_base_url' must be an http(s) URL")
        }
        let backup = account.setting("backup_api_base_url", default: backupBaseURL)
        if backup.lowercased() == "none" || trimmed(backup) == primary { return [primary] }
        guard backup.hasPrefix("http://") || backup.hasPrefix("https://") else {
            throw .configuration(
                "merchant \(account.alias): setting 'backup_api_base_url' must be an http(s) URL or none")
        }
        return [primary, trimmed(backup)]
    }

    /// Runs `call` against the primary host and, when it cannot be reached or does not answer in
    /// time, once more against the backup host (the same request: WeChat keys orders by
    /// `out_trade_no`, so a repeated create stays idempotent). Other errors are final.
    static func withFailover<Result: Sendable>(
        _ baseURLs: [String], logger: Logger, api: String, metadata: Logger.Metadata,
        _ call: (_ baseURL: String) async throws(ChannelError) -> Result
    ) async throws(ChannelError) -> Result {
        var lastError = ChannelError(.unreachable, "no WeChat host configured")
        for (attempt, base) in baseURLs.enumerated() {
            do throws(ChannelError) {
                return try await call(base)
            } catch  where error.code == .unreachable || error.code == .timeout {
                lastError = error
                if attempt + 1 < baseURLs.count {
                    var metadata = metadata
                    metadata[LogKey.error] = "\(error.code.rawValue)"
                    logger.notice("wechat \(api) primary host failed, trying the backup host", metadata: metadata)
                }
            }
        }
        throw lastError
    }

    /// The `notify_url` rules both APIs share: absolute http(s), no query string.
    static func validateNotifyURL(_ url: String) throws(ChannelError) {
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            throw .invalidRequest("notify_url must be an absolute http(s) URL")
        }
        guard !url.contains("?"), url.utf8.count <= 256 else {
            throw .invalidRequest("notify_url must not carry a query string and must be at most 256 bytes")
        }
    }
}

/// What a WeChat Pay channel takes from its host rather than from the merchant account.
struct WeChatPayHost: Sendable {
    let http: VendorHTTP
    let logger: Logger
    /// The clock (tests pin it).
    let now: @Sendable () -> Date
}

/// How both WeChat Pay channels are built: the account's channel is checked first, then the channel
/// reads and validates its own settings and secrets in `init(checkedAccount:host:)`.
protocol WeChatPayChannel: MerchantAccountChannel {
    static var channelID: ChannelID { get }
    var host: WeChatPayHost { get }
    init(checkedAccount account: MerchantAccount, host: WeChatPayHost) throws(ChannelError)
}

extension WeChatPayChannel {
    public var channel: ChannelID { Self.channelID }
    var http: VendorHTTP { host.http }
    var logger: Logger { host.logger }
    var now: @Sendable () -> Date { host.now }

    /// Reads and validates the account's settings and secrets.
    public init(account: MerchantAccount, http: VendorHTTP, logger: Logger) throws(ChannelError) {
        try self.init(account: account, http: http, logger: logger, now: { Date() })
    }

    init(
        account: MerchantAccount, http: VendorHTTP, logger: Logger, now: @escaping @Sendable () -> Date
    ) throws(ChannelError) {
        try account.requireChannel(Self.channelID)
        try self.init(checkedAccount: account, host: WeChatPayHost(http: http, logger: logger, now: now))
    }
}
