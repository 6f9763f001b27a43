import Foundation
import Logging
import Observability
import Payments

/// A storepos (超赢) v2 gateway answer, decoded the way `parameters.md` and the API pages document
/// it: `state` (communication: SUCCESS / FAIL / VER) is the only member always present; `code`,
/// `msg` and `trade_state` are optional; `sign` comes "仅业务正确时" (only with a business
/// success). Members may be strings or numbers (the samples quote every value, including
/// `code` and `total_fee`, but both forms are accepted); unknown members are ignored.
public struct StorePOSAnswer: Sendable, Hashable {
    public let fields: AnswerFields

    public init(fields: AnswerFields) {
        self.fields = fields
    }

    /// The documented `code` values (`parameters.md`).
    public static let documentedCodes: Set<String> = [
        "10000", "10001", "10002", "10003", "10004", "10005", "10006",
        "20002", "20003", "20004", "20005", "20006", "20007", "20008", "20009", "20010", "20011", "20012", "20013",
        "30001",
    ]

    /// Decodes an answer body (HTTP 2xx); a `sign` that is present must verify (hex case ignored).
    public static func decode(_ body: [UInt8], method: String, key: Secret) throws(ChannelError) -> StorePOSAnswer {
        guard let object = AnswerFields.object(body) else {
            throw .badResponse("storepos answer to \(method) is not a JSON object")
        }
        let fields = AnswerFields(json: object, context: "storepos \(method)")
        _ = try fields.required("state")
        if let signature = fields["sign"], !StorePOSSigning.verify(fields.values, signature: signature, key: key) {
            throw .badResponse("storepos answer to \(method) has a wrong signature")
        }
        return StorePOSAnswer(fields: fields)
    }

    public var state: String { fields["state"] ?? "" }
    public var code: String { fields["code"] ?? "" }
    public var message: String { fields["msg"] ?? "" }
    public var tradeState: String? { fields["trade_state"] }

    /// "仅业务正确时返回签名": a business success must be signed (unless `require_response_sign: false`).
    func requireSigned(_ required: Bool) throws(ChannelError) {
        guard required, fields["sign"] == nil else { return }
        throw .badResponse("\(fields.context) success lacks required field 'sign'")
    }

    func checkEcho(_ outTradeNo: String) throws(ChannelError) {
        if let echoed = fields["out_trade_no"], echoed != outTradeNo {
            throw .badResponse("\(fields.context) answered for another out_trade_no")
        }
    }

    /// A refusal by its code.
    func rejection() -> ChannelError {
        switch code {
        case "20002", "20003":
            return ChannelError(.vendorRejected, "\(fields.context): signature error: \(message)", vendorCode: code)
        case "20005":
            return ChannelError(.vendorRejected, "\(fields.context): merchant error: \(message)", vendorCode: code)
        case "20006", "30001":
            return ChannelError(.vendorUnavailable, "\(fields.context): \(message)", vendorCode: code)
        default:
            guard Self.documentedCodes.contains(code) else {
                return ChannelError(
                    .vendorUnavailable,
                    "\(fields.context): undocumented code '\(code.prefix(8))' (state \(state)): \(message); try again later",
                    vendorCode: code)
            }
            return ChannelError(
                .vendorRejected, "\(fields.context) rejected (state \(state)): \(message)", vendorCode: code)
        }
    }

    // MARK: PreOrder

    /// The outcome of a `PreOrder_*` answer.
    public func createOutcome(
        outTradeNo: String, memo: [String: String], requireSign: Bool = true, logger: Logger
    ) throws(ChannelError) -> CreateOutcome {
        guard state == "SUCCESS" else {
            if code == "20006" || code == "30001" { return .pending(.unknownResult, memo: memo) }
            if StorePOSMessages.table.meaning(of: message) == .duplicate { return .duplicate }
            guard Self.documentedCodes.contains(code) else {
                // No documented code: the message is the only signal, and it says nothing known.
                StorePOSMessages.recordUnmatched(message, api: "PreOrder", logger: logger)
                return .pending(.unknownResult, memo: memo)
            }
            throw rejection()
        }
        try checkEcho(outTradeNo)
        switch tradeState {
        case "SUCCESS":
            try requireSigned(requireSign)
            return .prepared(try prepared(memo: memo))
        case "NEED_QUERY":
            return .pending(.needQuery, memo: memo)
        case "FAIL":
            if StorePOSMessages.table.meaning(of: message) == .duplicate { return .duplicate }
            return .failed(VendorFailure(code: code, message: message))
        default:
            // trade_state is optional: without it (or with an undocumented one) the query decides.
            if code == "10000", fields["code_url"] != nil || fields["pay_info"] != nil || fields["code_img_url"] != nil
            {
                try requireSigned(requireSign)
                return .prepared(try prepared(memo: memo))
            }
            return .pending(.needQuery, memo: memo)
        }
    }

    /// What the payer needs: `code_url` / `code_img_url` (NATIVE) or `pay_info` (a JSON string,
    /// JSPAY), plus `pay_url` and `token_id` when present.
    func prepared(memo: [String: String]) throws(ChannelError) -> Prepared {
        var payParameters: [String: String] = [:]
        if let info = fields["pay_info"] {
            guard let object = AnswerFields.object(Array(info.utf8)) else {
                throw .badResponse("\(fields.context) field 'pay_info' is not a JSON object")
            }
            payParameters = AnswerFields(json: object, context: "pay_info").values
        }
        if let payURL = fields["pay_url"] { payParameters["pay_url"] = payURL }
        if let token = fields["token_id"] { payParameters["token_id"] = token }
        let codeURL = fields["code_url"]
        let image = fields["code_img_url"]
        guard codeURL != nil || image != nil || !payParameters.isEmpty else {
            throw .badResponse("\(fields.context) success lacks all of 'code_url', 'code_img_url' and 'pay_info'")
        }
        return Prepared(codeURL: codeURL, qrImageURL: image, payParameters: payParameters, memo: memo)
    }

    // MARK: orderquery

    /// The order state an `orderquery` answer reports, read from `code`.
    public func tradeStatus(outTradeNo: String, requireSign: Bool = true) throws(ChannelError) -> TradeStatus {
        guard state == "SUCCESS" else {
            if code == "20007" { return .notFound }
            throw rejection()
        }
        try checkEcho(outTradeNo)
        switch code {
        case "10000":
            try requireSigned(requireSign)
            return .succeeded(try details())
        case "10001": return .paying
        case "10002":
            try requireSigned(requireSign)
            return .refunded(try details())
        case "10003": return .notPaid
        case "10004", "10005": return .closed
        case "10006": return .failed(VendorFailure(code: code, message: message))
        case "20007": return .notFound
        default:
            if tradeState == "NEED_QUERY" { return .paying }
            throw ChannelError(
                .vendorUnavailable, "\(fields.context) code '\(code.prefix(8))' is not documented; query again later")
        }
    }

    /// `transaction_id` and the order amount are required; `time_end` (GMT+8) and `mch_id` when present.
    ///
    /// The order amount is `base_fee` ("应付金额、订单金额") when the answer has it: `total_fee` is
    /// what the payer paid after vouchers (the orderquery sample: `base_fee` 4, `coupon_fee` 2,
    /// `total_fee` 2), which is not the order's amount.
    func details() throws(ChannelError) -> PaymentDetails {
        PaymentDetails(
            transactionID: try fields.required("transaction_id"),
            amount: fields["base_fee"] != nil ? try fields.fen("base_fee") : try fields.fen("total_fee"),
            paidAt: fields["time_end"].flatMap { ChinaTime.parse($0, "yyyyMMddHHmmss") },
            vendorMerchantID: fields["mch_id"]
        )
    }

    // MARK: cancel

    /// What a `cancel` answer says, read from `code` (`nil`: not understood, query first).
    public func cancelOutcome() throws(ChannelError) -> CloseOutcome? {
        guard state == "SUCCESS" else {
            if code == "20007" { return .notFound }
            throw rejection()
        }
        switch code {
        case "10005", "10000":
            if tradeState == "FAIL" {
                throw ChannelError(.vendorRejected, "\(fields.context) refused: \(message)", vendorCode: code)
            }
            return .closed
        case "10004": return .alreadyClosed
        case "10002": return .alreadyPaid
        case "20007": return .notFound
        case "10006":
            throw ChannelError(.vendorRejected, "\(fields.context) refused: \(message)", vendorCode: code)
        default:
            return nil
        }
    }
}

/// storepos answers carry codes for paid / closed / not found (`parameters.md`), so only one
/// distinction rests on the message: a repeated `out_trade_no` has no code of its own.
public enum StorePOSMessages {
    public static let table = MessageTable([
        .init(
            "重复", .duplicate,
            source: "assumption: api/preorderpay.md@a844d82 asks out_trade_no to be 唯一 but publishes no duplicate code"),
        .init("已存在", .duplicate, source: "assumption: synonym of 重复"),
    ])

    static func recordUnmatched(_ message: String, api: String, logger: Logger) {
        VendorInstruments.shared.unmatchedMessage(channel: .storepos)
        logger.warning(
            "vendor message matches no known phrase; the order will be queried",
            metadata: [
                LogKey.channel: "storepos", LogKey.api: "\(api)", LogKey.vendorMessage: "\(message.prefix(200))",
            ])
    }
}
