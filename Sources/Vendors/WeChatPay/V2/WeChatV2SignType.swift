import Payments

/// The two v2 signature algorithms (`sign_type`).
///
/// Both sign `k1=v1&…&key=API_KEY` over the non-empty parameters except `sign`, sorted by name in
/// byte order (`sign_type` itself takes part when it is sent). MD5 digests that string;
/// HMAC-SHA256 authenticates the same string — including the `&key=` suffix — keyed with the API key.
/// Both are upper-case hex. Source: pay.weixin.qq.com wiki `chapter=4_3`.
public enum WeChatV2SignType: String, Sendable, Hashable, CaseIterable {
    case md5 = "MD5"
    case hmacSHA256 = "HMAC-SHA256"

    /// Parses `MD5` / `HMAC-SHA256` (case-insensitive).
    public init?(name: String) {
        switch name.uppercased() {
        case "MD5": self = .md5
        case "HMAC-SHA256", "HMACSHA256", "HMAC_SHA256": self = .hmacSHA256
        default: return nil
        }
    }

    /// The parameter-signing rule of this algorithm.
    public var rule: ParameterSigningRule { self == .md5 ? Self.md5Rule : Self.hmacRule }

    private static let md5Rule = ParameterSigningRule(
        emptyValues: .omit, keyOrder: .bytewise, digest: .md5, hexCase: .upper)
    private static let hmacRule = ParameterSigningRule(
        emptyValues: .omit, keyOrder: .bytewise, digest: .hmacSHA256, hexCase: .upper)

    /// The signature of the parameters (`sign` is ignored if present).
    public func sign(_ parameters: [String: String], key: Secret) -> String {
        rule.sign(parameters, key: key)
    }

    /// The string that is digested, with the key masked (for operators).
    public func explain(_ parameters: [String: String], key: Secret) -> String {
        rule.explain(parameters, key: key)
    }

    /// Whether `parameters["sign"]` is this algorithm's signature of the other parameters.
    /// Accepts lower-case hex too (some gateways lower-case it); compares in constant time.
    public func verify(_ parameters: [String: String], key: Secret) -> Bool {
        guard let signature = parameters["sign"], !signature.isEmpty else { return false }
        return ConstantTime.equals(rule.sign(parameters, key: key), signature.uppercased())
    }

    /// The algorithm a received document was signed with: its `sign_type` field when present,
    /// otherwise by the length of `sign` (64 hex digits → HMAC-SHA256, else MD5), as the
    /// official PHP SDK decides.
    public static func of(_ parameters: [String: String]) -> WeChatV2SignType? {
        if let declared = parameters["sign_type"], !declared.isEmpty { return WeChatV2SignType(name: declared) }
        return parameters["sign"]?.utf8.count == 64 ? .hmacSHA256 : .md5
    }
}
