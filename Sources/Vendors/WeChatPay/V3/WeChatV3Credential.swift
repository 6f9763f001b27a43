import Foundation
import _CryptoExtras

/// Builds the APIv3 `Authorization` header with the merchant's API certificate private key.
///
/// `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"`
/// where the signature is SHA256withRSA over `METHOD\nCANONICAL_URL\nTIMESTAMP\nNONCE\nBODY\n`
/// byte for byte (the canonical URL is the path plus `?query` when there is one; BODY is empty
/// for GET but the final `\n` is still there).
public struct WeChatV3Credential: Sendable {
    public static let schema = "WECHATPAY2-SHA256-RSA2048"

    public var mchID: String
    public var serialNumber: String
    let privateKey: _RSA.Signing.PrivateKey

    public init(mchID: String, serialNumber: String, privateKey: _RSA.Signing.PrivateKey) {
        self.mchID = mchID
        self.serialNumber = serialNumber
        self.privateKey = privateKey
    }

    /// The exact bytes that are signed.
    public static func message(
        method: String, canonicalURL: String, timestamp: Int64, nonce: String, body: [UInt8]
    ) -> [UInt8] {
        var message = Array("\(method)\n\(canonicalURL)\n\(timestamp)\n\(nonce)\n".utf8)
        message += body
        message.append(UInt8(ascii: "\n"))
        return message
    }

    /// The `Authorization` header value.
    public func authorization(
        method: String, canonicalURL: String, body: [UInt8], timestamp: Int64, nonce: String
    ) throws(WeChatV3Crypto.Failure) -> String {
        let signature = try WeChatV3Crypto.sign(
            Self.message(method: method, canonicalURL: canonicalURL, timestamp: timestamp, nonce: nonce, body: body),
            with: privateKey
        )
        return
            "\(Self.schema) mchid=\"\(mchID)\",nonce_str=\"\(nonce)\",timestamp=\"\(timestamp)\",serial_no=\"\(serialNumber)\",signature=\"\(signature)\""
    }

    /// The canonical URL of an absolute URL: its path (percent-encoded as sent) and `?query`.
    public static func canonicalURL(of url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        var path = String(rest[slash...])
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        return path
    }
}
