import Foundation
import Payments

/// The settings and secrets of a `storepos` merchant account (documented in `docs/merchants.md`).
struct StorePOSConfiguration: Sendable {
    static let defaultGateway = "https://pay.storepos.cn/v2/UnifiedPay/Gateway"
    /// The v2 对账单下载 endpoint (`api/micropay.md`, 对账单下载).
    static let defaultBillURL = "http://account.storepos.cn/v2/Open/DownloadBill"

    /// `mch_id`: the 超赢商户号.
    var mchID: String
    /// `agent_id`: the 代理商编号 (still sent on v2).
    var agentID: String
    /// `pid` (default `payfleet`) and `version` (default `1.0`): the caller's product name and version.
    var pid: String
    var version: String
    /// `gateway_url`: default `https://pay.storepos.cn/v2/UnifiedPay/Gateway`.
    var gatewayURL: String
    /// `bill_url`: default `http://account.storepos.cn/v2/Open/DownloadBill` (its own host).
    var billURL: String
    /// `default_pay_type`: `wechat` (default), `alipay` or `ecny`, when an order has no `pay_type` option.
    var defaultPayType: StorePOSChannel.PayType
    /// `default_trade_type`: `NATIVE` (default), `JSPAY` or `APP`.
    var defaultTradeType: String
    /// `sub_appid` and `is_minipg`: defaults for JSPAY/APP orders that do not name them.
    var subAppID: String?
    var isMiniProgram: String?
    /// `op_user_id`: the operator sent with `cancel`; default the merchant id ("默认为商户号").
    var opUserID: String
    /// `pending_query_limit_seconds`: how long to keep querying a NEED_QUERY / timed-out order (60–180, default 120).
    var pendingQueryLimit: Duration
    /// `cancel_window_seconds`: `cancel` only works on orders younger than this (default 300: "5分钟的订单才可以撤销").
    var cancelWindow: Duration
    /// `require_response_sign`: an `orderquery` / `cancel` business success must carry a valid `sign`
    /// (default `true`: their tables list it, "仅业务正确时返回签名", and their samples carry it).
    var requireResponseSign: Bool
    /// `require_preorder_sign`: a PreOrder success must carry a `sign` (default `false`: the v2
    /// PreOrder response table lists no `sign` and the vendor's three PreOrder samples are unsigned;
    /// a `sign` that is present is always checked).
    var requirePreOrderSign: Bool
    /// `merchant_key`: the 商户密钥 that signs v2 requests and responses.
    var merchantKey: Secret
    /// `callback_key`: `merchant` (default) or `agent`; `agent` verifies callbacks with secret `agent_key`.
    var callbackKey: Secret

    init(account: MerchantAccount) throws(ChannelError) {
        let alias = account.alias
        mchID = try account.setting("mch_id")
        agentID = try account.setting("agent_id")
        pid = account.setting("pid", default: "payfleet")
        version = account.setting("version", default: "1.0")
        var gateway = account.setting("gateway_url", default: Self.defaultGateway)
        while gateway.hasSuffix("/") { gateway.removeLast() }
        guard URLComponents(string: gateway)?.host != nil else {
            throw .configuration("merchant \(alias): setting 'gateway_url' is not an absolute URL")
        }
        gatewayURL = gateway
        billURL = account.setting("bill_url", default: Self.defaultBillURL)
        guard URLComponents(string: billURL)?.host != nil else {
            throw .configuration("merchant \(alias): setting 'bill_url' is not an absolute URL")
        }
        guard let payType = StorePOSChannel.PayType(option: account.setting("default_pay_type", default: "wechat"))
        else {
            throw .configuration("merchant \(alias): setting 'default_pay_type' must be wechat, alipay or ecny")
        }
        defaultPayType = payType
        defaultTradeType = account.setting("default_trade_type", default: "NATIVE").uppercased()
        guard StorePOSChannel.tradeTypes.contains(defaultTradeType) else {
            throw .configuration("merchant \(alias): setting 'default_trade_type' must be NATIVE, JSPAY or APP")
        }
        subAppID = account.settings["sub_appid"].flatMap { $0.isEmpty ? nil : $0 }
        isMiniProgram = account.settings["is_minipg"].flatMap { $0.isEmpty ? nil : $0 }
        if let flag = isMiniProgram, flag != "0", flag != "1" {
            throw .configuration("merchant \(alias): setting 'is_minipg' must be 0 or 1")
        }
        opUserID = account.setting("op_user_id", default: mchID)
        guard let limit = Int(account.setting("pending_query_limit_seconds", default: "120")),
            (60...180).contains(limit)
        else {
            throw .configuration(
                "merchant \(alias): setting 'pending_query_limit_seconds' must be 60…180 (the vendor's advice)")
        }
        pendingQueryLimit = .seconds(limit)
        guard let window = Int(account.setting("cancel_window_seconds", default: "300")), window > 0, window <= 86_400
        else {
            throw .configuration("merchant \(alias): setting 'cancel_window_seconds' must be 1…86400")
        }
        cancelWindow = .seconds(window)
        switch account.setting("require_response_sign", default: "true") {
        case "true": requireResponseSign = true
        case "false": requireResponseSign = false
        default: throw .configuration("merchant \(alias): setting 'require_response_sign' must be true or false")
        }
        switch account.setting("require_preorder_sign", default: "false") {
        case "true": requirePreOrderSign = true
        case "false": requirePreOrderSign = false
        default: throw .configuration("merchant \(alias): setting 'require_preorder_sign' must be true or false")
        }
        merchantKey = try account.secret("merchant_key")
        switch account.setting("callback_key", default: "merchant") {
        case "merchant": callbackKey = merchantKey
        case "agent": callbackKey = try account.secret("agent_key")
        default: throw .configuration("merchant \(alias): setting 'callback_key' must be merchant or agent")
        }
    }
}
