import Foundation
import Payments

/// A validated command from upstream on `payfleet.order-requests`.
///
/// Decode one with ``OrderRequestDecoder``; every field here has passed the structural checks
/// (types, required fields, amount, sub-order sums). Merchant existence is checked against the
/// merchants file by the worker, the vendor's own rules by the channel's `validate`.
public struct OrderRequest: Sendable, Hashable {
    /// What upstream asks for.
    public enum Action: String, Sendable, Hashable, Codable, CaseIterable {
        case create
        case close
        case query
        /// Give money back on a paid order (``OrderRequest/refund``).
        case refund
    }

    /// What a `refund` request carries besides the order's identity.
    public struct Refund: Sendable, Hashable {
        /// The merchant's refund number, unique per merchant; the vendor dedupes by it.
        public var outRefundNo: String
        /// Why (passed to vendors that take a reason).
        public var reason: String?
        /// wechat-v3-combine: the sub-orders refunded and how much of each (`options.sub_orders`);
        /// empty: the whole order, every sub-order.
        public var subOrders: [SubOrder]

        /// One named sub-order of a combine refund.
        public struct SubOrder: Sendable, Hashable {
            public var outTradeNo: String
            public var amount: Money

            public init(outTradeNo: String, amount: Money) {
                self.outTradeNo = outTradeNo
                self.amount = amount
            }
        }

        public init(outRefundNo: String, reason: String? = nil, subOrders: [SubOrder] = []) {
            self.outRefundNo = outRefundNo
            self.reason = reason
            self.subOrders = subOrders
        }
    }

    public var action: Action
    public var outTradeNo: String
    /// The merchant alias from the merchants file.
    public var merchant: String
    public var channel: ChannelID
    /// Required for `create` and `refund` (then the refund amount); optional (and then checked against
    /// the order) for `close` / `query`.
    public var amount: Money?
    /// Required for `create`.
    public var description: String?
    public var attach: String?
    public var expiresAt: Date?
    public var clientIP: String?
    /// Channel-specific options, passed to the channel verbatim.
    public var options: [String: JSONValue]
    /// The canonical content digest of the request (sorted-key JSON, SHA-256 hex): the same request
    /// re-sent or replayed digests the same, independent of its offset.
    public var contentDigest: String
    /// Set for `refund` requests.
    public var refund: Refund?

    public init(
        action: Action,
        outTradeNo: String,
        merchant: String,
        channel: ChannelID,
        amount: Money? = nil,
        description: String? = nil,
        attach: String? = nil,
        expiresAt: Date? = nil,
        clientIP: String? = nil,
        options: [String: JSONValue] = [:],
        contentDigest: String,
        refund: Refund? = nil
    ) {
        self.action = action
        self.outTradeNo = outTradeNo
        self.merchant = merchant
        self.channel = channel
        self.amount = amount
        self.description = description
        self.attach = attach
        self.expiresAt = expiresAt
        self.clientIP = clientIP
        self.options = options
        self.contentDigest = contentDigest
        self.refund = refund
    }
}
