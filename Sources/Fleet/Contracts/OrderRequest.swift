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
    }

    public var action: Action
    public var outTradeNo: String
    /// The merchant alias from the merchants file.
    public var merchant: String
    public var channel: ChannelID
    /// Required for `create`; optional (and then checked against the order) for `close` / `query`.
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
        contentDigest: String
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
    }
}
