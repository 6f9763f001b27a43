import Foundation
import Payments

/// Wire shapes of the APIv3 combine (合单) API. Field names are WeChat's.
enum WeChatCombine {
    struct Amount: Codable, Hashable {
        var total_amount: Int64
        var currency: String?
        var payer_amount: Int64?
        var payer_currency: String?
    }

    struct SceneInfo: Codable, Hashable {
        var payer_client_ip: String
        var device_id: String?
    }

    /// One sub-order of a combine create.
    struct CreateSubOrder: Codable, Hashable {
        var mchid: String
        var attach: String
        var amount: Amount
        var out_trade_no: String
        var description: String
    }

    struct CreateRequest: Codable {
        var combine_appid: String
        var combine_mchid: String
        var combine_out_trade_no: String
        var scene_info: SceneInfo
        var sub_orders: [CreateSubOrder]
        var time_start: String?
        var time_expire: String?
        var notify_url: String
    }

    struct CreateResponse: Codable {
        var code_url: String
    }

    struct CloseSubOrder: Codable, Hashable {
        var mchid: String
        var out_trade_no: String
    }

    struct CloseRequest: Codable {
        var combine_appid: String
        var sub_orders: [CloseSubOrder]
    }

    struct PayerInfo: Codable, Hashable {
        var openid: String?
    }

    /// A sub-order as query answers and notifications report it.
    struct SubOrderState: Codable, Hashable {
        var mchid: String
        var trade_type: String?
        var trade_state: String
        var bank_type: String?
        var attach: String?
        var success_time: String?
        var transaction_id: String?
        var out_trade_no: String
        var sub_mchid: String?
        var amount: Amount
    }

    /// The combine query answer, and the decrypted resource of a combine notification.
    struct Result: Codable {
        var combine_appid: String?
        var combine_mchid: String
        var combine_out_trade_no: String
        var scene_info: SceneInfo?
        var combine_payer_info: PayerInfo?
        var sub_orders: [SubOrderState]
    }

    /// An APIv3 error answer.
    struct ErrorBody: Codable {
        var code: String
        var message: String?
    }

    struct Resource: Codable {
        var original_type: String?
        var algorithm: String
        var ciphertext: String
        var associated_data: String?
        var nonce: String
    }

    /// A notification envelope.
    struct Notification: Codable {
        var id: String
        var create_time: String?
        var event_type: String
        var resource_type: String?
        var summary: String?
        var resource: Resource
    }

    struct BillTicket: Codable {
        var hash_type: String
        var hash_value: String
        var download_url: String
    }

    struct EncryptedCertificate: Codable {
        var algorithm: String
        var nonce: String
        var associated_data: String?
        var ciphertext: String
    }

    struct CertificateEntry: Codable {
        var serial_no: String
        var effective_time: String?
        var expire_time: String?
        var encrypt_certificate: EncryptedCertificate
    }

    struct CertificateList: Codable {
        var data: [CertificateEntry]
    }

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

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(bytes))
    }

    /// The order's state from its sub-orders: paid only when every sub-order is SUCCESS.
    static func status(of result: Result) throws(ChannelError) -> TradeStatus {
        let states = result.sub_orders.map(\.trade_state)
        guard !states.isEmpty else { throw .badResponse("combine answer without sub_orders") }
        let known: Set<String> = ["SUCCESS", "REFUND", "NOTPAY", "CLOSED", "REVOKED", "USERPAYING", "PAYERROR", "ACCEPT"]
        for state in states where !known.contains(state) {
            throw .badResponse("unknown sub-order trade_state \(state.prefix(32))")
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

    /// The sum of the sub-order amounts; `nil` when one is negative or the sum overflows (a signed
    /// answer can still carry any 64-bit number).
    static func total(of result: Result) -> Int64? {
        var total: Int64 = 0
        for sub in result.sub_orders {
            guard sub.amount.total_amount >= 0 else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(sub.amount.total_amount)
            guard !overflow else { return nil }
            total = sum
        }
        return total
    }

    static func details(of result: Result) throws(ChannelError) -> PaymentDetails {
        guard let total = total(of: result) else { throw .badResponse("sub-order amounts are negative or their sum overflows") }
        var subPayments: [SubPayment] = []
        var transactionIDs: [String] = []
        var paidAt: Date?
        for sub in result.sub_orders {
            if let id = sub.transaction_id, !id.isEmpty { transactionIDs.append(id) }
            if let time = sub.success_time.flatMap(ChinaTime.parseRFC3339) {
                paidAt = max(paidAt ?? time, time)
            }
            subPayments.append(SubPayment(
                outTradeNo: sub.out_trade_no, vendorMerchantID: sub.mchid, transactionID: sub.transaction_id,
                amount: Money(fen: sub.amount.total_amount), tradeState: sub.trade_state
            ))
        }
        guard transactionIDs.count == result.sub_orders.count else {
            throw .badResponse("paid sub-order without transaction_id")
        }
        return PaymentDetails(
            transactionID: transactionIDs.sorted().joined(separator: ","), amount: Money(fen: total), paidAt: paidAt,
            vendorMerchantID: result.combine_mchid, subPayments: subPayments
        )
    }
}
