import Payments

/// YunGouOS's signature: MD5 over a *fixed subset* of the parameters, sorted bytewise, blank values
/// skipped, `&key=<支付密钥>` appended, uppercase hex.
///
/// Each API signs its own field list and sends everything else unsigned (YunGouOS Java SDK
/// `PaySignUtil.createSign` / `WxPay.nativePay`, PHP SDK `PaySign.php`): `nativePay` signs exactly
/// `out_trade_no`, `total_fee`, `mch_id`, `body`; the payment callback signs exactly `code`,
/// `orderNo`, `outTradeNo`, `payNo`, `money`, `mchId`.
public enum YunGouOSSigning {
    /// One YunGouOS API and the fields its signature covers.
    public enum API: String, Sendable, CaseIterable {
        /// `POST /api/pay/wxpay/nativePay`.
        case nativePay = "native-pay"
        /// `GET /api/system/order/getPayOrderInfo`.
        case query
        /// `POST /api/pay/wxpay/closeOrder`.
        case close
        /// The payment callback (form POST to `notify_url`).
        case notify
        /// `POST /api/pay/wxpay/refundOrder` (`WxPay.orderRefund`).
        case refund
        /// `GET /api/pay/wxpay/getRefundResult` (`WxPay.getRefundResult`).
        case refundQuery = "refund-query"
        /// The refund callback (`PaySignUtil.checkRefundNotifySign`).
        case refundNotify = "refund-notify"

        /// The parameter names the signature covers.
        public var signedFields: [String] {
            switch self {
            case .nativePay: ["out_trade_no", "total_fee", "mch_id", "body"]
            case .query, .close: ["out_trade_no", "mch_id"]
            case .notify: ["code", "orderNo", "outTradeNo", "payNo", "money", "mchId"]
            case .refund: ["out_trade_no", "mch_id", "money"]
            case .refundQuery: ["refund_no", "mch_id"]
            case .refundNotify:
                [
                    "code", "refundNo", "orderNo", "outTradeNo", "payNo", "mchId", "payName", "refundMoney", "channel",
                    "refundTime", "payRefundNo", "applyTime",
                ]
            }
        }
    }

    /// The digest rule (the subset is applied before it).
    public static let rule = ParameterSigningRule(
        emptyValues: .omit, keyOrder: .bytewise, digest: .md5, hexCase: .upper)

    /// The parameters that take part for `api`: its fixed fields, minus blank ones (the Java SDK's
    /// `StrUtil.isBlank` also skips whitespace-only values).
    public static func signedParameters(_ parameters: [String: String], api: API) -> [String: String] {
        var signed: [String: String] = [:]
        for name in api.signedFields {
            guard let value = parameters[name], !value.allSatisfy(\.isWhitespace) else { continue }
            signed[name] = value
        }
        return signed
    }

    /// The signature of `parameters` for `api`.
    public static func sign(_ parameters: [String: String], api: API, key: Secret) -> String {
        rule.sign(signedParameters(parameters, api: api), key: key)
    }

    /// Whether `signature` is right for `parameters` (constant-time; uppercase hex expected).
    public static func verify(_ parameters: [String: String], api: API, signature: String, key: Secret) -> Bool {
        rule.verify(signedParameters(parameters, api: api), signature: signature, key: key)
    }

    /// The operator view: signature, signed string with the key masked, and which fields were left out.
    public static func explain(_ parameters: [String: String], api: API, key: Secret) -> OperatorSignature {
        let signed = signedParameters(parameters, api: api)
        let order = signed.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        return OperatorSignature(
            api: api.rawValue,
            signedFields: order,
            unsignedFields: parameters.keys.filter { signed[$0] == nil && $0 != "sign" }.sorted(),
            explained: rule.explain(signed, key: key),
            signature: rule.sign(signed, key: key)
        )
    }
}
