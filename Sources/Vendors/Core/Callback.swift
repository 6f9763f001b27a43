import Foundation

/// A vendor callback as the ingress received it, byte for byte.
public struct RawCallback: Sendable, Hashable {
    /// The request body exactly as received.
    public var body: [UInt8]
    /// Request headers, names lowercased.
    public var headers: [String: String]
    /// When the ingress received it.
    public var receivedAt: Date

    public init(body: [UInt8], headers: [String: String], receivedAt: Date) {
        self.body = body
        self.headers = Dictionary(
            headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { _, last in last })
        self.receivedAt = receivedAt
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A callback whose signature verified, parsed into what the worker checks against the order.
public struct VerifiedCallback: Sendable, Hashable {
    /// The order it names (for WeChat combine: `combine_out_trade_no`).
    public var outTradeNo: String
    /// The state it reports.
    public var status: TradeStatus
    /// The vendor merchant id it names, checked against the merchant account.
    public var vendorMerchantID: String?
    /// The amount it reports, checked against the order.
    public var amount: Money?
    /// The vendor's id of this notification, if any (WeChat v3 `id`).
    public var notificationID: String?
    /// The verified fields (decrypted resource for WeChat v3), for audit and operator tools. Never secrets.
    public var fields: [String: String]
    /// Set when this is a refund notification: then `status` is not a payment report and the worker
    /// applies the notice to the refund it names.
    public var refund: RefundNotice?

    public init(
        outTradeNo: String,
        status: TradeStatus,
        vendorMerchantID: String?,
        amount: Money?,
        notificationID: String? = nil,
        fields: [String: String] = [:],
        refund: RefundNotice? = nil
    ) {
        self.outTradeNo = outTradeNo
        self.status = status
        self.vendorMerchantID = vendorMerchantID
        self.amount = amount
        self.notificationID = notificationID
        self.fields = fields
        self.refund = refund
    }
}

/// Why a callback was not accepted as genuine.
public struct CallbackError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case malformed
        case badSignature = "bad_signature"
        case staleTimestamp = "stale_timestamp"
        case unknownSerial = "unknown_serial"
        case decryptionFailed = "decryption_failed"
        case wrongMerchant = "wrong_merchant"
    }

    public var kind: Kind
    /// A human-readable reason; never contains key material.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public static func malformed(_ message: String) -> CallbackError { .init(.malformed, message) }
    public static func badSignature(_ message: String = "signature does not verify") -> CallbackError {
        .init(.badSignature, message)
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

/// An HTTP answer to a vendor callback.
public struct CallbackReply: Sendable, Hashable {
    public var status: Int
    public var contentType: String?
    public var body: String

    public init(status: Int, contentType: String?, body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// The answers a vendor expects: `success` once the callback is durable, `failure` to make the vendor retry.
public struct CallbackAcknowledgement: Sendable, Hashable {
    public var success: CallbackReply
    public var failure: CallbackReply

    public init(success: CallbackReply, failure: CallbackReply) {
        self.success = success
        self.failure = failure
    }
}
