import Payments
import _CryptoExtras

extension WeChatV2Channel {
    /// A complete `wechat-v2` account pointing at the PayFleet sandbox, with obviously fake ids and
    /// a fixed, obviously fake API key (so a person can sign requests by hand against the sandbox).
    public static func sandboxDemoAccount(alias: String, sandboxBaseURL: String) -> MerchantAccount {
        MerchantAccount(
            alias: alias, channel: .wechatV2,
            settings: [
                "appid": "wx00000000sandbox",
                "mch_id": "1900000109",
                "api_base_url": sandboxBaseURL,
                "backup_api_base_url": sandboxBaseURL,
                "sign_type": "HMAC-SHA256",
                "trade_type": "NATIVE",
            ],
            secrets: ["api_key": Secret("sandboxDemoApiKeyNotARealKey0000")]
        )
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
