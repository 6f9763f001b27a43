import Foundation
import Payments

/// Everything the worker knows about one order: the value of its record on the compacted
/// `payfleet.order-state` changelog (key = `out_trade_no`; a tombstone deletes it).
///
/// A live order's record is this whole state as JSON (record format 1); a terminal order's record
/// is its ``TerminalSummary`` in binary (record format 2, about a sixth of the size). ``decode(_:)``
/// reads both, so records written before the summary existed still restore.
///
/// It carries the order as accepted (so query and close can be repeated with the same
/// parameters after any restart), where it stands, what the vendor said, and the bookkeeping of
/// its timer chains (so a duplicated or replayed timer never starts a second chain).
public struct OrderState: Sendable, Hashable, Codable {
    /// Where an order stands. `succeeded`, `failed` and `closed` are terminal and never regress.
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        /// Accepted; the vendor create is being attempted (the intent is durable before the call).
        case creating
        /// Created at the vendor; the payer can pay with what `prepared` holds.
        case prepared
        /// The outcome is not known yet; the order is being queried.
        case pending
        case succeeded
        case failed
        case closed

        public var isTerminal: Bool { self == .succeeded || self == .failed || self == .closed }
    }

    /// What a payer needs to pay (from the vendor's create answer).
    public struct PreparedPayload: Sendable, Hashable, Codable {
        public var codeURL: String?
        public var qrImageURL: String?
        public var payParameters: [String: String]
        public var vendorOrderID: String?

        public init(
            codeURL: String? = nil, qrImageURL: String? = nil, payParameters: [String: String] = [:],
            vendorOrderID: String? = nil
        ) {
            self.codeURL = codeURL
            self.qrImageURL = qrImageURL
            self.payParameters = payParameters
            self.vendorOrderID = vendorOrderID
        }

        public init(_ prepared: Prepared) {
            self.init(
                codeURL: prepared.codeURL, qrImageURL: prepared.qrImageURL, payParameters: prepared.payParameters,
                vendorOrderID: prepared.vendorOrderID)
        }

        enum CodingKeys: String, CodingKey {
            case codeURL = "code_url"
            case qrImageURL = "qr_image_url"
            case payParameters = "pay_parameters"
            case vendorOrderID = "vendor_order_id"
        }
    }

    /// A payment the vendor confirmed.
    public struct PaymentRecord: Sendable, Hashable, Codable {
        public var transactionID: String
        public var amountFen: Int64
        public var paidAt: Date?
        public var vendorMerchantID: String?
        public var subPayments: [SubPaymentRecord]

        public init(
            transactionID: String, amountFen: Int64, paidAt: Date?, vendorMerchantID: String?,
            subPayments: [SubPaymentRecord]
        ) {
            self.transactionID = transactionID
            self.amountFen = amountFen
            self.paidAt = paidAt
            self.vendorMerchantID = vendorMerchantID
            self.subPayments = subPayments
        }

        public init(_ details: PaymentDetails) {
            transactionID = details.transactionID
            amountFen = details.amount.fen
            paidAt = details.paidAt
            vendorMerchantID = details.vendorMerchantID
            subPayments = details.subPayments.map(SubPaymentRecord.init)
        }

        enum CodingKeys: String, CodingKey {
            case transactionID = "transaction_id"
            case amountFen = "amount_fen"
            case paidAt = "paid_at"
            case vendorMerchantID = "vendor_merchant_id"
            case subPayments = "sub_payments"
        }
    }

    /// One sub-order payment of a combine order.
    public struct SubPaymentRecord: Sendable, Hashable, Codable {
        public var outTradeNo: String
        public var vendorMerchantID: String
        public var transactionID: String?
        public var amountFen: Int64
        public var tradeState: String

        public init(
            outTradeNo: String, vendorMerchantID: String, transactionID: String?, amountFen: Int64, tradeState: String
        ) {
            self.outTradeNo = outTradeNo
            self.vendorMerchantID = vendorMerchantID
            self.transactionID = transactionID
            self.amountFen = amountFen
            self.tradeState = tradeState
        }

        public init(_ sub: SubPayment) {
            outTradeNo = sub.outTradeNo
            vendorMerchantID = sub.vendorMerchantID
            transactionID = sub.transactionID
            amountFen = sub.amount.fen
            tradeState = sub.tradeState
        }

        enum CodingKeys: String, CodingKey {
            case outTradeNo = "out_trade_no"
            case vendorMerchantID = "vendor_merchant_id"
            case transactionID = "transaction_id"
            case amountFen = "amount_fen"
            case tradeState = "trade_state"
        }
    }

    /// One refund of a paid order, keyed by its `out_refund_no`: the request as accepted (so the
    /// vendor call can be repeated with identical parameters after any restart), where it stands,
    /// what the vendor said, and its timer chain.
    public struct RefundRecord: Sendable, Hashable, Codable {
        /// Where a refund stands. `succeeded` and `failed` are terminal and never move.
        public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
            /// Accepted; the vendor refund call is being attempted (durable before the call).
            case requested
            /// The vendor took it (or its outcome is unknown); it is queried until final.
            case processing
            case succeeded
            case failed

            public var isTerminal: Bool { self == .succeeded || self == .failed }
        }

        /// One sub-order's part of a combine refund.
        public struct SubRefundRecord: Sendable, Hashable, Codable {
            public var outTradeNo: String
            public var amountFen: Int64
            public var paidFen: Int64
            public var vendorMerchantID: String?
            public var transactionID: String?

            public init(
                outTradeNo: String, amountFen: Int64, paidFen: Int64, vendorMerchantID: String? = nil,
                transactionID: String? = nil
            ) {
                self.outTradeNo = outTradeNo
                self.amountFen = amountFen
                self.paidFen = paidFen
                self.vendorMerchantID = vendorMerchantID
                self.transactionID = transactionID
            }

            enum CodingKeys: String, CodingKey {
                case outTradeNo = "out_trade_no"
                case amountFen = "amount_fen"
                case paidFen = "paid_fen"
                case vendorMerchantID = "vendor_merchant_id"
                case transactionID = "transaction_id"
            }
        }

        public var outRefundNo: String
        public var amountFen: Int64
        public var reason: String?
        /// Digest of the refund's parameters (`out_refund_no`, amount, reason, sub-orders): a repeat
        /// with the same digest is the same refund, another digest is a `refund_conflict`.
        public var digest: String
        /// When PayFleet accepted the refund (the request record's timestamp).
        public var requestedAt: Date
        public var subRefunds: [SubRefundRecord]
        public var status: Status
        /// What the channel asked to remember from the refund answer (for the query).
        public var memo: [String: String]
        /// When `refund.pending` was published (`nil`: not published).
        public var pendingAt: Date?
        /// `PendingReason` raw value or `processing`.
        public var pendingReason: String?
        public var vendorRefundIDs: [String]
        /// What the vendor reports refunded.
        public var refundedFen: Int64?
        public var refundedAt: Date?
        public var failure: VendorFailure?
        public var terminalAt: Date?
        /// Vendor refund calls made so far.
        public var attempts: Int
        /// The highest refund timer attempt handled.
        public var timerAttempts: Int
        /// The query limit passed without a final answer: reported as an anomaly, no more timers.
        public var stuck: Bool

        public init(
            outRefundNo: String, amountFen: Int64, reason: String?, digest: String, requestedAt: Date,
            subRefunds: [SubRefundRecord] = [], status: Status = .requested, memo: [String: String] = [:],
            pendingAt: Date? = nil, pendingReason: String? = nil, vendorRefundIDs: [String] = [],
            refundedFen: Int64? = nil, refundedAt: Date? = nil, failure: VendorFailure? = nil, terminalAt: Date? = nil,
            attempts: Int = 0, timerAttempts: Int = 0, stuck: Bool = false
        ) {
            self.outRefundNo = outRefundNo
            self.amountFen = amountFen
            self.reason = reason
            self.digest = digest
            self.requestedAt = requestedAt
            self.subRefunds = subRefunds
            self.status = status
            self.memo = memo
            self.pendingAt = pendingAt
            self.pendingReason = pendingReason
            self.vendorRefundIDs = vendorRefundIDs
            self.refundedFen = refundedFen
            self.refundedAt = refundedAt
            self.failure = failure
            self.terminalAt = terminalAt
            self.attempts = attempts
            self.timerAttempts = timerAttempts
            self.stuck = stuck
        }

        enum CodingKeys: String, CodingKey {
            case outRefundNo = "out_refund_no"
            case amountFen = "amount_fen"
            case reason, digest
            case requestedAt = "requested_at"
            case subRefunds = "sub_refunds"
            case status, memo
            case pendingAt = "pending_at"
            case pendingReason = "pending_reason"
            case vendorRefundIDs = "vendor_refund_ids"
            case refundedFen = "refunded_fen"
            case refundedAt = "refunded_at"
            case failure
            case terminalAt = "terminal_at"
            case attempts
            case timerAttempts = "timer_attempts"
            case stuck
        }
    }

    /// The record format version: 1 = the full JSON state; 2 and 3 = a terminal summary (binary; 3
    /// adds the channel memo and the refunds).
    public var schema: Int = 1
    public var outTradeNo: String
    public var merchant: String
    public var channel: ChannelID
    public var amountFen: Int64
    public var description: String
    public var attach: String?
    public var clientIP: String?
    public var options: [String: JSONValue]
    /// When PayFleet accepted the order (the request record's timestamp, so a replay computes the same).
    public var createdAt: Date
    public var expiresAt: Date
    /// The canonical digest of the create request (discriminator of the order's state events).
    public var requestDigest: String
    public var status: Status
    /// What the channel asked to remember from the create (for query and close).
    public var memo: [String: String] = [:]
    public var prepared: PreparedPayload?
    /// `PendingReason` raw value, or `awaiting_payment` when a query found the order unpaid without pay parameters.
    public var pendingReason: String?
    public var pendingSince: Date?
    public var payment: PaymentRecord?
    public var failure: VendorFailure?
    public var closedAt: Date?
    /// `expired`, `requested` (upstream close) or `vendor` (the vendor reported it closed).
    public var closeReason: String?
    /// Whether the vendor confirmed the close (false when its close window had passed).
    public var closedAtVendor: Bool?
    public var terminalAt: Date?
    /// Vendor create calls made so far.
    public var createAttempts: Int = 0
    /// Close attempts made so far.
    public var closeAttempts: Int = 0
    /// The highest pending-chain query attempt handled.
    public var pendingQueries: Int = 0
    /// The highest fallback-chain query attempt handled.
    public var fallbackQueries: Int = 0
    /// The current retry chain's attempt (0 when no retry is outstanding).
    public var retryAttempt: Int = 0
    public var lastQueryAt: Date?
    /// When the last anomaly-triggered query was scheduled (rate limit).
    public var lastAnomalyQueryAt: Date?
    /// Upstream asked to close the order.
    public var closeRequested: Bool = false
    /// Incremented on every change.
    public var revision: Int = 0
    /// The refunds of a paid order, in the order they were accepted (absent: none).
    public var refundRecords: [RefundRecord]?

    /// The refunds of a paid order, in the order they were accepted.
    public var refunds: [RefundRecord] {
        get { refundRecords ?? [] }
        set { refundRecords = newValue.isEmpty ? nil : newValue }
    }

    /// The refund with this `out_refund_no`.
    public func refund(_ outRefundNo: String) -> RefundRecord? {
        refundRecords?.first { $0.outRefundNo == outRefundNo }
    }

    public init(
        outTradeNo: String, merchant: String, channel: ChannelID, amount: Money, description: String,
        attach: String? = nil, clientIP: String? = nil, options: [String: JSONValue] = [:], createdAt: Date,
        expiresAt: Date, requestDigest: String, status: Status = .creating
    ) {
        self.outTradeNo = outTradeNo
        self.merchant = merchant
        self.channel = channel
        self.amountFen = amount.fen
        self.description = description
        self.attach = attach
        self.clientIP = clientIP
        self.options = options
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.requestDigest = requestDigest
        self.status = status
    }

    public var amount: Money { Money(fen: amountFen) }

    /// The order as a channel needs it, with the notify URL of its merchant.
    public func paymentOrder(notifyURL: String) -> PaymentOrder {
        PaymentOrder(
            outTradeNo: outTradeNo, amount: amount, description: description, attach: attach, createdAt: createdAt,
            expiresAt: expiresAt, clientIP: clientIP, notifyURL: notifyURL, options: options)
    }

    /// The reference a channel needs to query or close the order.
    public func reference(notifyURL: String) -> OrderReference {
        OrderReference(order: paymentOrder(notifyURL: notifyURL), memo: memo)
    }

    enum CodingKeys: String, CodingKey {
        case schema
        case outTradeNo = "out_trade_no"
        case merchant, channel
        case amountFen = "amount_fen"
        case description, attach
        case clientIP = "client_ip"
        case options
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case requestDigest = "request_digest"
        case status, memo, prepared
        case pendingReason = "pending_reason"
        case pendingSince = "pending_since"
        case payment, failure
        case closedAt = "closed_at"
        case closeReason = "close_reason"
        case closedAtVendor = "closed_at_vendor"
        case terminalAt = "terminal_at"
        case createAttempts = "create_attempts"
        case closeAttempts = "close_attempts"
        case pendingQueries = "pending_queries"
        case fallbackQueries = "fallback_queries"
        case retryAttempt = "retry_attempt"
        case lastQueryAt = "last_query_at"
        case lastAnomalyQueryAt = "last_anomaly_query_at"
        case closeRequested = "close_requested"
        case revision
        case refundRecords = "refunds"
    }

    // MARK: Record encoding

    /// The changelog record value: a terminal order's ``TerminalSummary`` (binary, format 2), a
    /// live order's full state (``encodedJSON()``, format 1).
    public func encoded() -> Data {
        if let summary = TerminalSummary(self) { return Data(summary.encoded()) }
        return encodedJSON()
    }

    /// The whole state as a format 1 record (sorted-key JSON, RFC 3339 times with milliseconds):
    /// written by hand (``RecordJSONWriter``), the bytes `JSONEncoder` writes for this `Codable`
    /// value (``encodedWithJSONEncoder()``, which is used when an option holds a floating-point number
    /// and for an order with refunds).
    public func encodedJSON() -> Data {
        // Refunds are rare on a record and have many fields: `JSONEncoder` writes them.
        if refundRecords != nil { return encodedWithJSONEncoder() }
        var object = RecordJSONWriter.ObjectWriter(capacity: 32)
        object.add(CodingKeys.schema.rawValue, schema)
        object.add(CodingKeys.outTradeNo.rawValue, outTradeNo)
        object.add(CodingKeys.merchant.rawValue, merchant)
        object.add(CodingKeys.channel.rawValue, channel.rawValue)
        object.add(CodingKeys.amountFen.rawValue, amountFen)
        object.add(CodingKeys.description.rawValue, description)
        object.add(CodingKeys.attach.rawValue, attach)
        object.add(CodingKeys.clientIP.rawValue, clientIP)
        object.add(CodingKeys.options.rawValue, JSONValue.object(options))
        object.add(CodingKeys.createdAt.rawValue, RFC3339.format(createdAt))
        object.add(CodingKeys.expiresAt.rawValue, RFC3339.format(expiresAt))
        object.add(CodingKeys.requestDigest.rawValue, requestDigest)
        object.add(CodingKeys.status.rawValue, status.rawValue)
        object.add(CodingKeys.memo.rawValue, strings: memo)
        if let prepared {
            var payload = RecordJSONWriter.ObjectWriter()
            payload.add(PreparedPayload.CodingKeys.codeURL.rawValue, prepared.codeURL)
            payload.add(PreparedPayload.CodingKeys.qrImageURL.rawValue, prepared.qrImageURL)
            payload.add(PreparedPayload.CodingKeys.payParameters.rawValue, strings: prepared.payParameters)
            payload.add(PreparedPayload.CodingKeys.vendorOrderID.rawValue, prepared.vendorOrderID)
            object.add(CodingKeys.prepared.rawValue, payload)
        }
        object.add(CodingKeys.pendingReason.rawValue, pendingReason)
        object.add(CodingKeys.pendingSince.rawValue, pendingSince.map(RFC3339.format))
        if let payment {
            var record = RecordJSONWriter.ObjectWriter()
            record.add(PaymentRecord.CodingKeys.transactionID.rawValue, payment.transactionID)
            record.add(PaymentRecord.CodingKeys.amountFen.rawValue, payment.amountFen)
            record.add(PaymentRecord.CodingKeys.paidAt.rawValue, payment.paidAt.map(RFC3339.format))
            record.add(PaymentRecord.CodingKeys.vendorMerchantID.rawValue, payment.vendorMerchantID)
            record.add(
                PaymentRecord.CodingKeys.subPayments.rawValue,
                JSONValue.array(
                    payment.subPayments.map { sub in
                        var fields: [String: JSONValue] = [
                            SubPaymentRecord.CodingKeys.outTradeNo.rawValue: .string(sub.outTradeNo),
                            SubPaymentRecord.CodingKeys.vendorMerchantID.rawValue: .string(sub.vendorMerchantID),
                            SubPaymentRecord.CodingKeys.amountFen.rawValue: .integer(sub.amountFen),
                            SubPaymentRecord.CodingKeys.tradeState.rawValue: .string(sub.tradeState),
                        ]
                        if let transactionID = sub.transactionID {
                            fields[SubPaymentRecord.CodingKeys.transactionID.rawValue] = .string(transactionID)
                        }
                        return .object(fields)
                    }))
            object.add(CodingKeys.payment.rawValue, record)
        }
        if let failure {
            var record = RecordJSONWriter.ObjectWriter()
            record.add("code", failure.code)
            record.add("message", failure.message)
            object.add(CodingKeys.failure.rawValue, record)
        }
        object.add(CodingKeys.closedAt.rawValue, closedAt.map(RFC3339.format))
        object.add(CodingKeys.closeReason.rawValue, closeReason)
        object.add(CodingKeys.closedAtVendor.rawValue, closedAtVendor)
        object.add(CodingKeys.terminalAt.rawValue, terminalAt.map(RFC3339.format))
        object.add(CodingKeys.createAttempts.rawValue, createAttempts)
        object.add(CodingKeys.closeAttempts.rawValue, closeAttempts)
        object.add(CodingKeys.pendingQueries.rawValue, pendingQueries)
        object.add(CodingKeys.fallbackQueries.rawValue, fallbackQueries)
        object.add(CodingKeys.retryAttempt.rawValue, retryAttempt)
        object.add(CodingKeys.lastQueryAt.rawValue, lastQueryAt.map(RFC3339.format))
        object.add(CodingKeys.lastAnomalyQueryAt.rawValue, lastAnomalyQueryAt.map(RFC3339.format))
        object.add(CodingKeys.closeRequested.rawValue, closeRequested)
        object.add(CodingKeys.revision.rawValue, revision)
        return RecordJSONWriter.object(object, escapesSlashes: false, capacity: 1024) ?? encodedWithJSONEncoder()
    }

    /// The format 1 record as `JSONEncoder` writes it (the reference ``encodedJSON()`` matches).
    func encodedWithJSONEncoder() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
        // Encoding plain strings, numbers and dates cannot fail.
        return (try? encoder.encode(self)) ?? Data()
    }

    /// Reads a changelog record value of either format (a terminal summary comes back as the state
    /// the machine works on: ``TerminalSummary/orderState``).
    public static func decode(_ data: Data) throws(OrderStateDecodingError) -> OrderState {
        if TerminalSummary.isBinaryRecord(data) { return try TerminalSummary.decode(data).orderState }
        return try decodeJSON(data)
    }

    /// Reads a format 1 (JSON) record.
    public static func decodeJSON(_ data: Data) throws(OrderStateDecodingError) -> OrderState {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = RFC3339.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 time")
            }
            return date
        }
        do {
            return try decoder.decode(OrderState.self, from: data)
        } catch {
            throw OrderStateDecodingError(detail: "order-state record does not decode: \(Self.describe(error))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "missing \(key.stringValue)"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?, .dataCorrupted(let context)?:
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "not JSON" : "bad \(path)"
        default: return "undecodable"
        }
    }
}

/// An order-state record that cannot be read (a bug or a foreign writer); restore skips it and logs.
public struct OrderStateDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var detail: String
    public var description: String { detail }
}
