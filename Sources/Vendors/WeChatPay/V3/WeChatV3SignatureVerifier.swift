import Foundation
import Payments
import _CryptoExtras

/// Verifies the `Wechatpay-*` signature headers of an APIv3 response or notification.
///
/// The signed message is `Wechatpay-Timestamp\nWechatpay-Nonce\nBODY\n`; the key is the platform
/// certificate or WeChat Pay public key whose serial `Wechatpay-Serial` names; the timestamp must be
/// within 5 minutes of now (the SDKs reject |now − timestamp| ≥ 300 s).
public struct WeChatV3SignatureVerifier: Sendable {
    /// Why a signature was not accepted.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable {
            case missingHeaders = "missing_headers"
            case staleTimestamp = "stale_timestamp"
            case unknownSerial = "unknown_serial"
            case badSignature = "bad_signature"
        }

        public var kind: Kind
        public var message: String
        public var description: String { "\(kind.rawValue): \(message)" }

        /// The same failure as a ``CallbackError``.
        public var callbackError: CallbackError {
            switch kind {
            case .missingHeaders: .malformed(message)
            case .staleTimestamp: CallbackError(.staleTimestamp, message)
            case .unknownSerial: CallbackError(.unknownSerial, message)
            case .badSignature: .badSignature(message)
            }
        }
    }

    /// The four signature headers of a message.
    public struct SignedHeaders: Sendable, Hashable {
        public var serial: String
        public var signature: String
        public var timestamp: String
        public var nonce: String

        /// Reads `Wechatpay-Serial`, `-Signature`, `-Timestamp` and `-Nonce` (names case-insensitive).
        public init(headers: [String: String]) throws(Failure) {
            var lower: [String: String] = [:]
            for (name, value) in headers { lower[name.lowercased()] = value.trimmingCharacters(in: .whitespaces) }
            guard let serial = lower["wechatpay-serial"], !serial.isEmpty,
                let signature = lower["wechatpay-signature"], !signature.isEmpty,
                let timestamp = lower["wechatpay-timestamp"], !timestamp.isEmpty,
                let nonce = lower["wechatpay-nonce"], !nonce.isEmpty
            else {
                throw Failure(
                    kind: .missingHeaders, message: "Wechatpay-Serial/-Signature/-Timestamp/-Nonce headers are missing")
            }
            self.serial = serial
            self.signature = signature
            self.timestamp = timestamp
            self.nonce = nonce
        }
    }

    /// The largest accepted distance between the signature's timestamp and now.
    public var maximumClockSkew: TimeInterval

    public init(maximumClockSkew: TimeInterval = 300) {
        self.maximumClockSkew = maximumClockSkew
    }

    /// Checks the timestamp window, then the signature with `key` (already chosen by serial).
    public func verify(
        _ headers: SignedHeaders, body: [UInt8], key: _RSA.Signing.PublicKey?, now: Date
    ) throws(Failure) {
        guard let seconds = Int64(headers.timestamp) else {
            throw Failure(kind: .staleTimestamp, message: "Wechatpay-Timestamp is not a number")
        }
        let skew = abs(now.timeIntervalSince1970 - Double(seconds))
        guard skew < maximumClockSkew else {
            throw Failure(kind: .staleTimestamp, message: "Wechatpay-Timestamp is \(Int64(skew)) s away from now")
        }
        guard let key else {
            throw Failure(
                kind: .unknownSerial,
                message: "no platform certificate or public key with serial \(headers.serial.prefix(64))")
        }
        guard WeChatV3Crypto.verify(headers.signature, of: Self.message(headers, body: body), with: key) else {
            throw Failure(kind: .badSignature, message: "Wechatpay-Signature does not verify")
        }
    }

    /// `timestamp\nnonce\nbody\n`.
    public static func message(_ headers: SignedHeaders, body: [UInt8]) -> [UInt8] {
        var message = Array("\(headers.timestamp)\n\(headers.nonce)\n".utf8)
        message += body
        message.append(UInt8(ascii: "\n"))
        return message
    }
}
