import ArgumentParser
import Foundation
import Leshouying
import Payments
import StorePOS
import YunGouOS

/// `payfleet sign` and `payfleet verify-callback` for the aggregator channels (YunGouOS, 乐收赢, storepos).
enum AggregatorOperatorTools {
    /// The `--api` values each aggregator knows.
    static func apis(_ channel: ChannelID) -> [String] {
        switch channel {
        case .yungouos: YunGouOSSigning.API.allCases.map(\.rawValue)
        case .leshouying: LeshouyingSigning.API.allCases.map(\.rawValue)
        case .storepos: StorePOSSigning.API.allCases.map(\.rawValue)
        default: []
        }
    }

    /// Whether `channel` is one of the aggregators handled here.
    static func handles(_ channel: ChannelID) -> Bool {
        [.yungouos, .leshouying, .storepos].contains(channel)
    }

    /// Computes the signature for `api`, applying the vendor's field rules.
    static func sign(channel: ChannelID, api: String?, parameters: [String: String], key: Secret) throws -> OperatorSignature {
        let known = apis(channel)
        switch channel {
        case .yungouos:
            // YunGouOS signs a different fixed subset per API, so the API must be named.
            guard let api, let which = YunGouOSSigning.API(rawValue: api) else {
                throw ValidationError("yungouos needs --api, one of: \(known.joined(separator: ", "))")
            }
            return YunGouOSSigning.explain(parameters, api: which, key: key)
        case .leshouying:
            guard let which = LeshouyingSigning.API(rawValue: api ?? "minipay") else {
                throw ValidationError("leshouying --api must be one of: \(known.joined(separator: ", "))")
            }
            return LeshouyingSigning.explain(parameters, api: which, key: key)
        case .storepos:
            guard let which = StorePOSSigning.API(rawValue: api ?? "preorder") else {
                throw ValidationError("storepos --api must be one of: \(known.joined(separator: ", "))")
            }
            return StorePOSSigning.explain(parameters, api: which, key: key)
        default:
            throw ValidationError("\(channel) is not an aggregator channel")
        }
    }

    /// Prints the signature (and with `explain`, how it was computed, key masked).
    static func printSignature(channel: ChannelID, api: String?, parameters: [String: String], key: String, explain: Bool) throws {
        let result = try sign(channel: channel, api: api, parameters: parameters, key: Secret(key))
        if explain {
            print("api: \(result.api)")
            print("signed fields: \(result.signedFields.joined(separator: ","))")
            if !result.unsignedFields.isEmpty {
                print("not signed (sent as given): \(result.unsignedFields.joined(separator: ","))")
            }
            print("string to sign: \(result.explained)")
        }
        print(result.signature)
    }

    /// Verifies a captured callback body with `key`; prints its verdict and fields, or throws `ExitCode(1)`.
    static func verifyCallback(channel: ChannelID, body: [UInt8], key: String?) throws {
        guard let key, !key.isEmpty else {
            throw ValidationError("\(channel) needs --key (yungouos: the key of the paid channel; leshouying: the 机构密钥; storepos: the 商户密钥)")
        }
        let secret = Secret(key)
        let verified: VerifiedCallback
        do {
            switch channel {
            case .yungouos: verified = try YunGouOSCallback.verify(body) { _ in secret }
            case .leshouying: verified = try LeshouyingCallback.verify(body, key: secret)
            case .storepos: verified = try StorePOSCallback.verify(body, key: secret)
            default: throw ValidationError("\(channel) is not an aggregator channel")
            }
        } catch let error as CallbackError {
            FileHandle.standardError.write(Data("callback rejected: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print("out_trade_no: \(verified.outTradeNo)")
        print("status: \(describe(verified.status))")
        if let amount = verified.amount { print("amount_fen: \(amount.fen)") }
        if let merchant = verified.vendorMerchantID { print("vendor_merchant_id: \(merchant)") }
        for (name, value) in verified.fields.sorted(by: { $0.key < $1.key }) { print("\(name)=\(value)") }
    }

    static func describe(_ status: TradeStatus) -> String {
        switch status {
        case .succeeded(let payment): "succeeded (transaction \(payment.transactionID))"
        case .paying: "paying"
        case .notPaid: "not paid"
        case .closed: "closed"
        case .failed(let failure): "failed (\(failure.code): \(failure.message))"
        case .refunded(let payment): "refunded (transaction \(payment.transactionID))"
        case .notFound: "not found"
        }
    }
}
