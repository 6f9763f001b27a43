import Foundation
import Logging
import Observability
import Payments

/// Refunds on WeChat Pay v2: `secapi/pay/refund` (申请退款, mutual TLS with the merchant's API
/// client certificate), `pay/refundquery` (查询退款) and the refund notification (退款结果通知)
/// whose `req_info` is AES-256-ECB encrypted. Sources are listed in `docs/merchants.md`.
extension WeChatV2Channel: RefundingChannel {
    /// WeChat: "退款有一定延时…建议在提交退款申请后1分钟发起查询" —零钱 refunds arrive within
    /// about 5 minutes, bank cards in 1–3 working days; a refund can be queried for a year.
    public var refundPolicy: RefundPolicy { WeChatPay.refundPolicy }

    /// `apiclient_cert` and `apiclient_key`, together or neither.
    static func readClientIdentity(_ account: MerchantAccount) throws(ChannelError) -> TLSClientIdentity? {
        let certificate = account.secrets["apiclient_cert"].flatMap { $0.isEmpty ? nil : $0 }
        let key = account.secrets["apiclient_key"].flatMap { $0.isEmpty ? nil : $0 }
        switch (certificate, key) {
        case (nil, nil):
            return nil
        case (let certificate?, let key?):
            do throws(ChannelError) {
                return try TLSClientIdentity(certificatePEM: certificate, privateKeyPEM: key)
            } catch {
                throw .configuration(
                    "merchant \(account.alias): secrets 'apiclient_cert'/'apiclient_key': \(error.message)")
            }
        default:
            throw .configuration(
                "merchant \(account.alias): secrets 'apiclient_cert' and 'apiclient_key' must be configured together")
        }
    }

    // MARK: Validation

    public func validateRefund(_ refund: RefundOrder) throws(ChannelError) {
        guard clientIdentity != nil else {
            throw .configuration(
                "merchant \(merchant): refunds need the API client certificate (secrets 'apiclient_cert' and 'apiclient_key')"
            )
        }
        guard WeChatPay.isValidOutRefundNo(refund.outRefundNo) else {
            throw .invalidRequest("out_refund_no must be 1-64 characters of digits, letters and _-|*@")
        }
        guard refund.subRefunds.isEmpty else {
            throw .invalidRequest("wechat-v2 orders have no sub-orders to refund")
        }
        let paid = refund.payment.order.amount
        guard refund.amount.fen > 0, refund.amount <= paid else {
            throw .invalidRequest("refund_fee must be 1 to \(paid.fen) fen (the order's total_fee)")
        }
        if let reason = refund.reason, reason.utf8.count > 80 {
            throw .invalidRequest("refund_desc (reason) must be at most 80 bytes")
        }
        try WeChatPay.validateNotifyURL(refund.notifyURL)
    }

    // MARK: Refund

    public func refund(_ refund: RefundOrder) async throws(ChannelError) -> RefundOutcome {
        try validateRefund(refund)
        var fields = baseFields()
        if let transactionID = refund.transactionID, !transactionID.isEmpty {
            fields["transaction_id"] = transactionID
        }
        fields["out_trade_no"] = refund.payment.order.outTradeNo
        fields["out_refund_no"] = refund.outRefundNo
        fields["total_fee"] = String(refund.payment.order.amount.fen)
        fields["refund_fee"] = String(refund.amount.fen)
        fields["refund_fee_type"] = "CNY"
        fields["notify_url"] = refund.notifyURL
        if let reason = refund.reason, !reason.isEmpty { fields["refund_desc"] = reason }

        let response: [String: String]
        do throws(ChannelError) {
            response = try await call("/secapi/pay/refund", fields, identity: clientIdentity)
        } catch  where error.code == .timeout {
            // The refund may have reached WeChat: query it (WeChat dedupes by out_refund_no).
            logger.debug(
                "wechat v2 refund timed out", metadata: [LogKey.outTradeNo: "\(refund.payment.order.outTradeNo)"])
            return .pending(.unknownResult, memo: [:])
        }
        return try refundOutcome(response, refund: refund)
    }

    /// What a verified `secapi/pay/refund` answer means. Success only says WeChat accepted the
    /// refund ("申请退款成功不代表退款成功"): the result comes by notification or `refundquery`.
    func refundOutcome(_ response: [String: String], refund: RefundOrder) throws(ChannelError) -> RefundOutcome {
        switch try businessResult(response) {
        case .success:
            try expect(response, "out_refund_no", equals: refund.outRefundNo)
            try expect(response, "out_trade_no", equals: refund.payment.order.outTradeNo)
            guard let refundID = response["refund_id"], !refundID.isEmpty else {
                throw .badResponse("refund answer: field refund_id is missing")
            }
            if let text = response["refund_fee"] {
                guard let fee = try? Money(fenString: text), fee == refund.amount else {
                    throw .badResponse("refund answer: refund_fee differs from the refund asked for")
                }
            }
            return .processing(memo: ["refund_id": refundID])
        case .failure(let code, let message):
            switch code {
            case "SYSTEMERROR", "BIZERR_NEED_RETRY":
                // Unknown outcome: the same request may be repeated, and a query tells.
                return .pending(.needQuery, memo: [:])
            case "FREQUENCY_LIMITED":
                throw ChannelError(.rateLimited, "refund: \(message)", vendorCode: code)
            case "SIGNERROR", "APPID_NOT_EXIST", "MCHID_NOT_EXIST", "APPID_MCHID_NOT_MATCH", "NOAUTH", "CERT_ERROR",
                "XML_FORMAT_ERROR", "REQUIRE_POST_METHOD", "POST_DATA_EMPTY", "NOT_UTF8", "LACK_PARAMS", "PARAM_ERROR":
                throw ChannelError(.vendorRejected, "refund refused: \(message)", vendorCode: code)
            default:
                // NOTENOUGH, INVALID_REQUEST (e.g. more than was paid), REFUND_FEE_MISMATCH,
                // TRADE_OVERDUE, USER_ACCOUNT_ABNORMAL, INVALID_TRANSACTIONID, ORDERNOTEXIST, ERROR, …
                return .failed(VendorFailure(code: code, message: message))
            }
        }
    }

    // MARK: Query

    public func queryRefund(_ reference: RefundReference) async throws(ChannelError) -> RefundStatus {
        var fields = baseFields()
        fields["out_refund_no"] = reference.refund.outRefundNo
        let response = try await call("/pay/refundquery", fields)
        return try refundStatus(response, refund: reference.refund)
    }

    /// What a verified `refundquery` answer says about the refund. The answer lists the order's
    /// refunds as `out_refund_no_$n`, `refund_status_$n`, …; only the entry of this refund is read.
    func refundStatus(_ response: [String: String], refund: RefundOrder) throws(ChannelError) -> RefundStatus {
        switch try businessResult(response) {
        case .failure(let code, let message):
            switch code {
            case "REFUNDNOTEXIST": return .notFound
            case "SYSTEMERROR": throw ChannelError(.vendorUnavailable, "refundquery: \(message)", vendorCode: code)
            case "FREQUENCY_LIMITED": throw ChannelError(.rateLimited, "refundquery: \(message)", vendorCode: code)
            default: throw ChannelError(.vendorRejected, "refundquery refused: \(message)", vendorCode: code)
            }
        case .success:
            break
        }
        try expect(response, "out_trade_no", equals: refund.payment.order.outTradeNo)
        guard let countText = response["refund_count"], let count = Int(countText), count >= 1, count <= 100 else {
            throw .badResponse("refundquery answer: field refund_count is missing or not a count")
        }
        guard let n = (0..<count).first(where: { response["out_refund_no_\($0)"] == refund.outRefundNo }) else {
            throw .badResponse("refundquery answer does not list out_refund_no \(refund.outRefundNo)")
        }
        guard let state = response["refund_status_\(n)"], !state.isEmpty else {
            throw .badResponse("refundquery answer: field refund_status_\(n) is missing")
        }
        switch state {
        case "PROCESSING":
            return .processing
        case "SUCCESS":
            guard let feeText = response["refund_fee_\(n)"], let fee = try? Money(fenString: feeText) else {
                throw .badResponse("refundquery answer: field refund_fee_\(n) is missing or not fen")
            }
            let ids = response["refund_id_\(n)"].map { [$0] } ?? []
            let at = response["refund_success_time_\(n)"].flatMap { ChinaTime.parse($0, "yyyy-MM-dd HH:mm:ss") }
            return .succeeded(RefundDetails(vendorRefundIDs: ids, amount: fee, refundedAt: at))
        case "REFUNDCLOSE":
            return .failed(VendorFailure(code: state, message: "refund closed (退款关闭)"))
        case "CHANGE":
            return .failed(
                VendorFailure(code: state, message: "refund abnormal (退款异常): the payer's account is unusable"))
        default:
            throw .badResponse("refundquery: unknown refund_status_\(n) \(state.prefix(32))")
        }
    }

    // MARK: Notification

    /// A refund notification: `return_code`, `appid`, `mch_id`, `nonce_str` and `req_info`, not
    /// signed. It is genuine when `req_info` decrypts with the merchant's API key (valid padding
    /// and a well-formed document) and names this merchant's order.
    func verifyRefundNotification(_ fields: [String: String]) throws(CallbackError) -> VerifiedCallback {
        guard fields["return_code"] == "SUCCESS" else {
            throw .malformed("refund notification return_code is not SUCCESS")
        }
        guard fields["appid"] == appID, fields["mch_id"] == mchID else {
            throw CallbackError(.wrongMerchant, "refund notification names another appid/mch_id")
        }
        let info = try WeChatV2RefundCrypto.fields(reqInfo: fields["req_info"] ?? "", apiKey: apiKey)
        func required(_ name: String) throws(CallbackError) -> String {
            guard let value = info[name], !value.isEmpty else {
                throw .malformed("refund notification: field req_info.\(name) is missing")
            }
            return value
        }
        let outTradeNo = try required("out_trade_no")
        let outRefundNo = try required("out_refund_no")
        let state = try required("refund_status")
        let transactionID = try required("transaction_id")
        let totalText = try required("total_fee")
        guard let total = try? Money(fenString: totalText) else {
            throw .malformed("refund notification: field req_info.total_fee is not fen")
        }
        let status: RefundStatus
        switch state {
        case "SUCCESS":
            let feeText = try required("refund_fee")
            guard let fee = try? Money(fenString: feeText) else {
                throw .malformed("refund notification: field req_info.refund_fee is not fen")
            }
            let at = info["success_time"].flatMap { ChinaTime.parse($0, "yyyy-MM-dd HH:mm:ss") }
            status = .succeeded(
                RefundDetails(vendorRefundIDs: info["refund_id"].map { [$0] } ?? [], amount: fee, refundedAt: at))
        case "REFUNDCLOSE":
            status = .failed(VendorFailure(code: state, message: "refund closed (退款关闭)"))
        case "CHANGE":
            status = .failed(VendorFailure(code: state, message: "refund abnormal (退款异常)"))
        default:
            throw .malformed("refund notification: unknown refund_status \(state.prefix(32))")
        }
        var audit = info
        audit["event"] = "refund"
        return VerifiedCallback(
            outTradeNo: outTradeNo,
            status: .refunded(PaymentDetails(transactionID: transactionID, amount: total, vendorMerchantID: mchID)),
            vendorMerchantID: mchID, amount: nil,
            notificationID: "\(info["refund_id"] ?? outRefundNo)/\(state)", fields: audit,
            refund: RefundNotice(outRefundNo: outRefundNo, status: status)
        )
    }
}

extension WeChatPay {
    /// Query a processing refund after a minute (WeChat's advice), then back off: 2, 5, 15, 30
    /// minutes, then hourly; give up after 3 days (a bank-card refund takes 1–3 working days).
    static let refundPolicy = RefundPolicy(
        firstQuery: .seconds(60),
        queryIntervals: [.seconds(120), .seconds(300), .seconds(900), .seconds(1800), .seconds(3600)],
        queryLimit: .seconds(3 * 24 * 3600)
    )

    /// Whether `text` is a refund number WeChat accepts: 1–64 characters of digits, letters and `_-|*@`.
    static func isValidOutRefundNo(_ text: String, maximumLength: Int = 64) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
        return bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "|")
                || byte == UInt8(ascii: "*") || byte == UInt8(ascii: "@")
        }
    }
}
