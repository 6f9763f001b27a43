import Foundation
import Payments

/// Parses and verifies YunGouOS payment callbacks: a form POST with `code` (1 = paid), `orderNo`,
/// `outTradeNo`, `payNo`, `money` (yuan), `mchId`, `payChannel`, `time`, `attach`, `openId`, `sign`,
/// where the signature covers only the six fields of ``YunGouOSSigning/API/notify``.
public enum YunGouOSCallback {
    /// The plain answer that stops YunGouOS's retries (`SUCCESS`, uppercase).
    public static let acknowledgement = CallbackAcknowledgement(
        success: CallbackReply(status: 200, contentType: "text/plain; charset=utf-8", body: "SUCCESS"),
        failure: CallbackReply(status: 500, contentType: "text/plain; charset=utf-8", body: "FAIL")
    )

    /// The decoded form fields of a callback body (not verified).
    public static func fields(_ body: [UInt8]) throws(CallbackError) -> [String: String] {
        try FormEncoding.callbackFields(body)
    }

    /// The order the callback names, unverified (for partitioning).
    public static func orderKey(_ body: [UInt8]) throws(CallbackError) -> String {
        guard let key = try fields(body)["outTradeNo"], !key.isEmpty else {
            throw .malformed("callback has no outTradeNo")
        }
        return key
    }

    /// Verifies and parses a callback.
    /// - Parameters:
    ///   - body: the raw form body.
    ///   - key: the key for the callback's `payChannel` (`wxpay` / `alipay`); `nil` when none is configured for it.
    public static func verify(
        _ body: [UInt8], key: (_ payChannel: String?) -> Secret?
    ) throws(CallbackError) -> VerifiedCallback {
        let form = try fields(body)
        if let refundNo = form["refundNo"], !refundNo.isEmpty { return try verifyRefund(form, key: key) }
        // Required: what PayFleet uses. `payNo` is signed when present but blank values are left
        // out of the signature (PaySign.php `array_filter`), so it is not required; `payChannel`,
        // `time`, `attach` and `openId` are optional and unsigned.
        try CallbackError.requireFields(["sign", "code", "outTradeNo", "money", "mchId"], in: form)
        let payChannel = form["payChannel"].flatMap { $0.isEmpty ? nil : $0 }
        guard let secret = key(payChannel) else {
            throw .badSignature("no key is configured for payChannel '\(payChannel ?? "")'")
        }
        guard YunGouOSSigning.verify(form, api: .notify, signature: form["sign"] ?? "", key: secret) else {
            throw .badSignature()
        }
        let moneyText = form["money"] ?? ""
        let money: Money
        do { money = try Money(yuan: moneyText) } catch {
            throw .malformed("callback field 'money' is not an amount in yuan")
        }
        let code = form["code"] ?? ""
        let status: TradeStatus
        if code == "1" {
            guard let orderNo = form["orderNo"], !orderNo.isEmpty else {
                throw .malformed("callback field 'orderNo' is missing")
            }
            status = .succeeded(
                PaymentDetails(
                    transactionID: orderNo,
                    amount: money,
                    paidAt: form["time"].flatMap { ChinaTime.parse($0, "yyyy-MM-dd HH:mm:ss") },
                    vendorMerchantID: form["mchId"]
                ))
        } else {
            // Only code 1 (paid) is documented; anything else is not a payment and the query decides.
            status = .failed(VendorFailure(code: code, message: "YunGouOS callback code \(code)"))
        }
        return VerifiedCallback(
            outTradeNo: form["outTradeNo"] ?? "", status: status, vendorMerchantID: form["mchId"], amount: money,
            signedFields: form)
    }

    /// Verifies and parses a refund callback: its own signed field list
    /// (``YunGouOSSigning/API/refundNotify``, `PaySignUtil.checkRefundNotifySign`), `code` 1 = refunded,
    /// `refundMoney` in yuan, `refundTime` GMT+8. It names the refund by YunGouOS's `refundNo`
    /// (and by the merchant's `outTradeRefundNo` when it carries one).
    static func verifyRefund(
        _ form: [String: String], key: (_ payChannel: String?) -> Secret?
    ) throws(CallbackError) -> VerifiedCallback {
        try CallbackError.requireFields(["sign", "code", "refundNo", "outTradeNo", "mchId", "refundMoney"], in: form)
        let channel = form["channel"].flatMap { $0.isEmpty ? nil : $0 }
        guard let secret = key(channel) ?? key(nil) else {
            throw .badSignature("no key is configured for channel '\(channel ?? "")'")
        }
        guard YunGouOSSigning.verify(form, api: .refundNotify, signature: form["sign"] ?? "", key: secret) else {
            throw .badSignature()
        }
        let money: Money
        do { money = try Money(yuan: form["refundMoney"] ?? "") } catch {
            throw .malformed("refund callback field 'refundMoney' is not an amount in yuan")
        }
        let refundNo = form["refundNo"] ?? ""
        let code = form["code"] ?? ""
        let status: RefundStatus
        if code == "1" {
            var ids = [refundNo]
            if let payRefundNo = form["payRefundNo"], !payRefundNo.isEmpty { ids.append(payRefundNo) }
            status = .succeeded(
                RefundDetails(
                    vendorRefundIDs: ids, amount: money,
                    refundedAt: form["refundTime"].flatMap { ChinaTime.parse($0, "yyyy-MM-dd HH:mm:ss") }))
        } else {
            // Only code 1 (refunded) is documented; anything else is not final and the query decides.
            status = .processing
        }
        var callback = VerifiedCallback(
            outTradeNo: form["outTradeNo"] ?? "", status: .notFound, vendorMerchantID: form["mchId"], amount: nil,
            signedFields: form)
        callback.refund = RefundNotice(
            outRefundNo: form["outTradeRefundNo"] ?? "", status: status, vendorRefundNo: refundNo)
        return callback
    }
}
