import Foundation
import Payments

/// storepos (超赢) v2 signature: the non-empty parameters except `sign`, keys sorted ASCII
/// **case-insensitively** ("大小写不敏感，即A视为a"), joined `k=v&…`, `&key=<商户密钥>` appended,
/// MD5, uppercase hex (`rules.md` 协议规则). Requests, responses and callbacks use it.
public enum StorePOSSigning {
    /// The APIs `payfleet sign --channel storepos` knows. All sign every non-empty parameter.
    public enum API: String, Sendable, CaseIterable {
        case preorder
        case query = "orderquery"
        case cancel
        case notify
        case response
    }

    public static let rule = ParameterSigningRule(
        emptyValues: .omit, keyOrder: .caseInsensitive, digest: .md5, hexCase: .upper)

    public static func sign(_ parameters: [String: String], key: Secret) -> String {
        rule.sign(parameters, key: key)
    }

    /// Constant-time check; the hex digest is compared without regard to case.
    public static func verify(_ parameters: [String: String], signature: String, key: Secret) -> Bool {
        ConstantTime.equals(rule.sign(parameters, key: key), signature.uppercased())
    }

    /// The operator view of a signature.
    public static func explain(_ parameters: [String: String], api: API, key: Secret) -> OperatorSignature {
        let signed = parameters.filter { $0.key != "sign" && !$0.value.isEmpty }
        let order = signed.keys.sorted { lhs, rhs in
            let l = Array(lhs.lowercased().utf8)
            let r = Array(rhs.lowercased().utf8)
            return l != r ? l.lexicographicallyPrecedes(r) : Array(lhs.utf8).lexicographicallyPrecedes(Array(rhs.utf8))
        }
        return OperatorSignature(
            api: api.rawValue,
            signedFields: order,
            unsignedFields: parameters.filter { $0.key != "sign" && $0.value.isEmpty }.keys.sorted(),
            explained: rule.explain(parameters, key: key),
            signature: rule.sign(parameters, key: key)
        )
    }

    /// A JSON answer's members as signed text (`null` left out, numbers as their text).
    public static func flatten(_ object: [String: JSONValue]) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in object {
            switch value {
            case .null: continue
            case .string(let text): result[name] = text
            case .integer(let number): result[name] = String(number)
            case .number(let number):
                result[name] = number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
            case .bool(let flag): result[name] = flag ? "true" : "false"
            case .array, .object:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                if let data = try? encoder.encode(value) { result[name] = String(decoding: data, as: UTF8.self) }
            }
        }
        return result
    }
}
