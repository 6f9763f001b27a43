import Foundation
import Logging
import Payments

/// The merchant accounts of the merchants file turned into live channels: merchant alias →
/// `any PaymentChannel`, plus what the order state machine needs about each (policy, notify URL,
/// vendor merchant id).
///
/// Every channel is built when the registry is, so a misconfigured account (missing setting or
/// secret) stops the worker at start-up with an error naming the merchant and the setting.
public struct ChannelRegistry: Sendable {
    /// The accounts and the notify base URL.
    public let directory: MerchantDirectory
    private let channels: [String: any PaymentChannel]

    /// Builds one channel per configured account.
    /// - Throws: ``ConfigurationError`` naming the merchant and the channel's complaint (never a secret).
    public init(directory: MerchantDirectory, http: VendorHTTP, logger: Logger) throws(ConfigurationError) {
        var channels: [String: any PaymentChannel] = [:]
        for alias in directory.aliases {
            guard let account = directory.account(alias) else { continue }
            var channelLogger = logger
            channelLogger[metadataKey: LogKey.merchant] = "\(alias)"
            channelLogger[metadataKey: LogKey.channel] = "\(account.channel.rawValue)"
            do throws(ChannelError) {
                channels[alias] = try Self.makeChannel(account: account, http: http, logger: channelLogger)
            } catch {
                throw ConfigurationError(setting: "merchants.\(alias)", message: error.message)
            }
        }
        self.directory = directory
        self.channels = channels
    }

    /// A registry over channels built elsewhere (tests, `payfleet dev`). Channels are keyed by their `merchant`.
    public init(directory: MerchantDirectory, channels: [any PaymentChannel]) {
        self.directory = directory
        self.channels = Dictionary(channels.map { ($0.merchant, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// The channel of `account.channel`, built by its descriptor's factory (the contract initializer).
    public static func makeChannel(
        account: MerchantAccount, http: VendorHTTP, logger: Logger
    ) throws(ChannelError) -> any PaymentChannel {
        guard let descriptor = ChannelCatalog.descriptor(account.channel) else {
            throw .configuration(
                "merchant \(account.alias): channel \(account.channel) is not registered in ChannelCatalog")
        }
        return try descriptor.factory(account, http, logger)
    }

    /// The setting that holds the vendor's merchant id for a channel (documented in `docs/merchants.md`).
    public static func vendorMerchantIDSetting(_ channel: ChannelID) -> String? {
        ChannelCatalog.descriptor(channel)?.vendorMerchantIDSetting
    }

    /// The channel of a merchant alias.
    public func channel(for merchant: String) -> (any PaymentChannel)? { channels[merchant] }

    /// Merchant aliases with a channel, sorted.
    public var merchants: [String] { channels.keys.sorted() }

    /// `<notify_base_url>/notify/<channel>/<merchant>`.
    public func notifyURL(channel: ChannelID, merchant: String) -> String {
        directory.notifyURL(channel: channel, merchant: merchant)
    }

    /// What the order state machine needs about a merchant's account.
    public func context(for merchant: String) -> OrderContext? {
        guard let channel = channels[merchant] else { return nil }
        let account = directory.account(merchant)
        let vendorMerchantID = Self.vendorMerchantIDSetting(channel.channel).flatMap { setting in
            account?.settings[setting]
        }
        var refunds: RefundSupport?
        if let refunding = channel as? any RefundingChannel {
            refunds = RefundSupport(
                policy: refunding.refundPolicy,
                validate: { refund throws(ChannelError) in try refunding.validateRefund(refund) })
        }
        return OrderContext(
            policy: channel.policy,
            notifyURL: notifyURL(channel: channel.channel, merchant: merchant),
            vendorMerchantID: vendorMerchantID.flatMap { $0.isEmpty ? nil : $0 },
            validate: { order throws(ChannelError) in try channel.validate(order) },
            refunds: refunds)
    }
}
