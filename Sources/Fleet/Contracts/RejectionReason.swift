/// Why an input was not processed: a short machine word (the `payfleet-dlq-reason` header, a metric
/// label, the `reason` of a `payfleet.request.rejected` event). The set is bounded.
public struct RejectionReason: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // Order requests
    /// The value is not JSON.
    public static let malformedJSON = RejectionReason(rawValue: "malformed_json")
    /// The value is JSON but not an object.
    public static let notAnObject = RejectionReason(rawValue: "not_an_object")
    /// The record has no value (a tombstone on an input topic).
    public static let nullValue = RejectionReason(rawValue: "null_value")
    /// A required field is absent or null.
    public static let missingField = RejectionReason(rawValue: "missing_field")
    /// A field has the wrong type or an unusable value.
    public static let invalidField = RejectionReason(rawValue: "invalid_field")
    /// `action` is not create, close or query.
    public static let unknownAction = RejectionReason(rawValue: "unknown_action")
    /// `channel` is not one of the five channels.
    public static let unknownChannel = RejectionReason(rawValue: "unknown_channel")
    /// `merchant` names no configured merchant account.
    public static let unknownMerchant = RejectionReason(rawValue: "unknown_merchant")
    /// The merchant account belongs to another channel than the request names.
    public static let channelMismatch = RejectionReason(rawValue: "channel_mismatch")
    /// `amount_fen` is not a positive integer number of fen in range.
    public static let badAmount = RejectionReason(rawValue: "bad_amount")
    /// `options.sub_orders` do not sum to `amount_fen` or are malformed.
    public static let subOrdersMismatch = RejectionReason(rawValue: "sub_orders_mismatch")
    /// `expires_at` is not RFC 3339 or is not in the future.
    public static let badExpiry = RejectionReason(rawValue: "bad_expires_at")
    /// The record key is not the request's `out_trade_no` (the order would land on the wrong partition).
    public static let keyMismatch = RejectionReason(rawValue: "key_mismatch")
    /// A `create` for an `out_trade_no` that already exists with different content.
    public static let duplicateOutTradeNo = RejectionReason(rawValue: "duplicate_out_trade_no")
    /// A `close` or `query` for an order this worker does not know.
    public static let unknownOrder = RejectionReason(rawValue: "unknown_order")
    /// The vendor's rules reject the order (the channel's `.invalidRequest`).
    public static let invalidRequest = RejectionReason(rawValue: "invalid_request")

    // Refund requests
    /// A refund for an order that is not `succeeded` (never paid, failed, closed, still open).
    public static let orderNotPaid = RejectionReason(rawValue: "order_not_paid")
    /// The refund, with the refunds already accepted and not failed, would give back more than was
    /// paid (for a combine order: more than a sub-order was paid).
    public static let refundExceedsPaid = RejectionReason(rawValue: "refund_exceeds_paid")
    /// An `out_refund_no` already used on this order with other parameters.
    public static let refundConflict = RejectionReason(rawValue: "refund_conflict")
    /// The order's channel does not refund (its vendor documents no refund PayFleet can cite).
    public static let refundUnsupported = RejectionReason(rawValue: "refund_unsupported")

    // Callbacks
    /// A callback record without the headers the ingress writes.
    public static let malformedCallbackRecord = RejectionReason(rawValue: "malformed_callback_record")
    /// The callback signature (or decryption, timestamp, serial) did not verify.
    public static let badSignature = RejectionReason(rawValue: "bad_signature")
    /// The callback could not be parsed.
    public static let malformedCallback = RejectionReason(rawValue: "malformed_callback")
    /// The callback's amount differs from the order's.
    public static let amountMismatch = RejectionReason(rawValue: "amount_mismatch")
    /// The callback's merchant (vendor merchant id or notify URL merchant) differs from the order's.
    public static let merchantMismatch = RejectionReason(rawValue: "merchant_mismatch")
    /// The callback names another out_trade_no than its record key / order.
    public static let outTradeNoMismatch = RejectionReason(rawValue: "out_trade_no_mismatch")
    /// A genuine callback for an order this partition has never seen.
    public static let unknownOrderCallback = RejectionReason(rawValue: "unknown_order_callback")
    /// A genuine refund notification naming an `out_refund_no` the order does not have.
    public static let unknownRefund = RejectionReason(rawValue: "unknown_refund")
    /// A genuine refund notification contradicting the refund's final state (failed after succeeded).
    public static let conflictingRefund = RejectionReason(rawValue: "conflicting_refund")

    // Timer jobs
    /// A query job that does not decode.
    public static let malformedJob = RejectionReason(rawValue: "malformed_job")
}
