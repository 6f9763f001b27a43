import Crypto
import Foundation
import Payments
import _CryptoExtras

/// The `req_info` encryption of WeChat Pay v2 refund notifications (退款结果通知, chapter9_16):
/// base64 of AES-256-ECB with PKCS#7 padding, whose key is the 32 ASCII bytes of the lowercase hex
/// MD5 of the merchant's API key.
///
/// swift-crypto offers no ECB mode, so ECB is built here from the raw AES block permutation
/// (`AES.permute` / `AES.inversePermute` of `_CryptoExtras`), one 16-byte block at a time, which is
/// exactly what ECB is. The known-answer test decrypts a public SDK's sample (see `docs/merchants.md`).
public enum WeChatV2RefundCrypto {
    /// Why a `req_info` cannot be decrypted. Never contains key material or plaintext.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    static let blockSize = 16

    /// The AES-256 key: the lowercase hex MD5 of the API key, as 32 ASCII bytes.
    static func key(apiKey: Secret) -> SymmetricKey {
        let digest = Insecure.MD5.hash(data: Array(apiKey.reveal().utf8))
        return SymmetricKey(data: Array(Hex.encode(Array(digest), uppercase: false).utf8))
    }

    /// Decrypts a base64 `req_info` with the merchant's API key.
    public static func decrypt(reqInfo: String, apiKey: Secret) throws(Failure) -> [UInt8] {
        let compact = reqInfo.filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: compact) else { throw Failure(reason: "req_info is not base64") }
        let ciphertext = Array(data)
        guard !ciphertext.isEmpty, ciphertext.count % blockSize == 0 else {
            throw Failure(reason: "req_info is not a whole number of AES blocks")
        }
        let key = key(apiKey: apiKey)
        var plaintext: [UInt8] = []
        plaintext.reserveCapacity(ciphertext.count)
        var start = 0
        while start < ciphertext.count {
            var block = Array(ciphertext[start..<(start + blockSize)])
            do {
                try AES.inversePermute(&block, key: key)
            } catch {
                throw Failure(reason: "AES-256 block decryption failed")
            }
            plaintext += block
            start += blockSize
        }
        // PKCS#7: the last byte n (1...16) and the n last bytes all equal n. A wrong key fails here
        // (with overwhelming probability) or, rarely, in the XML decoding after it.
        guard let pad = plaintext.last, pad >= 1, Int(pad) <= blockSize,
            plaintext.suffix(Int(pad)).allSatisfy({ $0 == pad })
        else { throw Failure(reason: "req_info padding is wrong (wrong API key or tampered req_info)") }
        plaintext.removeLast(Int(pad))
        return plaintext
    }

    /// Encrypts `plaintext` as WeChat does (tests and operator tools).
    public static func encrypt(_ plaintext: [UInt8], apiKey: Secret) throws(Failure) -> String {
        let key = key(apiKey: apiKey)
        let pad = blockSize - plaintext.count % blockSize
        let padded = plaintext + [UInt8](repeating: UInt8(pad), count: pad)
        var ciphertext: [UInt8] = []
        ciphertext.reserveCapacity(padded.count)
        var start = 0
        while start < padded.count {
            var block = Array(padded[start..<(start + blockSize)])
            do {
                try AES.permute(&block, key: key)
            } catch {
                throw Failure(reason: "AES-256 block encryption failed")
            }
            ciphertext += block
            start += blockSize
        }
        return Data(ciphertext).base64EncodedString()
    }

    /// The fields of a decrypted `req_info` (`<root>…</root>`; `<xml>` is accepted too).
    public static func fields(reqInfo: String, apiKey: Secret) throws(CallbackError) -> [String: String] {
        let plaintext: [UInt8]
        do throws(Failure) {
            plaintext = try decrypt(reqInfo: reqInfo, apiKey: apiKey)
        } catch {
            throw CallbackError(.decryptionFailed, error.reason)
        }
        do throws(WeChatXML.DecodingError) {
            return try WeChatXML.decode(plaintext, root: "root")
        } catch {
            do throws(WeChatXML.DecodingError) {
                return try WeChatXML.decode(plaintext)
            } catch {
                throw CallbackError(.decryptionFailed, "decrypted req_info is not a WeChat XML document")
            }
        }
    }
}
