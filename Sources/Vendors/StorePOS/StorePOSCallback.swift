import Foundation
import Payments

/// Parses and verifies storepos payment callbacks (WeChat and Alipay variants): a form body with
/// `state`, `result_code`, `sign` and, on success, `mch_id`, `pay_result` (0 = paid), `out_trade_no`,
/// `transaction_id`, `total_fee` (fen), `time_end` (GMT+8), `trade_type` (`pay.weixin.native`,
/// `pay.alipay.native`, …) and the variant's extra fields (`bank_type`, `sub_openid`, or
/// `buyer_user_id`, `buyer_logon_id`, `fund_bill_list`, `gmt_create`, …).
public enum StorePOSCallback {
    /// The plain `success` (lowercase) the vendor needs within 3 s.
    public static let acknowledgement = CallbackAcknowledgement(
        success: CallbackReply(status: 200, contentType: "text/plain; charset=utf-8", body: "success"),
        failure: CallbackReply(status: 500, contentType: "text/plain; charset=utf-8", body: "fail")
    )

    public static func fields(_ body: [UInt8]) throws(CallbackError) -> [String: String] {
        try FormEncoding.callbackFields(body)
    }

    /// The order a callback names, unverified.
    public static func orderKey(_ body: [UInt8]) throws(CallbackError) -> String {
        guard let key = try fields(body)["out_trade_no"], !key.isEmpty else {
            throw .malformed("callback has no out_trade_no")
        }
        return key
    }

    /// Verifies and parses a callback with the given key (the 商户密钥 by default; see `callback_key`).
    public static func verify(_ body: [UInt8], key: Secret) throws(CallbackError) -> VerifiedCallback {
        let form = try fields(body)
        try CallbackError.requireFields(["state", "result_code", "sign", "out_trade_no"], in: form)
        guard StorePOSSigning.verify(form, signature: form["sign"] ?? "", key: key) else { throw .badSignature() }
        // The samples send `state=SUCCESS`, `result_code=SUCCESS`; the field table says the payment
        // fields come "在state和trade_state都为0的时候", so `0` is read as success too.
        let success: Set<String> = ["SUCCESS", "0"]
        let paid =
            success.contains(form["state"] ?? "") && success.contains(form["result_code"] ?? "")
            && form["pay_result"] == "0"
        var amount: Money?
        if let fee = form["total_fee"], !fee.isEmpty {
            do { amount = try Money(fenString: fee) } catch { throw .malformed("callback total_fee: \(error)") }
        }
        let status: TradeStatus
        if paid {
            try CallbackError.requireFields(
                ["transaction_id", "total_fee", "mch_id"], in: form, what: "paid callback field")
            status = .succeeded(
                PaymentDetails(
                    transactionID: form["transaction_id"] ?? "",
                    amount: amount ?? .zero,
                    paidAt: form["time_end"].flatMap { ChinaTime.parse($0, "yyyyMMddHHmmss") },
                    vendorMerchantID: form["mch_id"]
                ))
        } else {
            let code = form["pay_result"] ?? form["result_code"] ?? ""
            status = .failed(VendorFailure(code: code, message: form["msg"] ?? "storepos callback reports no payment"))
        }
        return VerifiedCallback(
            outTradeNo: form["out_trade_no"] ?? "", status: status, vendorMerchantID: form["mch_id"], amount: amount,
            signedFields: form)
    }
}
