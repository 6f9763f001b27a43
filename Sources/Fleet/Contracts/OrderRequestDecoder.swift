import Foundation
import Payments

/// Decodes and structurally validates the value of an order request.
///
/// Every failure is a ``RequestRejection`` whose reason is a bounded machine word and whose detail
/// names the field and the problem (`amount_fen must be a positive integer number of fen`), so the
/// dead-letter record and the `request.rejected` event tell upstream exactly what to fix.
public struct OrderRequestDecoder: Sendable {
    /// Largest accepted amount (100 million yuan); vendors apply their own lower limits.
    public var maximumAmount: Money = Money(fen: 10_000_000_000)
    /// Longest accepted `out_trade_no` (vendors apply their own, shorter limits).
    public var maximumOutTradeNoLength = 64

    public init() {}

    /// Decodes `value` (the record value) read with record key `key`.
    ///
    /// - Parameters:
    ///   - value: the record value; `nil` (a tombstone) is rejected with ``RejectionReason/nullValue``.
    ///   - key: the record key, which must equal `out_trade_no` (the partitioning depends on it).
    public func decode(value: Data?, key: String?) -> Result<OrderRequest, RequestRejection> {
        guard let value else {
            return .failure(
                RequestRejection(
                    reason: .nullValue,
                    detail: "the record has no value (tombstone); an order request must be a JSON object",
                    outTradeNo: key, contentDigest: ContentDigest.sha256Hex("null|\(key ?? "")")))
        }
        let rawDigest = ContentDigest.sha256Hex(value)
        let json: JSONValue
        do {
            json = try JSONValue.parse(value)
        } catch {
            return .failure(
                RequestRejection(
                    reason: .malformedJSON, detail: "the value is not valid JSON (\(value.count) bytes)",
                    outTradeNo: key, contentDigest: rawDigest))
        }
        guard case .object(let object) = json else {
            return .failure(
                RequestRejection(
                    reason: .notAnObject, detail: "the value must be a JSON object, got \(Self.kind(json))",
                    outTradeNo: key, contentDigest: rawDigest))
        }
        var fields = Fields(object: object, digest: ContentDigest.canonical(json))
        do throws(RequestRejection) {
            return .success(try decode(&fields, key: key))
        } catch {
            return .failure(error)
        }
    }

    private func decode(_ fields: inout Fields, key: String?) throws(RequestRejection) -> OrderRequest {
        // Read what identifies the order first, so later rejections can name it.
        fields.outTradeNo = try? fields.optionalString("out_trade_no")
        fields.merchant = try? fields.optionalString("merchant")
        fields.channelText = try? fields.optionalString("channel")
        fields.actionText = try? fields.optionalString("action")

        let actionText = try fields.requiredString("action")
        guard let action = OrderRequest.Action(rawValue: actionText) else {
            throw fields.reject(
                .unknownAction, "action must be one of create, close, query, refund; got \"\(Self.clip(actionText))\"")
        }
        let outTradeNo = try fields.requiredString("out_trade_no")
        guard outTradeNo.utf8.count <= maximumOutTradeNoLength else {
            throw fields.reject(.invalidField, "out_trade_no must be at most \(maximumOutTradeNoLength) bytes")
        }
        guard outTradeNo.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw fields.reject(.invalidField, "out_trade_no must be printable ASCII without spaces")
        }
        guard let key, key == outTradeNo else {
            let shown = key.map { "\"\(Self.clip($0))\"" } ?? "absent"
            throw fields.reject(
                .keyMismatch,
                "the record key (\(shown)) must equal out_trade_no so the order's messages share a partition")
        }
        let merchant = try fields.requiredString("merchant")
        let channelText = try fields.requiredString("channel")
        guard let channel = ChannelID(rawValue: channelText) else {
            throw fields.reject(
                .unknownChannel,
                "channel must be one of \(ChannelID.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(Self.clip(channelText))\""
            )
        }

        let amount = try fields.amount(
            "amount_fen", maximum: maximumAmount, required: action == .create || action == .refund)
        let description = try fields.optionalString("description")
        if action == .create, description?.isEmpty ?? true {
            throw fields.reject(.missingField, "description is required for create")
        }
        let attach = try fields.optionalString("attach")
        let clientIP = try fields.optionalString("client_ip")
        var expiresAt: Date?
        if let text = try fields.optionalString("expires_at") {
            guard let date = RFC3339.parse(text) else {
                throw fields.reject(
                    .badExpiry, "expires_at must be an RFC 3339 timestamp, e.g. 2026-11-22T10:30:00+08:00")
            }
            expiresAt = date
        }
        var options: [String: JSONValue] = [:]
        switch fields.object["options"] {
        case nil, .null?: break
        case .object(let value)?: options = value
        case let other?: throw fields.reject(.invalidField, "options must be a JSON object, got \(Self.kind(other))")
        }
        if action == .create {
            try validateSubOrders(options["sub_orders"], channel: channel, total: amount, fields: fields)
        }
        var refund: OrderRequest.Refund?
        if action == .refund {
            refund = try refundFields(fields, channel: channel, amount: amount, options: options)
        }
        return OrderRequest(
            action: action, outTradeNo: outTradeNo, merchant: merchant, channel: channel, amount: amount,
            description: description, attach: attach, expiresAt: expiresAt, clientIP: clientIP, options: options,
            contentDigest: fields.digest, refund: refund)
    }

    /// Longest accepted `out_refund_no` (vendors apply their own, shorter limits).
    public static let maximumOutRefundNoLength = 64
    /// Longest accepted refund `reason` in characters (WeChat's `reason` takes 80).
    public static let maximumRefundReasonLength = 80

    /// `out_refund_no`, `reason` and (wechat-v3-combine) `options.sub_orders: [{"out_trade_no","amount_fen"}]`.
    private func refundFields(
        _ fields: Fields, channel: ChannelID, amount: Money?, options: [String: JSONValue]
    ) throws(RequestRejection) -> OrderRequest.Refund {
        let outRefundNo = try fields.requiredString("out_refund_no")
        guard outRefundNo.utf8.count <= Self.maximumOutRefundNoLength else {
            throw fields.reject(.invalidField, "out_refund_no must be at most \(Self.maximumOutRefundNoLength) bytes")
        }
        guard outRefundNo.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw fields.reject(.invalidField, "out_refund_no must be printable ASCII without spaces")
        }
        let reason = try fields.optionalString("reason")
        if let reason, reason.count > Self.maximumRefundReasonLength {
            throw fields.reject(
                .invalidField, "reason must be at most \(Self.maximumRefundReasonLength) characters")
        }
        var subOrders: [OrderRequest.Refund.SubOrder] = []
        switch options["sub_orders"] {
        case nil, .null?:
            break
        case .array(let items)? where channel == .wechatV3Combine && !items.isEmpty:
            var seen: Set<String> = []
            var sum: Int64 = 0
            for (index, item) in items.enumerated() {
                let path = "options.sub_orders[\(index)]"
                guard case .object(let sub) = item else {
                    throw fields.reject(.subOrdersMismatch, "\(path) must be an object")
                }
                guard let number = sub["out_trade_no"]?.stringValue, !number.isEmpty else {
                    throw fields.reject(.subOrdersMismatch, "\(path).out_trade_no is required (a string)")
                }
                guard seen.insert(number).inserted else {
                    throw fields.reject(.subOrdersMismatch, "\(path).out_trade_no repeats an earlier sub-order")
                }
                guard let fen = sub["amount_fen"]?.integerValue, fen > 0, fen <= maximumAmount.fen else {
                    throw fields.reject(
                        .subOrdersMismatch, "\(path).amount_fen must be a positive integer number of fen")
                }
                sum += fen
                subOrders.append(.init(outTradeNo: number, amount: Money(fen: fen)))
            }
            if let amount, sum != amount.fen {
                throw fields.reject(
                    .subOrdersMismatch,
                    "options.sub_orders amounts sum to \(sum) fen but the refund amount_fen is \(amount.fen)")
            }
        case _ where channel != .wechatV3Combine:
            throw fields.reject(.invalidField, "options.sub_orders is only valid for channel wechat-v3-combine")
        default:
            throw fields.reject(.subOrdersMismatch, "options.sub_orders must be a non-empty array")
        }
        return OrderRequest.Refund(outRefundNo: outRefundNo, reason: reason, subOrders: subOrders)
    }

    private func validateSubOrders(
        _ value: JSONValue?, channel: ChannelID, total: Money?, fields: Fields
    ) throws(RequestRejection) {
        guard channel == .wechatV3Combine else {
            if let value, value != .null {
                throw fields.reject(.invalidField, "options.sub_orders is only valid for channel wechat-v3-combine")
            }
            return
        }
        guard let value, value != .null else {
            throw fields.reject(.missingField, "options.sub_orders is required for channel wechat-v3-combine")
        }
        guard case .array(let items) = value, !items.isEmpty else {
            throw fields.reject(.subOrdersMismatch, "options.sub_orders must be a non-empty array")
        }
        var sum: Int64 = 0
        var seen: Set<String> = []
        for (index, item) in items.enumerated() {
            let path = "options.sub_orders[\(index)]"
            guard case .object(let sub) = item else {
                throw fields.reject(.subOrdersMismatch, "\(path) must be an object")
            }
            guard let number = sub["out_trade_no"]?.stringValue, !number.isEmpty else {
                throw fields.reject(.subOrdersMismatch, "\(path).out_trade_no is required (a string)")
            }
            guard seen.insert(number).inserted else {
                throw fields.reject(.subOrdersMismatch, "\(path).out_trade_no repeats an earlier sub-order")
            }
            guard let fen = sub["amount_fen"]?.integerValue, fen > 0, fen <= maximumAmount.fen else {
                throw fields.reject(.subOrdersMismatch, "\(path).amount_fen must be a positive integer number of fen")
            }
            guard let text = sub["description"]?.stringValue, !text.isEmpty else {
                throw fields.reject(.subOrdersMismatch, "\(path).description is required (a string)")
            }
            sum += fen
        }
        if let total, sum != total.fen {
            throw fields.reject(
                .subOrdersMismatch, "options.sub_orders amounts sum to \(sum) fen but amount_fen is \(total.fen)")
        }
    }

    /// A short, bounded rendering of user input for error details.
    static func clip(_ text: String) -> String {
        let clean = String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
        return clean.count > 40 ? String(clean.prefix(40)) + "…" : clean
    }

    static func kind(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number, .integer: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The fields of one request and what has been read of its identity so far.
    private struct Fields {
        var object: [String: JSONValue]
        var digest: String
        var outTradeNo: String?
        var merchant: String?
        var channelText: String?
        var actionText: String?

        init(object: [String: JSONValue], digest: String) {
            self.object = object
            self.digest = digest
        }

        func reject(_ reason: RejectionReason, _ detail: String) -> RequestRejection {
            RequestRejection(
                reason: reason, detail: detail, outTradeNo: outTradeNo, merchant: merchant, channel: channelText,
                action: actionText, contentDigest: digest)
        }

        func optionalString(_ name: String) throws(RequestRejection) -> String? {
            switch object[name] {
            case nil, .null?: return nil
            case .string(let value)?: return value
            case let other?:
                throw reject(.invalidField, "\(name) must be a string, got \(OrderRequestDecoder.kind(other))")
            }
        }

        func requiredString(_ name: String) throws(RequestRejection) -> String {
            guard let value = try optionalString(name) else {
                throw reject(.missingField, "\(name) is required")
            }
            guard !value.isEmpty else { throw reject(.missingField, "\(name) must not be empty") }
            return value
        }

        func amount(_ name: String, maximum: Money, required: Bool) throws(RequestRejection) -> Money? {
            switch object[name] {
            case nil, .null?:
                if required { throw reject(.missingField, "\(name) is required") }
                return nil
            case .integer(let fen)?:
                guard fen > 0 else {
                    throw reject(.badAmount, "\(name) must be a positive integer number of fen, got \(fen)")
                }
                guard fen <= maximum.fen else {
                    throw reject(.badAmount, "\(name) must be at most \(maximum.fen) fen, got \(fen)")
                }
                return Money(fen: fen)
            case .number(let value)?:
                throw reject(.badAmount, "\(name) must be an integer number of fen (no decimals), got \(value)")
            case let other?:
                throw reject(
                    .badAmount, "\(name) must be an integer number of fen, got \(OrderRequestDecoder.kind(other))")
            }
        }
    }
}
