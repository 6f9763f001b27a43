import Foundation
import Payments
import _CryptoExtras

/// What `payfleet sign` and `payfleet verify-callback` need from the WeChat clients, with explicit
/// keys and clock so an operator can check a captured request or replay an old callback.
public enum WeChatOperatorTools {
    /// The v2 signature of `parameters`, and the string that was signed with the key masked.
    public static func signV2(
        _ parameters: [String: String], key: Secret, signType: WeChatV2SignType
    ) -> (signature: String, explained: String) {
        (signType.sign(parameters, key: key), signType.explain(parameters, key: key))
    }

    /// Verifies a v2 XML notification with the API key and returns its fields. A refund
    /// notification (unsigned, with `req_info`) is genuine when `req_info` decrypts with the key:
    /// its decrypted fields are returned as `req_info.<name>` next to the outer ones.
    public static func verifyV2Callback(body: [UInt8], key: Secret) throws(CallbackError) -> [String: String] {
        let fields: [String: String]
        do throws(WeChatXML.DecodingError) {
            fields = try WeChatXML.decode(body)
        } catch {
            throw .malformed(error.reason)
        }
        if let reqInfo = fields["req_info"] {
            var result = fields
            result["req_info"] = nil
            for (name, value) in try WeChatV2RefundCrypto.fields(reqInfo: reqInfo, apiKey: key) {
                result["req_info." + name] = value
            }
            return result
        }
        guard let algorithm = WeChatV2SignType.of(fields) else { throw .malformed("unknown sign_type") }
        guard fields["sign"] != nil else { throw .badSignature("notification has no sign") }
        guard algorithm.verify(fields, key: key) else {
            throw .badSignature("sign does not verify with this key (\(algorithm.rawValue))")
        }
        return fields
    }

    /// Verifies an APIv3 notification (headers, ±5 min around `now`, the key its serial names) and
    /// returns the decrypted resource JSON.
    ///
    /// - Parameters:
    ///   - platformCertificatePEM: a platform certificate; its serial must be the one the headers name.
    ///   - publicKeyPEM: the WeChat Pay public key; accepted for `publicKeyID`, or for any
    ///     `PUB_KEY_ID_…` serial when no id is given.
    public static func verifyV3Callback(
        headers: [String: String], body: [UInt8], apiV3Key: Secret,
        platformCertificatePEM: String?, publicKeyPEM: String?, publicKeyID: String?, now: Date
    ) throws(CallbackError) -> [UInt8] {
        let signed: WeChatV3SignatureVerifier.SignedHeaders
        do throws(WeChatV3SignatureVerifier.Failure) {
            signed = try WeChatV3SignatureVerifier.SignedHeaders(headers: headers)
        } catch {
            throw error.callbackError
        }
        var key: _RSA.Signing.PublicKey?
        do throws(WeChatV3Crypto.Failure) {
            if let platformCertificatePEM {
                let certificate = try WeChatPlatformCertificate(pem: platformCertificatePEM)
                if certificate.serial == signed.serial.uppercased() { key = certificate.publicKey }
            }
            if key == nil, let publicKeyPEM {
                let matches = publicKeyID.map { $0 == signed.serial } ?? signed.serial.hasPrefix("PUB_KEY_ID_")
                if matches { key = try WeChatV3Crypto.publicKey(pem: publicKeyPEM) }
            }
        } catch {
            throw .malformed("verification key: \(error.reason)")
        }
        do throws(WeChatV3SignatureVerifier.Failure) {
            try WeChatV3SignatureVerifier().verify(signed, body: body, key: key, now: now)
        } catch {
            throw error.callbackError
        }
        return try WeChatCombineChannel.decryptEnvelope(body, apiV3Key: apiV3Key).1
    }
}
