import Foundation
import Logging

/// A vendor's channel type: built for one merchant account by the contract initializer, which reads
/// and validates the account's settings and secrets.
public protocol MerchantAccountChannel: PaymentChannel {
    init(account: MerchantAccount, http: VendorHTTP, logger: Logger) throws(ChannelError)
}

/// Everything PayFleet knows about one channel outside its vendor folder, in one value: how to build
/// it, what it reads from a merchant account, its demo merchant, its operator tools and its timing.
///
/// Each vendor module exposes its descriptor (`WeChatV2Channel.descriptor`, …); one list in the
/// `Fleet` target (`ChannelCatalog.all`) registers them, and everything that picks per-channel
/// behaviour (the channel registry, `payfleet dev`/`sandbox`/`demo`, `payfleet sign` and
/// `verify-callback`) looks the channel up there instead of switching over ``ChannelID``.
public struct ChannelDescriptor: Sendable {
    /// Builds a channel for one merchant account (the channel type's contract initializer).
    public typealias Factory =
        @Sendable (MerchantAccount, VendorHTTP, Logger) throws(ChannelError) -> any PaymentChannel

    /// The factory that builds `Channel` with its contract initializer.
    public static func factory<Channel: MerchantAccountChannel>(_ type: Channel.Type) -> Factory {
        { account, http, logger throws(ChannelError) in try Channel(account: account, http: http, logger: logger) }
    }

    /// One merchant setting or secret the channel reads (documented in `docs/merchants.md`).
    public struct Setting: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable {
            /// A plain value in the merchant's `settings`.
            case setting
            /// A key or certificate in the merchant's `secrets`.
            case secret
        }

        public var name: String
        public var kind: Kind
        /// Whether building the channel fails without it (optional ones have a default or are only
        /// needed together with another setting).
        public var isRequired: Bool

        public static func required(_ name: String) -> Setting { Setting(name: name, kind: .setting, isRequired: true) }
        public static func optional(_ name: String) -> Setting {
            Setting(name: name, kind: .setting, isRequired: false)
        }
        public static func requiredSecret(_ name: String) -> Setting {
            Setting(name: name, kind: .secret, isRequired: true)
        }
        public static func optionalSecret(_ name: String) -> Setting {
            Setting(name: name, kind: .secret, isRequired: false)
        }
    }

    /// The channel's demo merchant for `payfleet dev`, `payfleet sandbox` and the end-to-end tests.
    public struct Demo: Sendable {
        /// The merchant alias (`demo-<channel>`).
        public var alias: String
        /// The amount of the paid demo order, in fen (its last two digits select the sandbox's
        /// scenario, so it must end in one that pays).
        public var amountFen: Int64
        /// A complete account with the given alias pointing at a sandbox base URL, with obviously fake keys.
        public var account: @Sendable (_ alias: String, _ sandboxBaseURL: String) -> MerchantAccount
        /// The order options a demo order of this channel needs (`trade_type`, `sub_orders`, `pay_type`, …).
        public var orderOptions: @Sendable (_ outTradeNo: String, _ amountFen: Int64) -> [String: JSONValue]

        public init(
            alias: String, amountFen: Int64,
            account: @escaping @Sendable (_ alias: String, _ sandboxBaseURL: String) -> MerchantAccount,
            orderOptions: @escaping @Sendable (_ outTradeNo: String, _ amountFen: Int64) -> [String: JSONValue] = {
                _, _ in [:]
            }
        ) {
            self.alias = alias
            self.amountFen = amountFen
            self.account = account
            self.orderOptions = orderOptions
        }

        /// The demo merchant's account pointing at `sandboxBaseURL`.
        public func account(sandboxBaseURL: String) -> MerchantAccount { account(alias, sandboxBaseURL) }
    }

    public var id: ChannelID
    public var factory: Factory
    /// The settings and secrets the channel reads.
    public var settings: [Setting]
    /// The setting that holds the vendor's merchant id (compared with a callback's merchant id).
    public var vendorMerchantIDSetting: String
    public var demo: Demo
    /// `payfleet sign` and `payfleet verify-callback`.
    public var operatorTools: OperatorTools
    /// The vendor's timing rules with the account's defaults (an account's settings may tune some,
    /// e.g. storepos `pending_query_limit_seconds`; the built channel's ``PaymentChannel/policy`` is final).
    public var policy: ChannelPolicy

    public init(
        id: ChannelID, factory: @escaping Factory, settings: [Setting], vendorMerchantIDSetting: String,
        demo: Demo, operatorTools: OperatorTools, policy: ChannelPolicy
    ) {
        self.id = id
        self.factory = factory
        self.settings = settings
        self.vendorMerchantIDSetting = vendorMerchantIDSetting
        self.demo = demo
        self.operatorTools = operatorTools
        self.policy = policy
    }

    /// The names of the required settings and secrets.
    public var requiredSettings: [Setting] { settings.filter(\.isRequired) }
}

extension MerchantAccount {
    /// Fails unless the account belongs to `expected` (a channel type's initializer checks this first).
    public func requireChannel(_ expected: ChannelID) throws(ChannelError) {
        guard channel == expected else {
            throw .configuration("merchant \(alias): channel is \(channel), not \(expected)")
        }
    }
}
