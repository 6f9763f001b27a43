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
        String(decoding: canonicalBytes(parameters), as: UTF8.self)
    }

    /// The UTF-8 bytes of ``canonicalString(_:)``. Names are compared as bytes (the rule's order is
    /// byte order, so `String`'s Unicode-aware comparison would only cost time): each name's sort key
    /// (for a case-insensitive rule ASCII-lowercased; a non-ASCII name as `String.lowercased()` folds
    /// it) goes into one buffer, and the pairs' indices are sorted by `memcmp` over those keys.
    func canonicalBytes(_ parameters: [String: String], reservingExtra extra: Int = 0) -> [UInt8] {
        var names: [String] = []
        var values: [String] = []
        var spans: [Span] = []
        var keys: [UInt8] = []
        names.reserveCapacity(parameters.count)
        values.reserveCapacity(parameters.count)
        spans.reserveCapacity(parameters.count)
        keys.reserveCapacity(parameters.count * 16)
        var length = extra
        let onlyExcluded = excluded.count == 1 ? excluded.first : nil
        let fold = keyOrder == .caseInsensitive
        for (name, value) in parameters {
            if let onlyExcluded { if name == onlyExcluded { continue } } else if excluded.contains(name) { continue }
            if emptyValues == .omit && value.isEmpty { continue }
            let start = keys.count
            if fold {
                for byte in name.utf8 {
                    if byte >= 0x80 {
                        keys.removeSubrange(start...)
                        keys.append(contentsOf: name.lowercased().utf8)
                        break
                    }
                    keys.append(Self.lowercasedASCII(byte))
                }
            } else {
                keys.append(contentsOf: name.utf8)
            }
            spans.append(Span(start: start, count: keys.count - start))
            names.append(name)
            values.append(value)
            length += name.utf8.count + value.utf8.count + 2
        }
        var order = Array(names.indices)
        keys.withUnsafeBufferPointer { buffer in
            order.sort { left, right in
                let l = spans[left]
                let r = spans[right]
                let common = min(l.count, r.count)
                if common > 0, let base = buffer.baseAddress {
                    let compared = memcmp(base + l.start, base + r.start, common)
                    if compared != 0 { return compared < 0 }
                }
                if l.count != r.count { return l.count < r.count }
                // Equal keys: names equal ignoring case; byte order decides.
                return names[left].utf8.lexicographicallyPrecedes(names[right].utf8)
            }
        }
        var result: [UInt8] = []
        result.reserveCapacity(length)
        for (position, index) in order.enumerated() {
            if position > 0 { result.append(UInt8(ascii: "&")) }
            result.append(contentsOf: names[index].utf8)
            result.append(UInt8(ascii: "="))
            result.append(contentsOf: values[index].utf8)
        }
        return result
    }

    /// Where a name's sort key lies in the key buffer.
    private struct Span {
        var start: Int
        var count: Int
    }

    private static func lowercasedASCII(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
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
        let revealed = key.reveal()
        var message = canonicalBytes(parameters, reservingExtra: 5 + revealed.utf8.count)
        message.append(contentsOf: "&key=".utf8)
        message.append(contentsOf: revealed.utf8)
        switch digest {
        case .md5:
            return Hex.encode(Insecure.MD5.hash(data: message), uppercase: hexCase == .upper)
        case .hmacSHA256:
            let symmetric = SymmetricKey(data: Array(revealed.utf8))
            return Hex.encode(
                HMAC<SHA256>.authenticationCode(for: message, using: symmetric), uppercase: hexCase == .upper)
        }
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
        if let string = bytes.withContiguousStorageIfAvailable({
            encode(raw: UnsafeRawBufferPointer($0), uppercase: uppercase)
        }) {
            return string
        }
        return Array(bytes).withUnsafeBytes { encode(raw: $0, uppercase: uppercase) }
    }

    /// A digest's hex form, read from its bytes in place (a `Digest` is a `Sequence` without
    /// contiguous storage or a count, so the generic form would copy it and grow its output).
    public static func encode<D: Crypto.Digest>(_ digest: D, uppercase: Bool = false) -> String {
        digest.withUnsafeBytes { encode(raw: $0, uppercase: uppercase) }
    }

    /// An HMAC's hex form, read from its bytes in place.
    public static func encode<H: HashFunction>(_ code: HashedAuthenticationCode<H>, uppercase: Bool = false) -> String {
        code.withUnsafeBytes { encode(raw: $0, uppercase: uppercase) }
    }

    /// 32 hex digits of 128 random bits (`SystemRandomNumberGenerator`): the form of a UUID without
    /// its dashes, for nonces and trace numbers, without building a `UUID` and its string.
    public static func random128(uppercase: Bool) -> String {
        var generator = SystemRandomNumberGenerator()
        let words = (generator.next() as UInt64, generator.next() as UInt64)
        return withUnsafeBytes(of: words) { encode(raw: $0, uppercase: uppercase) }
    }

    /// Two digits per byte, written straight into the string's storage.
    public static func encode(raw bytes: UnsafeRawBufferPointer, uppercase: Bool) -> String {
        let digits: StaticString = uppercase ? "0123456789ABCDEF" : "0123456789abcdef"
        let table = digits.utf8Start
        return String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var position = 0
            for byte in bytes {
                out[position] = table[Int(byte >> 4)]
                out[position + 1] = table[Int(byte & 0x0F)]
                position += 2
            }
            return position
        }
    }
}

/// Comparison that does not stop at the first difference, for signatures.
public enum ConstantTime {
    public static func equals(_ lhs: String, _ rhs: String) -> Bool {
        var lhs = lhs
        var rhs = rhs
        return lhs.withUTF8 { l in
            rhs.withUTF8 { r in
                guard l.count == r.count else { return false }
                var difference: UInt8 = 0
                for index in 0..<l.count { difference |= l[index] ^ r[index] }
                return difference == 0
            }
        }
    }
}
