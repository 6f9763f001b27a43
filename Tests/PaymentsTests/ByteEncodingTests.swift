import Crypto
import Foundation
import Payments
import Testing

/// The byte-level encoders the vendor clients use on every call (hex digests, form bodies, the
/// signing rules' canonical string) checked against independent references: Foundation's percent
/// encoding, a digest's own bytes, and a straightforward sort with a case-folded key per name.
@Suite("Byte encoders against independent references")
struct ByteEncodingTests {
    /// Deterministic pseudo-random text over ASCII letters, digits, punctuation and some
    /// multi-byte characters.
    static func texts(count: Int, seed: UInt64) -> [String] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let alphabet = Array("AaBbZz09-._~ !*'();:@&=+$,/?#[]%\"<>\\^`{|}中文支付€😀\u{7F}\u{1}\t\n")
        return (0..<count).map { _ in
            String((0..<Int(next() % 24)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] })
        }
    }

    @Test("hex of a digest, an HMAC and an array agree with the bytes, in both cases")
    func hex() {
        let message = Array("payfleet".utf8)
        let digest = Insecure.MD5.hash(data: message)
        let bytes = Array(digest)
        let reference = bytes.map { String(format: "%02x", $0) }.joined()
        #expect(Hex.encode(digest) == reference)
        #expect(Hex.encode(digest, uppercase: true) == reference.uppercased())
        #expect(Hex.encode(bytes) == reference)
        #expect(Hex.encode(bytes.lazy.map { $0 }) == reference)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array("key".utf8)))
        #expect(Hex.encode(mac) == Array(mac).map { String(format: "%02x", $0) }.joined())
        #expect(Hex.encode([UInt8]()) == "")
    }

    @Test("form escaping matches Foundation's percent encoding with RFC 3986's unreserved set")
    func formEscaping() {
        var unreserved = CharacterSet()
        unreserved.insert(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        for text in Self.texts(count: 2000, seed: 7) {
            #expect(FormEncoding.escape(text) == text.addingPercentEncoding(withAllowedCharacters: unreserved))
        }
        let pairs = [("body", "支付 1+1=2"), ("a&b", "x/y"), ("", "")]
        #expect(FormEncoding.encode(pairs) == "body=%E6%94%AF%E4%BB%98%201%2B1%3D2&a%26b=x%2Fy&=")
        #expect(
            FormEncoding.decode(FormEncoding.encode(pairs.filter { !$0.0.isEmpty })) == [
                "body": "支付 1+1=2", "a&b": "x/y",
            ])
    }

    @Test("the case-insensitive canonical string sorts like a folded key per name, ties in byte order")
    func caseInsensitiveOrder() {
        let rule = ParameterSigningRule(
            emptyValues: .include, keyOrder: .caseInsensitive, digest: .md5, hexCase: .upper)
        let bytewise = ParameterSigningRule(emptyValues: .include, keyOrder: .bytewise, digest: .md5, hexCase: .upper)
        let names = [
            "a", "A", "b", "B", "ab", "aB", "Ab", "AB", "a_b", "a-b", "Z", "z", "_", "名", "Ä", "ä", "sign", "Sign",
        ]
        var state: UInt64 = 3
        for _ in 0..<300 {
            var parameters: [String: String] = [:]
            for name in names {
                state = state &* 6_364_136_223_846_793_005 &+ 1
                if state >> 62 != 0 { parameters[name] = "v\(state >> 60)" }
            }
            let kept = parameters.filter { $0.key != "sign" }
            let folded = kept.keys.sorted { lhs, rhs in
                let left = Array(lhs.lowercased().utf8)
                let right = Array(rhs.lowercased().utf8)
                if left != right { return left.lexicographicallyPrecedes(right) }
                return Array(lhs.utf8).lexicographicallyPrecedes(Array(rhs.utf8))
            }
            #expect(rule.canonicalString(parameters) == folded.map { "\($0)=\(kept[$0]!)" }.joined(separator: "&"))
            let bytes = kept.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            #expect(bytewise.canonicalString(parameters) == bytes.map { "\($0)=\(kept[$0]!)" }.joined(separator: "&"))
        }
    }

    @Test("random nonces: 32 hex digits in the asked case, no two alike")
    func randomNonces() {
        var seen = Set<String>()
        for uppercase in [true, false] {
            for _ in 0..<500 {
                let nonce = Hex.random128(uppercase: uppercase)
                let digits = uppercase ? "0123456789ABCDEF" : "0123456789abcdef"
                #expect(nonce.utf8.count == 32 && nonce.allSatisfy { digits.contains($0) }, "\(nonce)")
                #expect(seen.insert(nonce).inserted)
            }
        }
    }
}
