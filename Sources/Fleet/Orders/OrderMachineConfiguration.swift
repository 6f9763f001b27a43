import Foundation
import Payments

/// Fleet-wide rules of the order state machine.
public struct OrderMachineConfiguration: Sendable, Hashable {
    /// Expiry of orders whose request has no `expires_at` (`PAYFLEET_ORDER_TTL`, default 2 h).
    public var defaultTTL: Duration = .seconds(7200)
    /// How long a terminal order's state is kept before it is tombstoned (`PAYFLEET_STATE_RETENTION`,
    /// default ``WorkerSettings/defaultStateRetention``: the longest vendor callback schedule plus a margin).
    public var stateRetention: Duration = WorkerSettings.defaultStateRetention
    /// At most one anomaly-triggered query per order in this interval.
    public var anomalyQueryInterval: Duration = .seconds(30)
    /// First retry delay after a retryable vendor error; doubles per attempt.
    public var retryBaseDelay: Duration = .seconds(5)
    /// Longest retry delay.
    public var retryMaximumDelay: Duration = .seconds(300)
    /// Vendor creates allowed for one order when queries find it unknown at the vendor.
    public var maximumCreateAttempts: Int = 3
    /// Close attempts deferred because the payer is paying right now, before closing anyway.
    public var maximumCloseDeferrals: Int = 12

    public init() {}

    /// The delay before retry `attempt` (1-based).
    public func retryDelay(attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 20)
        let delay = retryBaseDelay * (1 << exponent)
        return min(delay, retryMaximumDelay)
    }
}

/// What the machine needs to know about the order's merchant account and channel.
public struct OrderContext: Sendable {
    /// The vendor's timing rules.
    public var policy: ChannelPolicy
    /// The notify URL vendors call back (`<notify_base_url>/notify/<channel>/<merchant>`).
    public var notifyURL: String
    /// The vendor merchant id of the account (checked against callbacks and payments), when known.
    public var vendorMerchantID: String?
    /// The channel's offline check of an order (`PaymentChannel.validate`).
    public var validate: @Sendable (PaymentOrder) throws(ChannelError) -> Void
    /// What the machine needs of a channel that refunds; `nil`: the channel does not conform to
    /// `RefundingChannel` and refunds are rejected `refund_unsupported`.
    public var refunds: RefundSupport?

    public init(
        policy: ChannelPolicy, notifyURL: String, vendorMerchantID: String? = nil,
        validate: @escaping @Sendable (PaymentOrder) throws(ChannelError) -> Void = { _ throws(ChannelError) in },
        refunds: RefundSupport? = nil
    ) {
        self.policy = policy
        self.notifyURL = notifyURL
        self.vendorMerchantID = vendorMerchantID
        self.validate = validate
        self.refunds = refunds
    }
}

/// A refunding channel as the order machine sees it: its query timing and its offline check.
public struct RefundSupport: Sendable {
    /// `RefundingChannel.refundPolicy`.
    public var policy: RefundPolicy
    /// `RefundingChannel.validateRefund`.
    public var validate: @Sendable (RefundOrder) throws(ChannelError) -> Void

    public init(
        policy: RefundPolicy,
        validate: @escaping @Sendable (RefundOrder) throws(ChannelError) -> Void = { _ throws(ChannelError) in }
    ) {
        self.policy = policy
        self.validate = validate
    }
}
