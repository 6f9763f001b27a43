import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// The sandbox's WeChat Pay platform identity, generated at start: a platform certificate (a real
/// self-signed X.509 certificate with a 40-hex-digit serial, served encrypted by `/v3/certificates`)
/// and a separate WeChat Pay public key with a `PUB_KEY_ID_…` id. Either can sign answers and
/// notifications, as at WeChat during the move from certificates to the public key.
struct WeChatPlatformKeys: Sendable {
    struct SigningKey: Sendable {
        var serial: String
        var privateKey: _RSA.Signing.PrivateKey
    }

    var certificate: SigningKey
    var certificatePEM: String
    var notValidBefore: Date
    var notValidAfter: Date
    var publicKey: SigningKey
    var publicKeyPEM: String

    static func generate() throws -> WeChatPlatformKeys {
        let certificateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        var serialBytes = (0..<20).map { _ in UInt8.random(in: 0...255) }
        serialBytes[0] = (serialBytes[0] & 0x7F) | 0x10
        let now = Date()
        let notValidBefore = now.addingTimeInterval(-3600)
        let notValidAfter = now.addingTimeInterval(5 * 365 * 86400)
        let name = try DistinguishedName {
            CountryName("CN")
            OrganizationName("PayFleet Sandbox (not Tenpay)")
            CommonName("PayFleet sandbox WeChat Pay platform certificate")
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(bytes: serialBytes),
            publicKey: Certificate.PublicKey(certificateKey.publicKey),
            notValidBefore: notValidBefore,
            notValidAfter: notValidAfter,
            issuer: name,
            subject: name,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: Certificate.Extensions {},
            issuerPrivateKey: Certificate.PrivateKey(certificateKey)
        )
        let pem = try certificate.serializeAsPEM().pemString
        let publicKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let publicKeyID = "PUB_KEY_ID_0119000002" + WeChatSandbox.random(18, from: "0123456789")
        return WeChatPlatformKeys(
            certificate: SigningKey(serial: WeChatSandbox.hex(serialBytes, upper: true), privateKey: certificateKey),
            certificatePEM: pem, notValidBefore: notValidBefore, notValidAfter: notValidAfter,
            publicKey: SigningKey(serial: publicKeyID, privateKey: publicKey),
            publicKeyPEM: publicKey.publicKey.pemRepresentation
        )
    }

    /// SHA256withRSA (PKCS#1 v1.5), base64.
    static func sign(_ message: [UInt8], with key: _RSA.Signing.PrivateKey) -> String {
        guard let signature = try? key.signature(for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5) else {
            return ""
        }
        return signature.rawRepresentation.base64EncodedString()
    }

    /// AEAD_AES_256_GCM with the APIv3 key; base64 of ciphertext ‖ tag.
    static func encrypt(_ plaintext: [UInt8], apiV3Key: String, nonce: String, associatedData: String) -> String? {
        guard
            let box = try? AES.GCM.seal(
                plaintext, using: SymmetricKey(data: Array(apiV3Key.utf8)),
                nonce: AES.GCM.Nonce(data: Array(nonce.utf8)),
                authenticating: Array(associatedData.utf8)
            )
        else { return nil }
        return (box.ciphertext + box.tag).base64EncodedString()
    }
}
