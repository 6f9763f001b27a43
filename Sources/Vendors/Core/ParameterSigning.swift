import Crypto
import Foundation

/// The "sort the parameters, join them, append the key, digest" signature family that WeChat v2,
/// YunGouOS, 乐收赢 and storepos share, with the knobs in which they differ.
///
/// The vendors differ in small ways that matter: whether empty values take part, whether keys sort
/// case-sensitively, the digest and its hex case. Each vendor folder builds its own rule from these
/// knobs and pins it with known-answer tests.
public struct ParameterSigningRule: Sendable, Hashable {
    public enum EmptyValues: Sendable, Hashable {
        /// Empty values do not take part (WeChat v2, YunGouOS, storepos).
        case omit
        /// Empty strings take part as `k=` (乐收赢); only absent (null) parameters are left out.
        case include
    }

    public enum KeyOrder: Sendable, Hashable {
        /// Byte (ASCII) order, case-sensitive: `Z` sorts before `a`.
        case bytewise
        /// ASCII order ignoring case (storepos: "大小写不敏感，即A视为a"); ties fall back to byte order.
        case caseInsensitive
    }

    public enum Digest: Sendable, Hashable {
        case md5
        /// HMAC-SHA256 keyed with the API key over the string that already ends in `&key=KEY` (WeChat v2).
        case hmacSHA256
    }

    public enum HexCase: Sendable, Hashable {
        case upper
        case lower
    }

    public var emptyValues: EmptyValues
    public var keyOrder: KeyOrder
    public var digest: Digest
    public var hexCase: HexCase
    /// Parameter names that never take part (always `sign`).
    public var excluded: Set<String>

    public init(
        emptyValues: EmptyValues,
        keyOrder: KeyOrder,
        digest: Digest,
        hexCase: HexCase,
        excluded: Set<String> = ["sign"]
    ) {
        self.emptyValues = emptyValues
        self.keyOrder = keyOrder
        self.digest = digest
        self.hexCase = hexCase
        self.excluded = excluded
    }

    /// `k1=v1&k2=v2…` over the parameters that take part, in the rule's order; no URL-encoding.
    public func canonicalString(_ parameters: [String: String]) -> String {
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(parameters.count)
        for (name, value) in parameters where !excluded.contains(name) {
            if emptyValues == .omit && value.isEmpty { continue }
            pairs.append((name, value))
        }
        switch keyOrder {
        case .bytewise:
            pairs.sort { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        case .caseInsensitive:
            pairs.sort { lhs, rhs in
                let l = Array(lhs.0.lowercased().utf8)
                let r = Array(rhs.0.lowercased().utf8)
                if l != r { return l.lexicographicallyPrecedes(r) }
                return Array(lhs.0.utf8).lexicographicallyPrecedes(Array(rhs.0.utf8))
            }
        }
        var result = ""
        for (index, pair) in pairs.enumerated() {
            if index > 0 { result += "&" }
            result += pair.0
            result += "="
            result += pair.1
        }
        return result
    }

    /// The exact string that is digested: the canonical string, then `&key=KEY`.
    public func stringToSign(_ parameters: [String: String], key: Secret) -> String {
        canonicalString(parameters) + "&key=" + key.reveal()
    }

    /// The string to sign with the key masked, for operator output and logs.
    public func explain(_ parameters: [String: String], key: Secret) -> String {
        canonicalString(parameters) + "&key=" + key.masked
    }

    /// The signature of the parameters.
    public func sign(_ parameters: [String: String], key: Secret) -> String {
        let message = Data(stringToSign(parameters, key: key).utf8)
        let bytes: [UInt8]
        switch digest {
        case .md5:
            bytes = Array(Insecure.MD5.hash(data: message))
        case .hmacSHA256:
            let symmetric = SymmetricKey(data: Data(key.reveal().utf8))
            bytes = Array(HMAC<SHA256>.authenticationCode(for: message, using: symmetric))
        }
        return Hex.encode(bytes, uppercase: hexCase == .upper)
    }

    /// Whether `signature` is the signature of the parameters. Compares in constant time; hex case
    /// must match the rule's exactly.
    public func verify(_ parameters: [String: String], signature: String, key: Secret) -> Bool {
        let expected = sign(parameters, key: key)
        return ConstantTime.equals(expected, signature)
    }
}

/// Hex encoding.
public enum Hex {
    public static func encode<Bytes: Sequence>(_ bytes: Bytes, uppercase: Bool = false) -> String
    where Bytes.Element == UInt8 {
        let digits: [UInt8] = uppercase ? Array("0123456789ABCDEF".utf8) : Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Comparison that does not stop at the first difference, for signatures.
public enum ConstantTime {
    public static func equals(_ lhs: String, _ rhs: String) -> Bool {
        let l = Array(lhs.utf8)
        let r = Array(rhs.utf8)
        guard l.count == r.count else { return false }
        var difference: UInt8 = 0
        for index in l.indices { difference |= l[index] ^ r[index] }
        return difference == 0
    }
}
