import Foundation
import Payments

/// Wire shapes of the APIv3 combine (合单) API. Field names are WeChat's.
///
/// Requests and answers are separate types on purpose: a request carries what WeChat requires us
/// to send (`scene_info.payer_client_ip`), an answer only what PayFleet reads from WeChat. Answer
/// types require the members PayFleet uses, make everything else optional and ignore members they
/// do not know, so WeChat adding `promotion_detail`, `sub_appid`, `trade_state_desc`, … or sending
/// `scene_info` with only `device_id` never breaks decoding. Sources: the combine query and
/// payment-notice pages (https://pay.weixin.qq.com/docs/merchant/apis/combine-payment/orders/query-order.html,
/// …/payment-notice.html) and the public SDK answer models (essensoft/paylink
/// `CombineSceneInfoResponse` = `{device_id}`; SKIT.FlurlHttpClient.Wechat test samples).
enum WeChatCombine {
    // MARK: Requests (what PayFleet sends)

    struct RequestAmount: Encodable, Hashable {
        var total_amount: Int64
        var currency: String
    }

    /// `scene_info` of the create request: `payer_client_ip` is required there (and only there).
    struct RequestSceneInfo: Encodable, Hashable {
        var payer_client_ip: String
        var device_id: String?
    }

    /// One sub-order of a combine create.
    struct CreateSubOrder: Encodable, Hashable {
        var mchid: String
        var attach: String
        var amount: RequestAmount
        var out_trade_no: String
        var description: String
    }

    struct CreateRequest: Encodable {
        var combine_appid: String
        var combine_mchid: String
        var combine_out_trade_no: String
        var scene_info: RequestSceneInfo
        var sub_orders: [CreateSubOrder]
        var time_start: String?
        var time_expire: String?
        var notify_url: String
    }

    struct CloseSubOrder: Encodable, Hashable {
        var mchid: String
        var out_trade_no: String
    }

    struct CloseRequest: Encodable {
        var combine_appid: String
        var sub_orders: [CloseSubOrder]
    }

    // MARK: Answers (what PayFleet reads)

    /// The create answer: `{"code_url": …}` (Native).
    struct CreateAnswer: Decodable {
        var code_url: String
    }

    /// `amount` of a sub-order in an answer. Only `total_amount` is read, and only for sub-orders
    /// that were paid (see ``details(of:)``); `payer_amount`, `currency`, `settlement_rate`, … are ignored.
    struct AnswerAmount: Decodable, Hashable {
        var total_amount: Int64?
    }

    /// A sub-order as query answers and notifications report it.
    struct SubOrderState: Decodable, Hashable {
        var mchid: String
        var trade_state: String
        var out_trade_no: String
        var amount: AnswerAmount?
        var transaction_id: String?
        var success_time: String?
    }

    /// The combine query answer, and the decrypted resource of a combine notification.
    ///
    /// `scene_info`, `combine_payer_info`, `promotion_detail`, `trade_type`, `bank_type`, `attach`,
    /// `sub_mchid`, … are not read at all, so any documented subset of them (or none) decodes.
    struct Result: Decodable {
        var combine_appid: String?
        var combine_mchid: String
        var combine_out_trade_no: String
        var sub_orders: [SubOrderState]
    }

    /// An APIv3 error answer.
    struct ErrorBody: Decodable {
        var code: String
        var message: String?
    }

    /// An `AEAD_AES_256_GCM` encrypted object: a notification's `resource`, a platform certificate.
    struct EncryptedResource: Decodable {
        /// Always present in a notification's resource; certificate entries may leave it out.
        var algorithm: String?
        var ciphertext: String
        var associated_data: String?
        var nonce: String
        /// `transaction` or `refund` in notifications; not read except to tell a refund notification
        /// without `event_type`.
        var original_type: String?

        /// The plaintext, decrypted with the APIv3 key.
        func decrypt(apiV3Key: Secret) throws(WeChatV3Crypto.Failure) -> [UInt8] {
            try WeChatV3Crypto.decrypt(
                apiV3Key: apiV3Key, nonce: nonce, associatedData: associated_data ?? "", ciphertextBase64: ciphertext
            )
        }
    }

    /// A notification envelope. `create_time`, `resource_type`, `summary`, `original_type` are not read.
    struct Notification: Decodable {
        var id: String?
        var event_type: String?
        var resource: EncryptedResource
    }

    struct BillTicket: Decodable {
        var hash_type: String
        var hash_value: String
        var download_url: String
    }

    struct CertificateEntry: Decodable {
        var serial_no: String
        var encrypt_certificate: EncryptedResource
    }

    struct CertificateList: Decodable {
        var data: [CertificateEntry]
    }

    // MARK: Coding

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func encode(_ value: some Encodable) throws(ChannelError) -> [UInt8] {
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw .invalidRequest("request cannot be encoded as JSON")
        }
    }

    /// Decodes when it can (error bodies, where a failure falls back to the HTTP status).
    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(bytes))
    }

    /// Decodes a WeChat answer; a member PayFleet needs and does not get is an error naming it.
    static func decodeAnswer<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws(AnswerError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            throw AnswerError(error)
        } catch {
            throw AnswerError(field: nil, reason: "is not JSON")
        }
    }

    /// Why an answer does not carry what PayFleet needs: the member (`sub_orders[1].out_trade_no`)
    /// and what is wrong with it. Never contains values.
    struct AnswerError: Error, Hashable, CustomStringConvertible {
        var field: String?
        var reason: String

        init(field: String?, reason: String) {
            self.field = field
            self.reason = reason
        }

        init(_ error: DecodingError) {
            switch error {
            case .keyNotFound(let key, let context):
                self.init(field: Self.path(context.codingPath + [key]), reason: "is missing")
            case .valueNotFound(_, let context):
                self.init(field: Self.path(context.codingPath), reason: "is null")
            case .typeMismatch(_, let context):
                self.init(field: Self.path(context.codingPath), reason: "has the wrong type")
            case .dataCorrupted(let context):
                if context.codingPath.isEmpty {
                    self.init(field: nil, reason: "is not JSON")
                } else {
                    self.init(field: Self.path(context.codingPath), reason: "is not valid")
                }
            @unknown default:
                self.init(field: nil, reason: "cannot be decoded")
            }
        }

        static func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let index = key.intValue {
                    out += "[\(index)]"
                } else {
                    out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return out.isEmpty ? "(root)" : out
        }

        /// "field sub_orders[0].mchid is missing" / "is not JSON".
        var description: String {
            if let field { return "field \(field) \(reason)" }
            return reason
        }
    }

    // MARK: Interpretation

    /// The order's state from its sub-orders: paid only when every sub-order is SUCCESS.
    static func status(of result: Result) throws(ChannelError) -> TradeStatus {
        let states = result.sub_orders.map(\.trade_state)
        guard !states.isEmpty else { throw .badResponse("combine answer: field sub_orders is empty") }
        let known: Set<String> = [
            "SUCCESS", "REFUND", "NOTPAY", "CLOSED", "REVOKED", "USERPAYING", "PAYERROR", "ACCEPT",
        ]
        for (index, state) in states.enumerated() where !known.contains(state) {
            throw .badResponse(
                "combine answer: field sub_orders[\(index)].trade_state has an unknown value \(state.prefix(32))")
        }
        if states.allSatisfy({ $0 == "SUCCESS" }) { return .succeeded(try details(of: result)) }
        if states.allSatisfy({ $0 == "SUCCESS" || $0 == "REFUND" }) { return .refunded(try details(of: result)) }
        if states.contains("PAYERROR") {
            return .failed(VendorFailure(code: "PAYERROR", message: "a sub-order failed to pay"))
        }
        if states.contains(where: { $0 == "SUCCESS" || $0 == "REFUND" || $0 == "USERPAYING" || $0 == "ACCEPT" }) {
            // Sub-orders of one combine payment settle together; a mix is transient. Query again.
            return .paying
        }
        if states.allSatisfy({ $0 == "CLOSED" || $0 == "REVOKED" }) { return .closed }
        if states.allSatisfy({ $0 == "NOTPAY" }) { return .notPaid }
        // NOTPAY mixed with CLOSED: a close is in progress.
        return .notPaid
    }

    /// The payment of a paid combine order: every sub-order must carry its `amount.total_amount`
    /// and `transaction_id` (the fields a paid sub-order always has, and the ones PayFleet checks).
    static func details(of result: Result) throws(ChannelError) -> PaymentDetails {
        var total: Int64 = 0
        var subPayments: [SubPayment] = []
        var transactionIDs: [String] = []
        var paidAt: Date?
        for (index, sub) in result.sub_orders.enumerated() {
            guard let amount = sub.amount?.total_amount else {
                throw .badResponse("combine answer: field sub_orders[\(index)].amount.total_amount is missing")
            }
            guard amount >= 0 else {
                throw .badResponse("combine answer: field sub_orders[\(index)].amount.total_amount is negative")
            }
            guard let id = sub.transaction_id, !id.isEmpty else {
                throw .badResponse("combine answer: field sub_orders[\(index)].transaction_id is missing")
            }
            let (sum, overflow) = total.addingReportingOverflow(amount)
            guard !overflow else { throw .badResponse("combine answer: sub-order amounts overflow") }
            total = sum
            transactionIDs.append(id)
            if let time = sub.success_time.flatMap(ChinaTime.parseRFC3339) {
                paidAt = max(paidAt ?? time, time)
            }
            subPayments.append(
                SubPayment(
                    outTradeNo: sub.out_trade_no, vendorMerchantID: sub.mchid, transactionID: id,
                    amount: Money(fen: amount), tradeState: sub.trade_state
                ))
        }
        return PaymentDetails(
            transactionID: transactionIDs.sorted().joined(separator: ","), amount: Money(fen: total), paidAt: paidAt,
            vendorMerchantID: result.combine_mchid, subPayments: subPayments
        )
    }

    /// The total of the sub-orders' `amount.total_amount`, when every sub-order reports one.
    static func reportedTotal(of result: Result) -> Money? {
        var total: Int64 = 0
        for sub in result.sub_orders {
            guard let amount = sub.amount?.total_amount else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(amount)
            guard !overflow else { return nil }
            total = sum
        }
        return Money(fen: total)
    }
}
