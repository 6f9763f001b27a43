import Foundation
import Payments

/// What a worker keeps of an order once it is terminal (`succeeded`, `failed`, `closed`): exactly
/// what late callbacks, repeated creates and queries, paid-after-close detection and refunds need.
///
/// - Late callbacks: status, merchant, amount, the transaction id (a duplicate produces nothing, a
///   second transaction is a `conflicting_transaction` anomaly), and the combine order's planned
///   sub-orders (a payment after close is checked per sub-order like before).
/// - Repeated creates and queries: the request digest (idempotent answer) and everything the
///   terminal event carries (`attach`, payment, failure, close reason and times), so the repeated
///   event is byte-identical.
/// - Refunds: channel, merchant, amount, transaction id(s), vendor merchant id, per sub-order its
///   `out_trade_no`, merchant id, transaction id and amount, the channel memo of the create (storepos
///   refunds name the create's `paytype`), and every refund with its state and timer bookkeeping (a
///   paid order is terminal, so its refunds live here).
///
/// Dropped: the description, client IP, request options other than `sub_orders`, pay parameters,
/// query/retry bookkeeping of the payment — nothing a terminal order reads.
///
/// On `payfleet.order-state` a terminal order is this summary in a compact binary form (record
/// format 3, ``encoded()``; format 2, without memo and refunds, still decodes); a worker keeps the
/// same bytes in memory. Live orders keep their full JSON record (format 1).
public struct TerminalSummary: Sendable, Hashable {
    /// One planned sub-order of a combine order (from the create's `options.sub_orders`).
    public struct PlannedSubOrder: Sendable, Hashable {
        public var outTradeNo: String
        public var amountFen: Int64?
        public var vendorMerchantID: String?

        public init(outTradeNo: String, amountFen: Int64?, vendorMerchantID: String?) {
            self.outTradeNo = outTradeNo
            self.amountFen = amountFen
            self.vendorMerchantID = vendorMerchantID
        }
    }

    public var outTradeNo: String
    public var merchant: String
    public var channel: ChannelID
    public var amountFen: Int64
    public var attach: String?
    public var status: OrderState.Status
    public var requestDigest: String
    public var createdAt: Date
    public var expiresAt: Date
    public var terminalAt: Date?
    public var payment: OrderState.PaymentRecord?
    public var failure: VendorFailure?
    public var closedAt: Date?
    public var closeReason: String?
    public var closedAtVendor: Bool?
    public var subOrders: [PlannedSubOrder]
    public var revision: Int
    /// The channel memo of the create (format 3).
    public var memo: [String: String] = [:]
    /// The order's refunds (format 3).
    public var refunds: [OrderState.RefundRecord] = []

    /// The summary of a terminal order; `nil` for a live one.
    public init?(_ state: OrderState) {
        guard state.status.isTerminal else { return nil }
        outTradeNo = state.outTradeNo
        merchant = state.merchant
        channel = state.channel
        amountFen = state.amountFen
        attach = state.attach
        status = state.status
        requestDigest = state.requestDigest
        createdAt = state.createdAt
        expiresAt = state.expiresAt
        terminalAt = state.terminalAt
        payment = state.payment
        failure = state.failure
        closedAt = state.closedAt
        closeReason = state.closeReason
        closedAtVendor = state.closedAtVendor
        revision = state.revision
        memo = state.memo
        refunds = state.refunds
        if case .array(let planned)? = state.options["sub_orders"] {
            subOrders = planned.compactMap { item in
                guard let number = item["out_trade_no"]?.stringValue else { return nil }
                return PlannedSubOrder(
                    outTradeNo: number, amountFen: item["amount_fen"]?.integerValue,
                    vendorMerchantID: item["mchid"]?.stringValue)
            }
        } else {
            subOrders = []
        }
    }

    /// The order state the state machine works on: the kept fields, everything else empty.
    public var orderState: OrderState {
        var options: [String: JSONValue] = [:]
        if !subOrders.isEmpty {
            options["sub_orders"] = .array(
                subOrders.map { sub in
                    var item: [String: JSONValue] = ["out_trade_no": .string(sub.outTradeNo)]
                    if let fen = sub.amountFen { item["amount_fen"] = .integer(fen) }
                    if let id = sub.vendorMerchantID { item["mchid"] = .string(id) }
                    return .object(item)
                })
        }
        var state = OrderState(
            outTradeNo: outTradeNo, merchant: merchant, channel: channel, amount: Money(fen: amountFen),
            description: "",
            attach: attach, options: options, createdAt: createdAt, expiresAt: expiresAt, requestDigest: requestDigest,
            status: status)
        state.schema = TerminalSummary.formatVersion
        state.terminalAt = terminalAt
        state.payment = payment
        state.failure = failure
        state.closedAt = closedAt
        state.closeReason = closeReason
        state.closedAtVendor = closedAtVendor
        state.revision = revision
        state.memo = memo
        state.refunds = refunds
        return state
    }

    // MARK: Binary record (format 2)

    /// The record format version of a terminal summary written now.
    public static let formatVersion = 3
    /// Versions that still decode (2: before memo and refunds).
    public static let readableVersions: ClosedRange<Int> = 2...3
    /// The first byte of a binary record: a JSON text never starts with NUL.
    static let marker: UInt8 = 0x00

    private enum Flag {
        static let attach: UInt16 = 1 << 0
        static let terminalAt: UInt16 = 1 << 1
        static let payment: UInt16 = 1 << 2
        static let failure: UInt16 = 1 << 3
        static let closedAt: UInt16 = 1 << 4
        static let closeReason: UInt16 = 1 << 5
        static let closedAtVendor: UInt16 = 1 << 6
        static let closedAtVendorTrue: UInt16 = 1 << 7
        static let rawDigest: UInt16 = 1 << 8
        // Payment flags.
        static let paidAt: UInt16 = 1 << 0
        static let paymentMerchant: UInt16 = 1 << 1
        // Sub-order flags.
        static let subTransaction: UInt16 = 1 << 0
        static let subAmount: UInt16 = 1 << 1
        static let subMerchant: UInt16 = 1 << 2
    }

    private static let statusCodes: [OrderState.Status] = [.succeeded, .failed, .closed]

    /// The record value: `00 03`, then varint-prefixed fields (strings as UTF-8, integers as
    /// LEB128, times as the 8 bytes of their Unix time in seconds, a hex SHA-256 digest as 32 bytes).
    public func encoded() -> [UInt8] {
        var out = BinaryWriter()
        out.bytes.reserveCapacity(160)
        out.byte(Self.marker)
        out.byte(UInt8(Self.formatVersion))
        let digest = Self.rawDigest(requestDigest)
        var flags: UInt16 = 0
        if attach != nil { flags |= Flag.attach }
        if terminalAt != nil { flags |= Flag.terminalAt }
        if payment != nil { flags |= Flag.payment }
        if failure != nil { flags |= Flag.failure }
        if closedAt != nil { flags |= Flag.closedAt }
        if closeReason != nil { flags |= Flag.closeReason }
        if let closedAtVendor { flags |= Flag.closedAtVendor | (closedAtVendor ? Flag.closedAtVendorTrue : 0) }
        if digest != nil { flags |= Flag.rawDigest }
        out.varint(UInt64(flags))
        out.byte(UInt8(Self.statusCodes.firstIndex(of: status) ?? 0))
        out.string(outTradeNo)
        out.string(merchant)
        out.string(channel.rawValue)
        out.signed(amountFen)
        out.signed(Int64(revision))
        if let digest { out.bytes.append(contentsOf: digest) } else { out.string(requestDigest) }
        out.date(createdAt)
        out.date(expiresAt)
        if let attach { out.string(attach) }
        if let terminalAt { out.date(terminalAt) }
        if let payment {
            var paymentFlags: UInt16 = 0
            if payment.paidAt != nil { paymentFlags |= Flag.paidAt }
            if payment.vendorMerchantID != nil { paymentFlags |= Flag.paymentMerchant }
            out.varint(UInt64(paymentFlags))
            out.string(payment.transactionID)
            out.signed(payment.amountFen)
            if let paidAt = payment.paidAt { out.date(paidAt) }
            if let id = payment.vendorMerchantID { out.string(id) }
            out.varint(UInt64(payment.subPayments.count))
            for sub in payment.subPayments {
                out.varint(UInt64(sub.transactionID == nil ? 0 : Flag.subTransaction))
                out.string(sub.outTradeNo)
                out.string(sub.vendorMerchantID)
                if let id = sub.transactionID { out.string(id) }
                out.signed(sub.amountFen)
                out.string(sub.tradeState)
            }
        }
        if let failure {
            out.string(failure.code)
            out.string(failure.message)
        }
        if let closedAt { out.date(closedAt) }
        if let closeReason { out.string(closeReason) }
        out.varint(UInt64(subOrders.count))
        for sub in subOrders {
            var subFlags: UInt16 = 0
            if sub.amountFen != nil { subFlags |= Flag.subAmount }
            if sub.vendorMerchantID != nil { subFlags |= Flag.subMerchant }
            out.varint(UInt64(subFlags))
            out.string(sub.outTradeNo)
            if let fen = sub.amountFen { out.signed(fen) }
            if let id = sub.vendorMerchantID { out.string(id) }
        }
        // Format 3: memo, refunds.
        out.varint(UInt64(memo.count))
        for key in memo.keys.sorted() {
            out.string(key)
            out.string(memo[key] ?? "")
        }
        out.varint(UInt64(refunds.count))
        for refund in refunds { Self.encode(refund, to: &out) }
        return out.bytes
    }

    private enum RefundFlag {
        static let reason: UInt64 = 1 << 0
        static let pendingAt: UInt64 = 1 << 1
        static let pendingReason: UInt64 = 1 << 2
        static let refundedFen: UInt64 = 1 << 3
        static let refundedAt: UInt64 = 1 << 4
        static let failure: UInt64 = 1 << 5
        static let terminalAt: UInt64 = 1 << 6
        static let stuck: UInt64 = 1 << 7
        // Sub-refund flags.
        static let subMerchant: UInt64 = 1 << 0
        static let subTransaction: UInt64 = 1 << 1
    }

    private static let refundStatusCodes: [OrderState.RefundRecord.Status] = [
        .requested, .processing, .succeeded, .failed,
    ]

    private static func encode(_ refund: OrderState.RefundRecord, to out: inout BinaryWriter) {
        var flags: UInt64 = 0
        if refund.reason != nil { flags |= RefundFlag.reason }
        if refund.pendingAt != nil { flags |= RefundFlag.pendingAt }
        if refund.pendingReason != nil { flags |= RefundFlag.pendingReason }
        if refund.refundedFen != nil { flags |= RefundFlag.refundedFen }
        if refund.refundedAt != nil { flags |= RefundFlag.refundedAt }
        if refund.failure != nil { flags |= RefundFlag.failure }
        if refund.terminalAt != nil { flags |= RefundFlag.terminalAt }
        if refund.stuck { flags |= RefundFlag.stuck }
        out.varint(flags)
        out.byte(UInt8(refundStatusCodes.firstIndex(of: refund.status) ?? 0))
        out.string(refund.outRefundNo)
        out.signed(refund.amountFen)
        out.string(refund.digest)
        out.date(refund.requestedAt)
        out.signed(Int64(refund.attempts))
        out.signed(Int64(refund.timerAttempts))
        out.varint(UInt64(refund.subRefunds.count))
        for sub in refund.subRefunds {
            var subFlags: UInt64 = 0
            if sub.vendorMerchantID != nil { subFlags |= RefundFlag.subMerchant }
            if sub.transactionID != nil { subFlags |= RefundFlag.subTransaction }
            out.varint(subFlags)
            out.string(sub.outTradeNo)
            out.signed(sub.amountFen)
            out.signed(sub.paidFen)
            if let id = sub.vendorMerchantID { out.string(id) }
            if let id = sub.transactionID { out.string(id) }
        }
        out.varint(UInt64(refund.memo.count))
        for key in refund.memo.keys.sorted() {
            out.string(key)
            out.string(refund.memo[key] ?? "")
        }
        out.varint(UInt64(refund.vendorRefundIDs.count))
        for id in refund.vendorRefundIDs { out.string(id) }
        if let reason = refund.reason { out.string(reason) }
        if let date = refund.pendingAt { out.date(date) }
        if let text = refund.pendingReason { out.string(text) }
        if let fen = refund.refundedFen { out.signed(fen) }
        if let date = refund.refundedAt { out.date(date) }
        if let failure = refund.failure {
            out.string(failure.code)
            out.string(failure.message)
        }
        if let date = refund.terminalAt { out.date(date) }
    }

    private static func decodeRefund(
        _ input: inout BinaryReader
    ) throws(BinaryReader.Failure) -> OrderState.RefundRecord {
        let flags = try input.varint()
        let statusCode = Int(try input.byte())
        guard statusCode < refundStatusCodes.count else { throw BinaryReader.Failure(what: "refund status") }
        let outRefundNo = try input.string()
        let amountFen = try input.signed()
        let digest = try input.string()
        let requestedAt = try input.date()
        let attempts = Int(try input.signed())
        let timerAttempts = Int(try input.signed())
        let subCount = try input.count()
        var subs: [OrderState.RefundRecord.SubRefundRecord] = []
        for _ in 0..<subCount {
            let subFlags = try input.varint()
            let number = try input.string()
            let fen = try input.signed()
            let paid = try input.signed()
            let merchantID = subFlags & RefundFlag.subMerchant != 0 ? try input.string() : nil
            let transactionID = subFlags & RefundFlag.subTransaction != 0 ? try input.string() : nil
            subs.append(
                .init(
                    outTradeNo: number, amountFen: fen, paidFen: paid, vendorMerchantID: merchantID,
                    transactionID: transactionID))
        }
        let memoCount = try input.count()
        var memo: [String: String] = [:]
        for _ in 0..<memoCount {
            let key = try input.string()
            memo[key] = try input.string()
        }
        let idCount = try input.count()
        var ids: [String] = []
        for _ in 0..<idCount { ids.append(try input.string()) }
        let reason = flags & RefundFlag.reason != 0 ? try input.string() : nil
        let pendingAt = flags & RefundFlag.pendingAt != 0 ? try input.date() : nil
        let pendingReason = flags & RefundFlag.pendingReason != 0 ? try input.string() : nil
        let refundedFen = flags & RefundFlag.refundedFen != 0 ? try input.signed() : nil
        let refundedAt = flags & RefundFlag.refundedAt != 0 ? try input.date() : nil
        let failure =
            flags & RefundFlag.failure != 0
            ? VendorFailure(code: try input.string(), message: try input.string()) : nil
        let terminalAt = flags & RefundFlag.terminalAt != 0 ? try input.date() : nil
        return OrderState.RefundRecord(
            outRefundNo: outRefundNo, amountFen: amountFen, reason: reason, digest: digest, requestedAt: requestedAt,
            subRefunds: subs, status: refundStatusCodes[statusCode], memo: memo, pendingAt: pendingAt,
            pendingReason: pendingReason, vendorRefundIDs: ids, refundedFen: refundedFen, refundedAt: refundedAt,
            failure: failure, terminalAt: terminalAt, attempts: attempts, timerAttempts: timerAttempts,
            stuck: flags & RefundFlag.stuck != 0)
    }

    /// Whether `bytes` is a binary record (rather than a JSON one).
    public static func isBinaryRecord<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        bytes.first == marker
    }

    /// Reads a binary record.
    public static func decode<Bytes: Collection<UInt8>>(
        _ bytes: Bytes
    ) throws(OrderStateDecodingError) -> TerminalSummary {
        var input = BinaryReader(bytes as? [UInt8] ?? Array(bytes))
        do throws(BinaryReader.Failure) {
            return try parse(&input)
        } catch {
            throw OrderStateDecodingError(detail: "order-state record does not decode: bad binary \(error.what)")
        }
    }

    private static func parse(_ input: inout BinaryReader) throws(BinaryReader.Failure) -> TerminalSummary {
        guard try input.byte() == marker else { throw BinaryReader.Failure(what: "marker") }
        let version = try input.byte()
        guard readableVersions.contains(Int(version)) else {
            throw BinaryReader.Failure(what: "format version \(version)")
        }
        let flags = UInt16(truncatingIfNeeded: try input.varint())
        let statusCode = Int(try input.byte())
        guard statusCode < statusCodes.count else { throw BinaryReader.Failure(what: "status") }
        let outTradeNo = try input.string()
        let merchant = try input.string()
        let channelName = try input.string()
        guard let channel = ChannelID(rawValue: channelName) else { throw BinaryReader.Failure(what: "channel") }
        let amountFen = try input.signed()
        let revision = try input.signed()
        let requestDigest = flags & Flag.rawDigest != 0 ? hex(try input.take(32)) : try input.string()
        let createdAt = try input.date()
        let expiresAt = try input.date()
        let attach = flags & Flag.attach != 0 ? try input.string() : nil
        let terminalAt = flags & Flag.terminalAt != 0 ? try input.date() : nil
        var payment: OrderState.PaymentRecord?
        if flags & Flag.payment != 0 {
            let paymentFlags = UInt16(truncatingIfNeeded: try input.varint())
            let transactionID = try input.string()
            let paid = try input.signed()
            let paidAt = paymentFlags & Flag.paidAt != 0 ? try input.date() : nil
            let merchantID = paymentFlags & Flag.paymentMerchant != 0 ? try input.string() : nil
            let count = try input.count()
            var subs: [OrderState.SubPaymentRecord] = []
            subs.reserveCapacity(count)
            for _ in 0..<count {
                let subFlags = UInt16(truncatingIfNeeded: try input.varint())
                let number = try input.string()
                let subMerchant = try input.string()
                let subTransaction = subFlags & Flag.subTransaction != 0 ? try input.string() : nil
                let subAmount = try input.signed()
                let tradeState = try input.string()
                subs.append(
                    OrderState.SubPaymentRecord(
                        outTradeNo: number, vendorMerchantID: subMerchant, transactionID: subTransaction,
                        amountFen: subAmount, tradeState: tradeState))
            }
            payment = OrderState.PaymentRecord(
                transactionID: transactionID, amountFen: paid, paidAt: paidAt, vendorMerchantID: merchantID,
                subPayments: subs)
        }
        let failure =
            flags & Flag.failure != 0 ? VendorFailure(code: try input.string(), message: try input.string()) : nil
        let closedAt = flags & Flag.closedAt != 0 ? try input.date() : nil
        let closeReason = flags & Flag.closeReason != 0 ? try input.string() : nil
        let closedAtVendor: Bool? = flags & Flag.closedAtVendor != 0 ? flags & Flag.closedAtVendorTrue != 0 : nil
        let subCount = try input.count()
        var subOrders: [PlannedSubOrder] = []
        subOrders.reserveCapacity(subCount)
        for _ in 0..<subCount {
            let subFlags = UInt16(truncatingIfNeeded: try input.varint())
            let number = try input.string()
            let fen = subFlags & Flag.subAmount != 0 ? try input.signed() : nil
            let id = subFlags & Flag.subMerchant != 0 ? try input.string() : nil
            subOrders.append(PlannedSubOrder(outTradeNo: number, amountFen: fen, vendorMerchantID: id))
        }
        var memo: [String: String] = [:]
        var refunds: [OrderState.RefundRecord] = []
        if version >= 3 {
            let memoCount = try input.count()
            for _ in 0..<memoCount {
                let key = try input.string()
                memo[key] = try input.string()
            }
            let refundCount = try input.count()
            for _ in 0..<refundCount { refunds.append(try decodeRefund(&input)) }
        }
        guard input.isAtEnd else { throw BinaryReader.Failure(what: "trailing bytes") }
        var summary = TerminalSummary(
            outTradeNo: outTradeNo, merchant: merchant, channel: channel, amountFen: amountFen, attach: attach,
            status: statusCodes[statusCode], requestDigest: requestDigest, createdAt: createdAt, expiresAt: expiresAt,
            terminalAt: terminalAt, payment: payment, failure: failure, closedAt: closedAt, closeReason: closeReason,
            closedAtVendor: closedAtVendor, subOrders: subOrders, revision: Int(revision))
        summary.memo = memo
        summary.refunds = refunds
        return summary
    }

    init(
        outTradeNo: String, merchant: String, channel: ChannelID, amountFen: Int64, attach: String?,
        status: OrderState.Status, requestDigest: String, createdAt: Date, expiresAt: Date, terminalAt: Date?,
        payment: OrderState.PaymentRecord?, failure: VendorFailure?, closedAt: Date?, closeReason: String?,
        closedAtVendor: Bool?, subOrders: [PlannedSubOrder], revision: Int
    ) {
        self.outTradeNo = outTradeNo
        self.merchant = merchant
        self.channel = channel
        self.amountFen = amountFen
        self.attach = attach
        self.status = status
        self.requestDigest = requestDigest
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.terminalAt = terminalAt
        self.payment = payment
        self.failure = failure
        self.closedAt = closedAt
        self.closeReason = closeReason
        self.closedAtVendor = closedAtVendor
        self.subOrders = subOrders
        self.revision = revision
    }

    /// The 32 bytes of a lowercase hex SHA-256 digest (other digests are kept as text).
    private static func rawDigest(_ text: String) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var high: UInt8?
        for character in utf8 {
            let value: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = character - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let first = high {
                bytes.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return bytes
    }

    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

// MARK: Binary primitives

struct BinaryWriter {
    var bytes: [UInt8] = []

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Zig-zag, so small negative numbers stay short.
    mutating func signed(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func string(_ value: String) {
        var copy = value
        copy.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// The exact `Date` (its Unix time as the 8 bytes of a Double, little-endian).
    mutating func date(_ value: Date) {
        var bits = value.timeIntervalSince1970.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
    }
}

struct BinaryReader {
    struct Failure: Error {
        var what: String
    }

    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { index == bytes.count }

    mutating func byte() throws(Failure) -> UInt8 {
        guard index < bytes.count else { throw Failure(what: "length") }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func take(_ count: Int) throws(Failure) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - index >= count else { throw Failure(what: "length") }
        defer { index += count }
        return bytes[index..<index + count]
    }

    mutating func varint() throws(Failure) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            guard shift < 64 else { throw Failure(what: "varint") }
            value |= UInt64(next & 0x7f) << shift
            if next & 0x80 == 0 { return value }
            shift += 7
        }
    }

    mutating func signed() throws(Failure) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    mutating func count() throws(Failure) -> Int {
        let raw = try varint()
        guard raw <= UInt64(bytes.count - index) else { throw Failure(what: "count") }
        return Int(raw)
    }

    mutating func string() throws(Failure) -> String {
        let length = try count()
        let slice = try take(length)
        guard let text = String(validating: slice, as: UTF8.self) else { throw Failure(what: "UTF-8") }
        return text
    }

    mutating func date() throws(Failure) -> Date {
        let slice = try take(8)
        var bits: UInt64 = 0
        for (shift, byte) in slice.enumerated() { bits |= UInt64(byte) << (UInt64(shift) * 8) }
        let seconds = Double(bitPattern: bits)
        guard seconds.isFinite else { throw Failure(what: "time") }
        return Date(timeIntervalSince1970: seconds)
    }
}
