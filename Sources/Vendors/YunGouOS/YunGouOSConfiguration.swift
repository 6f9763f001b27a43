import Foundation
import Payments

/// The settings and secrets of a `yungouos` merchant account (documented in `docs/merchants.md`).
struct YunGouOSConfiguration: Sendable {
    /// `mch_id`: the WeChat Pay merchant number registered at YunGouOS.
    var mchID: String
    /// `api_base_url`: default `https://api.pay.yungouos.com`.
    var baseURL: String
    /// `app_id`: the YunGouOS app id, needed by multi-scene merchants; sent unsigned.
    var appID: String?
    /// `qr_type`: `1` returns a `weixin://` link, `2` a QR image URL; default `1` (the documented server default).
    var defaultQRType: String
    /// `query_min_interval_seconds`: local per-order throttle of `getPayOrderInfo` ("1qps/10s"); default 10, 0 disables.
    var queryMinimumInterval: Duration
    /// `callback_key`: `pay_channel` (default: the key of the channel the callback's `payChannel` names) or `api_key`.
    var callbackKeyByPayChannel: Bool
    /// `api_key`: the 支付密钥 of the WeChat channel, signs every request and `wxpay` callbacks.
    var apiKey: Secret
    /// `alipay_key` (optional): the key of the Alipay channel, for `payChannel=alipay` callbacks.
    var alipayKey: Secret?

    init(account: MerchantAccount) throws(ChannelError) {
        mchID = try account.setting("mch_id")
        baseURL = Self.trimmedBase(account.setting("api_base_url", default: "https://api.pay.yungouos.com"))
        guard URLComponents(string: baseURL)?.host != nil else {
            throw .configuration("merchant \(account.alias): setting 'api_base_url' is not an absolute URL")
        }
        appID = account.settings["app_id"].flatMap { $0.isEmpty ? nil : $0 }
        defaultQRType = account.setting("qr_type", default: "1")
        guard defaultQRType == "1" || defaultQRType == "2" else {
            throw .configuration("merchant \(account.alias): setting 'qr_type' must be 1 or 2")
        }
        let interval = account.setting("query_min_interval_seconds", default: "10")
        guard let seconds = Int(interval), seconds >= 0, seconds <= 3600 else {
            throw .configuration("merchant \(account.alias): setting 'query_min_interval_seconds' must be 0…3600")
        }
        queryMinimumInterval = .seconds(seconds)
        switch account.setting("callback_key", default: "pay_channel") {
        case "pay_channel": callbackKeyByPayChannel = true
        case "api_key": callbackKeyByPayChannel = false
        default:
            throw .configuration("merchant \(account.alias): setting 'callback_key' must be pay_channel or api_key")
        }
        apiKey = try account.secret("api_key")
        alipayKey = account.secrets["alipay_key"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static func trimmedBase(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// The key a callback from `payChannel` is signed with.
    func callbackKey(payChannel: String?) -> Secret? {
        guard callbackKeyByPayChannel else { return apiKey }
        switch payChannel {
        case "alipay": return alipayKey
        default: return apiKey
        }
    }
}
