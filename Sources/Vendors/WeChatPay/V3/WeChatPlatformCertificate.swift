import Foundation
import X509
import _CryptoExtras

/// A WeChat Pay platform certificate (平台证书): its serial, validity and RSA public key.
public struct WeChatPlatformCertificate: Sendable {
    /// The serial as WeChat writes it in `Wechatpay-Serial`: upper-case hex.
    public var serial: String
    public var notValidBefore: Date
    public var notValidAfter: Date
    public var publicKey: _RSA.Signing.PublicKey

    /// Parses a PEM `CERTIFICATE`.
    public init(pem: String) throws(WeChatV3Crypto.Failure) {
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: pem)
        } catch {
            throw WeChatV3Crypto.Failure(reason: "not a PEM X.509 certificate")
        }
        guard let key = _RSA.Signing.PublicKey(certificate.publicKey) else {
            throw WeChatV3Crypto.Failure(reason: "the certificate's key is not RSA")
        }
        serial = Self.hex(certificate.serialNumber.bytes)
        notValidBefore = certificate.notValidBefore
        notValidAfter = certificate.notValidAfter
        publicKey = key
    }

    static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        var bytes = bytes
        // DER integers carry a leading zero byte when the top bit is set; the serial shown by WeChat does not.
        while bytes.count > 1, bytes.first == 0 { bytes = bytes.dropFirst() }
        let digits = Array("0123456789ABCDEF")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]] })
    }
}
