import Crypto
import Foundation
import Hummingbird
import NIOCore
import _CryptoExtras

/// WeChat Pay v2 refunds on the sandbox: `/secapi/pay/refund` (申请退款), `/pay/refundquery`
/// (查询退款) and the refund notification (退款结果通知) with its AES-256-ECB `req_info`.
///
/// The sandbox speaks plain HTTP, so it cannot see a TLS client certificate. The API client
/// certificate check of `secapi` is made on the `X-Sandbox-Client-Cert-SHA256` header instead: the
/// SHA-256 fingerprint (lowercase hex of the DER bytes) of the certificate the client would present
/// must be the one of the merchant's `apiclient_cert`. Without the header the call is answered as a
/// TLS front end answers a request without a certificate (HTTP 400, an HTML page); with another
/// certificate `CERT_ERROR`. The check follows the request's signature check.
///
/// Magic refund amounts (`refund_fee` in fen, last two digits), documented in `docs/sandbox.md`:
/// `…91` stays PROCESSING, `…92` ends REFUNDCLOSE, `…93` is answered SYSTEMERROR although it was
/// taken (only a query finds it SUCCESS, no notification), `…94` is refused NOTENOUGH.
extension WeChatV2Simulator {
    struct Refund: Sendable {
        var mchID: String
        var outTradeNo: String
        var outRefundNo: String
        var refundID: String
        var refundFee: Int64
        var totalFee: Int64
        var notifyURL: String?
        var state: String
        var successTime: String?
        var scenario: WeChatRefundScenario
        var notificationsSent = 0
    }

    static let clientCertificateHeader = "X-Sandbox-Client-Cert-SHA256"

    /// Whether the request presents the merchant's API client certificate (see the type's note).
    func presentsClientCertificate(_ headers: [String: String], merchant: Merchant, hmac: Bool) -> Response? {
        guard let presented = headers[Self.clientCertificateHeader.lowercased()], !presented.isEmpty else {
            return WeChatSandbox.response(
                status: .badRequest, contentType: "text/html",
                body: Array(
                    "<html><head><title>400 No required SSL certificate was sent</title></head><body><center><h1>400 Bad Request</h1></center><center>No required SSL certificate was sent</center></body></html>"
                        .utf8))
        }
        guard let expected = merchant.certificateFingerprint, presented.lowercased() == expected else {
            return businessFailure("CERT_ERROR", "证书校验错误", merchant: merchant, hmac: hmac)
        }
        return nil
    }

    func refund(_ fields: [String: String], merchant: Merchant, hmac: Bool) -> Response {
        for name in ["out_refund_no", "total_fee", "refund_fee"] where (fields[name] ?? "").isEmpty {
            return businessFailure("PARAM_ERROR", "缺少参数\(name)", merchant: merchant, hmac: hmac)
        }
        let outRefundNo = fields["out_refund_no"] ?? ""
        guard outRefundNo.utf8.count <= 64,
            outRefundNo.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-|*@".contains($0)) })
        else { return businessFailure("PARAM_ERROR", "out_refund_no参数格式错误", merchant: merchant, hmac: hmac) }
        guard let totalFee = Int64(fields["total_fee"] ?? ""), let refundFee = Int64(fields["refund_fee"] ?? ""),
            refundFee > 0
        else { return businessFailure("PARAM_ERROR", "refund_fee参数错误", merchant: merchant, hmac: hmac) }
        let byTransaction = fields["transaction_id"].flatMap { id in
            orders.withLockedValue { $0.values.first { $0.transactionID == id }?.outTradeNo }
        }
        guard let outTradeNo = byTransaction ?? fields["out_trade_no"], !outTradeNo.isEmpty else {
            return businessFailure("PARAM_ERROR", "out_trade_no和transaction_id不能同时为空", merchant: merchant, hmac: hmac)
        }
        let scenario = WeChatRefundScenario(amountFen: refundFee)
        if scenario == .notEnough {
            return businessFailure("NOTENOUGH", "基本账户余额不足，请充值后重新发起", merchant: merchant, hmac: hmac)
        }
        enum Decision { case refused(String, String), existing(Refund), created(Refund) }
        let decision: Decision = orders.withLockedValue { orders in
            guard var order = orders[outTradeNo], order.mchID == merchant.mchID else {
                return .refused("ORDERNOTEXIST", "订单不存在")
            }
            guard order.state == "SUCCESS" || order.state == "REFUND" else {
                return .refused("INVALID_REQUEST", "订单状态错误，未支付的订单不能退款")
            }
            guard totalFee == order.totalFee else { return .refused("INVALID_REQUEST", "订单金额与实际支付金额不一致") }
            return refunds.withLockedValue { refunds in
                if let existing = refunds[outRefundNo] {
                    guard existing.outTradeNo == outTradeNo, existing.refundFee == refundFee else {
                        return .refused("REFUND_FEE_MISMATCH", "订单金额或退款金额与之前请求不一致，请核实后再试")
                    }
                    return .existing(existing)
                }
                let refunded = refunds.values.filter { $0.outTradeNo == outTradeNo && $0.state != "REFUNDCLOSE" }
                    .reduce(Int64(0)) { $0 + $1.refundFee }
                guard refunded + refundFee <= order.totalFee else {
                    return .refused("INVALID_REQUEST", "退款金额大于订单可退金额")
                }
                let refund = Refund(
                    mchID: merchant.mchID, outTradeNo: outTradeNo, outRefundNo: outRefundNo,
                    refundID: "50000" + WeChatSandbox.random(24, from: "0123456789"), refundFee: refundFee,
                    totalFee: order.totalFee, notifyURL: fields["notify_url"] ?? order.notifyURL,
                    state: scenario == .needsQuery ? "SUCCESS" : "PROCESSING",
                    successTime: scenario == .needsQuery ? WeChatSandbox.chinaTime(Date(), "yyyy-MM-dd HH:mm:ss") : nil,
                    scenario: scenario)
                refunds[outRefundNo] = refund
                order.state = "REFUND"
                orders[outTradeNo] = order
                return .created(refund)
            }
        }
        let refund: Refund
        switch decision {
        case .refused(let code, let message):
            return businessFailure(code, message, merchant: merchant, hmac: hmac)
        case .existing(let existing):
            refund = existing
        case .created(let created):
            refund = created
            if scenario == .needsQuery {
                return businessFailure("SYSTEMERROR", "系统超时，请使用相同参数再次调用", merchant: merchant, hmac: hmac)
            }
            settleLater(outRefundNo: created.outRefundNo, hmac: hmac)
        }
        var reply = successFields(merchant: merchant)
        reply["result_code"] = "SUCCESS"
        reply["out_trade_no"] = refund.outTradeNo
        reply["transaction_id"] = orders.withLockedValue { $0[refund.outTradeNo]?.transactionID } ?? ""
        reply["out_refund_no"] = refund.outRefundNo
        reply["refund_id"] = refund.refundID
        reply["refund_fee"] = String(refund.refundFee)
        reply["settlement_refund_fee"] = String(refund.refundFee)
        reply["total_fee"] = String(refund.totalFee)
        reply["cash_fee"] = String(refund.totalFee)
        reply["cash_refund_fee"] = String(refund.refundFee)
        return signed(reply, merchant: merchant, hmac: hmac, corrupt: false)
    }

    /// Moves an accepted refund to its end state after a (time-scaled) few seconds and notifies.
    func settleLater(outRefundNo: String, hmac: Bool) {
        let delay = context.configuration.scaled(.seconds(5))
        Task { [self] in
            try? await Task.sleep(for: delay)
            let settled: Refund? = refunds.withLockedValue { refunds in
                guard var refund = refunds[outRefundNo], refund.state == "PROCESSING" else { return nil }
                switch refund.scenario {
                case .staysProcessing: return nil
                case .fails:
                    refund.state = "REFUNDCLOSE"
                default:
                    refund.state = "SUCCESS"
                    refund.successTime = WeChatSandbox.chinaTime(Date(), "yyyy-MM-dd HH:mm:ss")
                }
                refunds[outRefundNo] = refund
                return refund
            }
            if let settled { notifyRefund(settled) }
        }
    }

    func refundQuery(_ fields: [String: String], merchant: Merchant, hmac: Bool) -> Response {
        let all = refunds.withLockedValue { Array($0.values) }.filter { $0.mchID == merchant.mchID }
        var outTradeNo: String?
        if let no = fields["out_refund_no"], !no.isEmpty {
            outTradeNo = all.first { $0.outRefundNo == no }?.outTradeNo
        } else if let id = fields["refund_id"], !id.isEmpty {
            outTradeNo = all.first { $0.refundID == id }?.outTradeNo
        } else if let no = fields["out_trade_no"], !no.isEmpty {
            outTradeNo = no
        } else if let id = fields["transaction_id"], !id.isEmpty {
            outTradeNo = orders.withLockedValue { $0.values.first { $0.transactionID == id }?.outTradeNo }
        } else {
            return businessFailure("PARAM_ERROR", "缺少参数out_refund_no", merchant: merchant, hmac: hmac)
        }
        var listed = all.filter { $0.outTradeNo == outTradeNo }.sorted { $0.refundID < $1.refundID }
        if let no = fields["out_refund_no"], !no.isEmpty { listed = listed.filter { $0.outRefundNo == no } }
        guard let outTradeNo, !listed.isEmpty, let order = orders.withLockedValue({ $0[outTradeNo] }) else {
            return businessFailure("REFUNDNOTEXIST", "退款订单查询失败", merchant: merchant, hmac: hmac)
        }
        var reply = successFields(merchant: merchant)
        reply["result_code"] = "SUCCESS"
        reply["out_trade_no"] = outTradeNo
        reply["transaction_id"] = order.transactionID ?? ""
        reply["total_fee"] = String(order.totalFee)
        reply["cash_fee"] = String(order.totalFee)
        reply["refund_count"] = String(listed.count)
        reply["refund_fee"] = String(listed.reduce(Int64(0)) { $0 + $1.refundFee })
        for (n, refund) in listed.enumerated() {
            reply["out_refund_no_\(n)"] = refund.outRefundNo
            reply["refund_id_\(n)"] = refund.refundID
            reply["refund_channel_\(n)"] = "ORIGINAL"
            reply["refund_fee_\(n)"] = String(refund.refundFee)
            reply["settlement_refund_fee_\(n)"] = String(refund.refundFee)
            reply["refund_status_\(n)"] = refund.state
            reply["refund_recv_accout_\(n)"] = "支付用户的零钱"
            if let time = refund.successTime { reply["refund_success_time_\(n)"] = time }
        }
        return signed(reply, merchant: merchant, hmac: hmac, corrupt: false)
    }

    /// The refund notification: `req_info` is the `<root>` document, AES-256-ECB (PKCS#7) with
    /// key = lowercase hex MD5 of the API key, base64; the outer document is not signed.
    func notifyRefund(_ refund: Refund) {
        guard let merchant = merchants[refund.mchID], let url = refund.notifyURL, !url.isEmpty else { return }
        let order = orders.withLockedValue { $0[refund.outTradeNo] }
        var info: [String: String] = [
            "transaction_id": order?.transactionID ?? "", "out_trade_no": refund.outTradeNo,
            "refund_id": refund.refundID, "out_refund_no": refund.outRefundNo, "total_fee": String(refund.totalFee),
            "settlement_total_fee": String(refund.totalFee), "refund_fee": String(refund.refundFee),
            "settlement_refund_fee": String(refund.refundFee), "refund_status": refund.state,
            "refund_recv_accout": "支付用户的零钱", "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS",
            "refund_request_source": "API",
        ]
        if let time = refund.successTime { info["success_time"] = time }
        var document = "<root>"
        for (name, value) in info.sorted(by: { $0.key < $1.key }) {
            document += "\n<\(name)><![CDATA[\(value)]]></\(name)>"
        }
        document += "\n</root>"
        guard let reqInfo = WeChatSandbox.ecbEncrypt(Array(document.utf8), apiKey: merchant.key) else { return }
        let body = WeChatSandbox.xml([
            "return_code": "SUCCESS", "appid": merchant.appID, "mch_id": merchant.mchID,
            "nonce_str": WeChatSandbox.random(32), "req_info": reqInfo,
        ])
        refunds.withLockedValue { $0[refund.outRefundNo]?.notificationsSent += 1 }
        context.dispatcher.dispatch(
            CallbackDispatcher.Delivery(
                channel: Self.channel, outTradeNo: refund.outTradeNo, url: url,
                headers: [("Content-Type", "text/xml; charset=utf-8")], body: Array(body.utf8),
                retrySchedule: WeChatSandbox.retrySchedule,
                isAcknowledged: { status, body in
                    status == 200 && WeChatSandbox.parseXML(Array(body.utf8))?["return_code"] == "SUCCESS"
                }
            ))
    }
}

/// What a refund amount (fen, last two digits) asks the WeChat sandboxes for.
enum WeChatRefundScenario: Sendable, Hashable {
    case normal
    /// `…91`: accepted, stays PROCESSING for good (no notification).
    case staysProcessing
    /// `…92`: accepted, then fails (v2 REFUNDCLOSE, v3 CLOSED) with a notification.
    case fails
    /// `…93`: taken and refunded, but the answer is a system error and no notification is sent: only a query finds it.
    case needsQuery
    /// `…94`: refused, the merchant's balance is too low (v2 NOTENOUGH, v3 NOT_ENOUGH).
    case notEnough

    init(amountFen: Int64) {
        switch amountFen % 100 {
        case 91: self = .staysProcessing
        case 92: self = .fails
        case 93: self = .needsQuery
        case 94: self = .notEnough
        default: self = .normal
        }
    }
}

extension WeChatSandbox {
    /// AES-256-ECB with PKCS#7 over `plaintext`, key = the ASCII lowercase hex MD5 of `apiKey`, base64.
    static func ecbEncrypt(_ plaintext: [UInt8], apiKey: String) -> String? {
        let keyText = hex(Insecure.MD5.hash(data: Array(apiKey.utf8)), upper: false)
        let key = SymmetricKey(data: Array(keyText.utf8))
        let pad = 16 - plaintext.count % 16
        let padded = plaintext + [UInt8](repeating: UInt8(pad), count: pad)
        var out: [UInt8] = []
        for start in stride(from: 0, to: padded.count, by: 16) {
            var block = Array(padded[start..<(start + 16)])
            guard (try? AES.permute(&block, key: key)) != nil else { return nil }
            out += block
        }
        return Data(out).base64EncodedString()
    }

    /// Lowercase hex SHA-256 of the DER bytes of the first certificate in a PEM text.
    static func certificateFingerprint(pem: String) -> String? {
        guard let begin = pem.range(of: "-----BEGIN CERTIFICATE-----"),
            let end = pem.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<pem.endIndex)
        else { return nil }
        let base64 = pem[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: String(base64)) else { return nil }
        return hex(SHA256.hash(data: der), upper: false)
    }
}
