import Foundation
import Payments

/// The settings and secrets of a `leshouying` merchant account (documented in `docs/merchants.md`).
struct LeshouyingConfiguration: Sendable {
    static let productionBaseURL = "https://open.gdyfsk.com/yfpay"
    static let testBaseURL = "https://test.gdyfsk.com/yfpay"

    /// `inst_no`: the 机构号.
    var instNo: String
    /// `mch_no`: the 商户号.
    var mchNo: String
    /// `shop_no`, `terminal_no`: optional store and terminal.
    var shopNo: String?
    var terminalNo: String?
    /// `appid`: optional mini-program appid (overrides the vendor back-office configuration).
    var appID: String?
    /// `environment` (`production` default, or `test`) picks the host; `api_base_url` overrides it.
    var baseURL: String
    /// `default_pay_type`: `wechat` (400, default) or `alipay` (300) when an order has no `pay_type` option.
    var defaultPayType: String
    /// `ack_format`: `json` (default: `{"return_code":"SUCCESS","return_msg":"成功"}`) or `text` (`SUCCESS`).
    var acknowledgement: CallbackAcknowledgement
    /// `inst_key`: the 机构密钥 that signs everything.
    var instKey: Secret
    /// `openid_field`: the request member that carries the payer id, `open_id` (default: the
    /// parameter table) or `openid` (the seed's request example).
    var openIDField: String
    /// `sign_case`: hex case of the signatures PayFleet sends, `lower` (default) or `upper`.
    /// Signatures received are compared without regard to case either way.
    var signUppercase: Bool
    /// `close_success`: what `result_code=PAY_SUCCESS` answers to `closeorder` mean: `closed`
    /// (default) or `query` (confirm with `queryorder` before calling the order closed).
    var closeSuccessNeedsQuery: Bool
    /// `timestamp_ms`: a 13-digit (millisecond) `timeStamp` is `truncate`d to seconds (default)
    /// or `reject`ed as a bad answer.
    var truncateMillisecondTimeStamp: Bool

    init(account: MerchantAccount) throws(ChannelError) {
        instNo = try account.setting("inst_no")
        mchNo = try account.setting("mch_no")
        shopNo = account.settings["shop_no"].flatMap { $0.isEmpty ? nil : $0 }
        terminalNo = account.settings["terminal_no"].flatMap { $0.isEmpty ? nil : $0 }
        appID = account.settings["appid"].flatMap { $0.isEmpty ? nil : $0 }
        let environmentBase: String
        switch account.setting("environment", default: "production") {
        case "production": environmentBase = Self.productionBaseURL
        case "test": environmentBase = Self.testBaseURL
        default: throw .configuration("merchant \(account.alias): setting 'environment' must be production or test")
        }
        var base = account.setting("api_base_url", default: environmentBase)
        while base.hasSuffix("/") { base.removeLast() }
        guard URLComponents(string: base)?.host != nil else {
            throw .configuration("merchant \(account.alias): setting 'api_base_url' is not an absolute URL")
        }
        baseURL = base
        defaultPayType = account.setting("default_pay_type", default: "wechat")
        guard LeshouyingChannel.payTypeCode(defaultPayType) != nil else {
            throw .configuration("merchant \(account.alias): setting 'default_pay_type' must be wechat or alipay")
        }
        switch account.setting("ack_format", default: "json") {
        case "json": acknowledgement = LeshouyingCallback.jsonAcknowledgement
        case "text": acknowledgement = LeshouyingCallback.textAcknowledgement
        default: throw .configuration("merchant \(account.alias): setting 'ack_format' must be json or text")
        }
        instKey = try account.secret("inst_key")
        openIDField = account.setting("openid_field", default: "open_id")
        guard openIDField == "open_id" || openIDField == "openid" else {
            throw .configuration("merchant \(account.alias): setting 'openid_field' must be open_id or openid")
        }
        switch account.setting("sign_case", default: "lower") {
        case "lower": signUppercase = false
        case "upper": signUppercase = true
        default: throw .configuration("merchant \(account.alias): setting 'sign_case' must be lower or upper")
        }
        switch account.setting("close_success", default: "closed") {
        case "closed": closeSuccessNeedsQuery = false
        case "query": closeSuccessNeedsQuery = true
        default: throw .configuration("merchant \(account.alias): setting 'close_success' must be closed or query")
        }
        switch account.setting("timestamp_ms", default: "truncate") {
        case "truncate": truncateMillisecondTimeStamp = true
        case "reject": truncateMillisecondTimeStamp = false
        default: throw .configuration("merchant \(account.alias): setting 'timestamp_ms' must be truncate or reject")
        }
    }
}
