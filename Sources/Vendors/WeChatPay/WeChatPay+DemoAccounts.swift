import Crypto
import Foundation
import Payments
import X509
import _CryptoExtras

extension WeChatV2Channel {
    /// A complete `wechat-v2` account pointing at the PayFleet sandbox, with obviously fake ids,
    /// a fixed, obviously fake API key (so a person can sign requests by hand against the sandbox),
    /// and an API client certificate for refunds: a self-signed P-256 certificate generated now.
    public static func sandboxDemoAccount(alias: String, sandboxBaseURL: String) -> MerchantAccount {
        var secrets = ["api_key": Secret("sandboxDemoApiKeyNotARealKey0000")]
        if let identity = sandboxClientCertificate(mchID: "1900000109") {
            secrets["apiclient_cert"] = Secret(identity.certificatePEM)
            secrets["apiclient_key"] = Secret(identity.keyPEM)
        }
        return MerchantAccount(
            alias: alias, channel: .wechatV2,
            settings: [
                "appid": "wx00000000sandbox",
                "mch_id": "1900000109",
                "api_base_url": sandboxBaseURL,
                "backup_api_base_url": sandboxBaseURL,
                "sign_type": "HMAC-SHA256",
                "trade_type": "NATIVE",
            ],
            secrets: secrets
        )
    }

    /// A fresh self-signed API client certificate (`CN=<mch_id>`) and its PKCS#8 key, in PEM.
    static func sandboxClientCertificate(mchID: String) -> (certificatePEM: String, keyPEM: String)? {
        let key = P256.Signing.PrivateKey()
        do {
            let name = try DistinguishedName {
                CommonName(mchID)
                OrganizationName("PayFleet sandbox (not a WeChat certificate)")
            }
            let now = Date()
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(),
                publicKey: Certificate.PublicKey(key.publicKey), notValidBefore: now.addingTimeInterval(-3600),
                notValidAfter: now.addingTimeInterval(5 * 365 * 86400), issuer: name, subject: name,
                signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions {},
                issuerPrivateKey: Certificate.PrivateKey(key))
            return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
        } catch {
            return nil
        }
    }
}

extension WeChatCombineChannel {
    /// A complete `wechat-v3-combine` account pointing at the PayFleet sandbox: fake ids, a fresh
    /// RSA-2048 merchant key generated now, a fake APIv3 key, and platform certificates downloaded
    /// from the sandbox's `/v3/certificates`.
    public static func sandboxDemoAccount(alias: String, sandboxBaseURL: String) -> MerchantAccount {
        let key = (try? _RSA.Signing.PrivateKey(keySize: .bits2048))?.pkcs8PEMRepresentation ?? ""
        var serialGenerator = SystemRandomNumberGenerator()
        let digits = Array("0123456789ABCDEF")
        let serial = String((0..<40).map { _ in digits[Int(serialGenerator.next(upperBound: UInt32(16)))] })
        return MerchantAccount(
            alias: alias, channel: .wechatV3Combine,
            settings: [
                "combine_appid": "wx00000000sandbox",
                "combine_mchid": "1900000209",
                "merchant_serial_no": serial,
                "api_base_url": sandboxBaseURL,
                "backup_api_base_url": sandboxBaseURL,
                "platform_certificates": "download",
            ],
            secrets: [
                "merchant_private_key": Secret(key),
                "apiv3_key": Secret("sandboxDemoApiV3KeyNotRealKey000"),
            ]
        )
    }
}
