import Foundation
import Payments

/// 乐收赢's signature: every non-null parameter except `sign` — empty strings included, as `k=` —
/// sorted bytewise, joined `k=v&…`, `&key=<机构密钥>` appended, MD5 of the UTF-8 string, lowercase hex.
///
/// Requests, responses and callbacks all use it. JSON numbers are signed as their text
/// (`900075` → `inst_no=900075`), booleans as `true`/`false`; nested objects or arrays (which no
/// source covers and PayFleet never sends) are signed as their compact JSON text with sorted keys.
public enum LeshouyingSigning {
    /// The APIs `payfleet sign --channel leshouying` knows. All of them sign every parameter.
    public enum API: String, Sendable, CaseIterable {
        case minipay
        case query
        case close
        case notify
        /// A vendor response (verified the same way).
        case response
    }

    /// The rule.
    public static let rule = ParameterSigningRule(
        emptyValues: .include, keyOrder: .bytewise, digest: .md5, hexCase: .lower)

    /// The signature, lowercase hex unless `uppercase` (merchant setting `sign_case: upper`).
    public static func sign(_ parameters: [String: String], key: Secret, uppercase: Bool = false) -> String {
        let signature = rule.sign(parameters, key: key)
        return uppercase ? signature.uppercased() : signature
    }

    /// Constant-time check that compares the hex digests without regard to case: the documents
    /// show lowercase, but nothing promises it, and a digest is the same number in either case.
    public static func verify(_ parameters: [String: String], signature: String, key: Secret) -> Bool {
        ConstantTime.equals(rule.sign(parameters, key: key), signature.lowercased())
    }

    /// The operator view of a signature.
    public static func explain(_ parameters: [String: String], api: API, key: Secret) -> OperatorSignature {
        OperatorSignature(
            api: api.rawValue,
            signedFields: parameters.keys.filter { $0 != "sign" }.sorted {
                Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8))
            },
            unsignedFields: [],
            explained: rule.explain(parameters, key: key),
            signature: rule.sign(parameters, key: key)
        )
    }

    /// The signable text form of a JSON object's members: `null` members are left out.
    public static func flatten(_ object: [String: JSONValue]) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in object {
            if let text = text(value) { result[name] = text }
        }
        return result
    }

    /// A JSON value as signed text; `nil` for `null` (the shared answer-field rule: numbers in
    /// their shortest integral form, arrays and objects as sorted-key JSON).
    public static func text(_ value: JSONValue) -> String? {
        AnswerFields.text(value)
    }

    /// Parses a JSON object body; `nil` when it is not one.
    public static func object(_ body: [UInt8]) -> [String: JSONValue]? {
        AnswerFields.object(body)
    }

    /// The JSON body of a request: every value a string, UTF-8, slashes unescaped.
    static func body(_ parameters: [String: String]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(parameters)) ?? Data("{}".utf8))
    }
}
