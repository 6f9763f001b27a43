import Crypto
import Foundation
import Payments
import _CryptoExtras

/// The APIv3 primitives: SHA256-RSA2048 (PKCS#1 v1.5) signing and verification, and
/// AEAD_AES_256_GCM decryption of notification resources and platform certificates.
public enum WeChatV3Crypto {
    /// Why a key, signature or ciphertext could not be used. Never contains key material.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Loads an RSA private key from PEM (`BEGIN RSA PRIVATE KEY` PKCS#1 or `BEGIN PRIVATE KEY` PKCS#8).
    public static func privateKey(pem: Secret) throws(Failure) -> _RSA.Signing.PrivateKey {
        do {
            let key = try _RSA.Signing.PrivateKey(pemRepresentation: pem.reveal())
            guard key.keySizeInBits >= 2048 else { throw Failure(reason: "RSA key shorter than 2048 bits") }
            return key
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(reason: "not a PEM RSA private key (PKCS#1 or PKCS#8)")
        }
    }

    /// Loads an RSA public key from PEM: `BEGIN PUBLIC KEY` (the WeChat Pay public key),
    /// `BEGIN RSA PUBLIC KEY`, or a `BEGIN CERTIFICATE` (a platform certificate).
    public static func publicKey(pem: String) throws(Failure) -> _RSA.Signing.PublicKey {
        if pem.contains("BEGIN CERTIFICATE") {
            return try WeChatPlatformCertificate(pem: pem).publicKey
        }
        do {
            return try _RSA.Signing.PublicKey(pemRepresentation: pem)
        } catch {
            throw Failure(reason: "not a PEM RSA public key")
        }
    }

    /// Base64 SHA256withRSA (PKCS#1 v1.5) signature of `message`.
    public static func sign(_ message: [UInt8], with key: _RSA.Signing.PrivateKey) throws(Failure) -> String {
        do {
            let signature = try key.signature(for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5)
            return signature.rawRepresentation.base64EncodedString()
        } catch {
            throw Failure(reason: "RSA signing failed")
        }
    }

    /// Whether `signatureBase64` is a SHA256withRSA (PKCS#1 v1.5) signature of `message` by `key`.
    public static func verify(_ signatureBase64: String, of message: [UInt8], with key: _RSA.Signing.PublicKey) -> Bool
    {
        guard let raw = Data(base64Encoded: signatureBase64) else { return false }
        let signature = _RSA.Signing.RSASignature(rawRepresentation: raw)
        return key.isValidSignature(signature, for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5)
    }

    /// AEAD_AES_256_GCM decryption as WeChat uses it: the key is the 32-byte APIv3 key as UTF-8
    /// bytes, the nonce the 12 ASCII bytes of `nonce`, the associated data the UTF-8 bytes of
    /// `associatedData` (possibly empty), and `ciphertextBase64` the base64 of ciphertext ‖ 16-byte tag.
    public static func decrypt(
        apiV3Key: Secret, nonce: String, associatedData: String, ciphertextBase64: String
    ) throws(Failure) -> [UInt8] {
        let keyBytes = Array(apiV3Key.reveal().utf8)
        guard keyBytes.count == 32 else { throw Failure(reason: "the APIv3 key must be 32 bytes") }
        let nonceBytes = Array(nonce.utf8)
        guard nonceBytes.count == 12 else { throw Failure(reason: "the nonce must be 12 bytes") }
        guard let combined = Data(base64Encoded: ciphertextBase64) else {
            throw Failure(reason: "ciphertext is not base64")
        }
        guard combined.count >= 16 else { throw Failure(reason: "ciphertext is shorter than the 16-byte GCM tag") }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: nonceBytes),
                ciphertext: combined.prefix(combined.count - 16),
                tag: combined.suffix(16)
            )
            let plain = try AES.GCM.open(
                box, using: SymmetricKey(data: keyBytes), authenticating: Array(associatedData.utf8))
            return Array(plain)
        } catch {
            throw Failure(reason: "AES-256-GCM authentication failed (wrong APIv3 key or tampered ciphertext)")
        }
    }

    /// The inverse of ``decrypt(apiV3Key:nonce:associatedData:ciphertextBase64:)`` (tests, tools).
    public static func encrypt(
        apiV3Key: Secret, nonce: String, associatedData: String, plaintext: [UInt8]
    ) throws(Failure) -> String {
        let keyBytes = Array(apiV3Key.reveal().utf8)
        guard keyBytes.count == 32 else { throw Failure(reason: "the APIv3 key must be 32 bytes") }
        do {
            let box = try AES.GCM.seal(
                plaintext, using: SymmetricKey(data: keyBytes), nonce: AES.GCM.Nonce(data: Array(nonce.utf8)),
                authenticating: Array(associatedData.utf8)
            )
            return (box.ciphertext + box.tag).base64EncodedString()
        } catch {
            throw Failure(reason: "AES-256-GCM encryption failed")
        }
    }
}
