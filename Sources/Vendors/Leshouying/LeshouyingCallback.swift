import Foundation
import Payments

/// Parses and verifies 乐收赢 payment callbacks: a JSON POST with `return_code`, `return_msg`,
/// `result_code` (`PAY_SUCCESS` / `PAY_IN_PROCESS` / `PAY_FAIL`), `inst_no`, `mch_no`,
/// `pay_trace_no`, `pay_time`, `total_amount` (fen), `trade_no`, `end_time`, `attach`, `trade_type`
/// and `sign` over every non-null member.
public enum LeshouyingCallback {
    /// The answer a third-party integration gives (HTTP 200, JSON); the default. The vendor's own
    /// table was not retrievable, so ``textAcknowledgement`` is available through `ack_format: text`.
    public static let jsonAcknowledgement = CallbackAcknowledgement(
        success: CallbackReply(
            status: 200, contentType: "application/json; charset=utf-8",
            body: #"{"return_code":"SUCCESS","return_msg":"成功"}"#),
        failure: CallbackReply(
            status: 500, contentType: "application/json; charset=utf-8",
            body: #"{"return_code":"FAIL","return_msg":"处理失败"}"#)
    )

    /// The plain-text variant (`SUCCESS`), for merchants whose vendor contact confirms it.
    public static let textAcknowledgement = CallbackAcknowledgement(
        success: CallbackReply(status: 200, contentType: "text/plain; charset=utf-8", body: "SUCCESS"),
        failure: CallbackReply(status: 500, contentType: "text/plain; charset=utf-8", body: "FAIL")
    )

    /// The order a callback names (`pay_trace_no`, which PayFleet sets to `out_trade_no`), unverified.
    public static func orderKey(_ body: [UInt8]) throws(CallbackError) -> String {
        guard let object = LeshouyingSigning.object(body) else {
            throw .malformed("callback body is not a JSON object")
        }
        guard let key = object["pay_trace_no"].flatMap(LeshouyingSigning.text), !key.isEmpty else {
            throw .malformed("callback has no pay_trace_no")
        }
        return key
    }

    /// Verifies and parses a callback with the 机构密钥.
    public static func verify(_ body: [UInt8], key: Secret) throws(CallbackError) -> VerifiedCallback {
        guard let object = LeshouyingSigning.object(body) else {
            throw .malformed("callback body is not a JSON object")
        }
        let fields = LeshouyingSigning.flatten(object)
        guard let signature = fields["sign"], !signature.isEmpty else {
            throw .malformed("callback field 'sign' is missing")
        }
        try CallbackError.requireFields(["pay_trace_no", "result_code", "total_amount", "mch_no"], in: fields)
        guard LeshouyingSigning.verify(fields, signature: signature, key: key) else { throw .badSignature() }
        if let returnCode = fields["return_code"], returnCode != "SUCCESS" {
            throw .malformed("callback return_code is \(returnCode)")
        }
        let amount: Money
        do { amount = try Money(fenString: fields["total_amount"] ?? "") } catch {
            throw .malformed("callback total_amount: \(error)")
        }
        let status: TradeStatus
        switch fields["result_code"] {
        case "PAY_SUCCESS":
            guard let tradeNo = fields["trade_no"], !tradeNo.isEmpty else {
                throw .malformed("paid callback without trade_no")
            }
            status = .succeeded(
                PaymentDetails(
                    transactionID: tradeNo,
                    amount: amount,
                    paidAt: fields["end_time"].flatMap { ChinaTime.parse($0, "yyyyMMddHHmmss") },
                    vendorMerchantID: fields["mch_no"]
                ))
        case "PAY_IN_PROCESS":
            status = .paying
        case "PAY_FAIL":
            status = .failed(VendorFailure(code: "PAY_FAIL", message: fields["return_msg"] ?? ""))
        default:
            throw .malformed("callback result_code is not PAY_SUCCESS, PAY_IN_PROCESS or PAY_FAIL")
        }
        return VerifiedCallback(
            outTradeNo: fields["pay_trace_no"] ?? "", status: status, vendorMerchantID: fields["mch_no"],
            amount: amount,
            signedFields: fields)
    }
}
