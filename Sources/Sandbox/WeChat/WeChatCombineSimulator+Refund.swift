import Foundation
import Hummingbird
import NIOCore

/// APIv3 domestic refunds on the sandbox, as combine (合单) merchants use them: one refund per
/// sub-order (`POST /v3/refund/domestic/refunds`, `GET /v3/refund/domestic/refunds/{out_refund_no}`),
/// signed answers, WeChat's error shapes, and the signed, encrypted `REFUND.*` notification.
///
/// Magic refund amounts (`amount.refund` of one sub-order, last two digits) are the v2 simulator's
/// (``WeChatRefundScenario``): `…91` stays PROCESSING, `…92` ends CLOSED, `…93` answers 500
/// SYSTEM_ERROR although it was taken (a query finds it SUCCESS, no notification), `…94` is refused
/// 403 NOT_ENOUGH.
extension WeChatCombineSimulator {
    struct Refund: Sendable {
        var mchID: String
        var subMchID: String
        var combineOutTradeNo: String
        var outTradeNo: String
        var transactionID: String
        var outRefundNo: String
        var refundID: String
        var refund: Int64
        var total: Int64
        var notifyURL: String
        var status: String
        var createTime: String
        var successTime: String?
        var scenario: WeChatRefundScenario
        var notificationsSent = 0
    }

    struct RefundRequestBody: Decodable {
        struct Amount: Decodable {
            var refund: Int64
            var total: Int64
            var currency: String
        }
        var sub_mchid: String?
        var transaction_id: String?
        var out_trade_no: String?
        var out_refund_no: String
        var reason: String?
        var notify_url: String?
        var amount: Amount
    }

    func addRefundRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v3/refund/domestic/refunds") { [self] request, _ in
            await self.authenticated(request) { merchant, body in self.createRefund(merchant, body: body) }
        }
        router.get("/v3/refund/domestic/refunds/:outRefundNo") { [self] request, context in
            let raw = context.parameters.get("outRefundNo") ?? ""
            let outRefundNo = raw.removingPercentEncoding ?? raw
            let subMchID = request.uri.queryParameters.get("sub_mchid")
            return await self.authenticated(request) { merchant, _ in
                self.queryRefund(merchant, outRefundNo: outRefundNo, subMchID: subMchID)
            }
        }
    }

    static func refundKey(_ mchID: String, _ outRefundNo: String) -> String { mchID + "/" + outRefundNo }

    func createRefund(_ merchant: Merchant, body: [UInt8]) -> Response {
        guard let request = try? JSONDecoder().decode(RefundRequestBody.self, from: Data(body)) else {
            return signedError(.badRequest, "PARAM_ERROR", "输入源“/body”映射到值字段失败", merchant: merchant)
        }
        let no = request.out_refund_no
        guard !no.isEmpty, no.utf8.count <= 64,
            no.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-|*@".contains($0)) })
        else { return signedError(.badRequest, "PARAM_ERROR", "out_refund_no格式错误", merchant: merchant) }
        guard request.amount.currency == "CNY", request.amount.refund > 0, request.amount.total > 0 else {
            return signedError(.badRequest, "PARAM_ERROR", "amount参数错误", merchant: merchant)
        }
        if let url = request.notify_url, !(url.hasPrefix("http://") || url.hasPrefix("https://")) || url.contains("?") {
            return signedError(.badRequest, "PARAM_ERROR", "notify_url格式错误", merchant: merchant)
        }
        let scenario = WeChatRefundScenario(amountFen: request.amount.refund)
        if scenario == .notEnough {
            return signedError(.forbidden, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起", merchant: merchant)
        }
        enum Decision { case refused(HTTPResponse.Status, String, String), existing(Refund), created(Refund) }
        let decision: Decision = orders.withLockedValue { orders in
            // The combine order holding the sub-order, of this merchant.
            let found = orders.values.first { order in
                order.mchID == merchant.mchID
                    && order.subOrders.contains { sub in
                        sub.out_trade_no == request.out_trade_no
                            || (request.transaction_id != nil && sub.transaction_id == request.transaction_id)
                    }
            }
            guard let order = found,
                let subIndex = order.subOrders.firstIndex(where: {
                    $0.out_trade_no == request.out_trade_no
                        || (request.transaction_id != nil && $0.transaction_id == request.transaction_id)
                })
            else { return .refused(.notFound, "RESOURCE_NOT_EXISTS", "订单不存在") }
            let sub = order.subOrders[subIndex]
            guard (request.sub_mchid ?? merchant.mchID) == sub.mchid else {
                return .refused(.badRequest, "PARAM_ERROR", "sub_mchid与订单的商户号不一致")
            }
            guard sub.trade_state == "SUCCESS" || sub.trade_state == "REFUND" else {
                return .refused(.badRequest, "INVALID_REQUEST", "订单未支付，不能发起退款")
            }
            guard request.amount.total == sub.total_amount else {
                return .refused(.badRequest, "INVALID_REQUEST", "订单金额与原支付金额不一致")
            }
            let key = Self.refundKey(merchant.mchID, no)
            return refunds.withLockedValue { refunds in
                if let existing = refunds[key] {
                    guard existing.outTradeNo == sub.out_trade_no, existing.refund == request.amount.refund else {
                        return .refused(.badRequest, "INVALID_REQUEST", "同一退款单号的退款金额与之前请求不一致")
                    }
                    return .existing(existing)
                }
                let refunded = refunds.values.filter {
                    $0.mchID == merchant.mchID && $0.outTradeNo == sub.out_trade_no && $0.status != "CLOSED"
                        && $0.status != "ABNORMAL"
                }.reduce(Int64(0)) { $0 + $1.refund }
                guard refunded + request.amount.refund <= sub.total_amount else {
                    return .refused(.badRequest, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
                }
                let now = WeChatSandbox.chinaTime(Date(), "yyyy-MM-dd'T'HH:mm:ssXXXXX")
                let refund = Refund(
                    mchID: merchant.mchID, subMchID: sub.mchid, combineOutTradeNo: order.outTradeNo,
                    outTradeNo: sub.out_trade_no, transactionID: sub.transaction_id ?? "", outRefundNo: no,
                    refundID: "50300" + WeChatSandbox.random(24, from: "0123456789"), refund: request.amount.refund,
                    total: sub.total_amount, notifyURL: request.notify_url ?? order.notifyURL,
                    status: scenario == .needsQuery ? "SUCCESS" : "PROCESSING", createTime: now,
                    successTime: scenario == .needsQuery ? now : nil, scenario: scenario)
                refunds[key] = refund
                var updated = order
                updated.subOrders[subIndex].trade_state = "REFUND"
                orders[order.outTradeNo] = updated
                return .created(refund)
            }
        }
        switch decision {
        case .refused(let status, let code, let message):
            return signedError(status, code, message, merchant: merchant)
        case .existing(let refund):
            return signed(.ok, body: WeChatSandbox.json(Self.refundJSON(refund)), merchant: merchant)
        case .created(let refund):
            if scenario == .needsQuery {
                return signedError(.internalServerError, "SYSTEM_ERROR", "系统错误，请使用相同参数稍后重新调用", merchant: merchant)
            }
            settleRefundLater(key: Self.refundKey(merchant.mchID, refund.outRefundNo))
            return signed(.ok, body: WeChatSandbox.json(Self.refundJSON(refund)), merchant: merchant)
        }
    }

    func queryRefund(_ merchant: Merchant, outRefundNo: String, subMchID: String?) -> Response {
        guard let refund = refunds.withLockedValue({ $0[Self.refundKey(merchant.mchID, outRefundNo)] }),
            subMchID == nil || subMchID == refund.subMchID
        else { return signedError(.notFound, "RESOURCE_NOT_EXISTS", "退款单不存在", merchant: merchant) }
        return signed(.ok, body: WeChatSandbox.json(Self.refundJSON(refund)), merchant: merchant)
    }

    /// The refund as create and query answer it (wechatpay-go `refunddomestic.Refund`).
    static func refundJSON(_ refund: Refund) -> JSONish {
        var object: [String: JSONish] = [
            "refund_id": .string(refund.refundID), "out_refund_no": .string(refund.outRefundNo),
            "transaction_id": .string(refund.transactionID), "out_trade_no": .string(refund.outTradeNo),
            "channel": .string("ORIGINAL"), "user_received_account": .string("支付用户零钱"),
            "create_time": .string(refund.createTime), "status": .string(refund.status),
            "funds_account": .string("AVAILABLE"),
            "amount": .object([
                "total": .int(refund.total), "refund": .int(refund.refund), "payer_total": .int(refund.total),
                "payer_refund": .int(refund.refund), "settlement_refund": .int(refund.refund),
                "settlement_total": .int(refund.total), "discount_refund": .int(0), "currency": .string("CNY"),
            ]),
        ]
        if let time = refund.successTime { object["success_time"] = .string(time) }
        return .object(object)
    }

    func settleRefundLater(key: String) {
        let delay = context.configuration.scaled(.seconds(5))
        Task { [self] in
            try? await Task.sleep(for: delay)
            let settled: Refund? = refunds.withLockedValue { refunds in
                guard var refund = refunds[key], refund.status == "PROCESSING" else { return nil }
                switch refund.scenario {
                case .staysProcessing: return nil
                case .fails: refund.status = "CLOSED"
                default:
                    refund.status = "SUCCESS"
                    refund.successTime = WeChatSandbox.chinaTime(Date(), "yyyy-MM-dd'T'HH:mm:ssXXXXX")
                }
                refunds[key] = refund
                return refund
            }
            if let settled { notifyRefund(settled) }
        }
    }

    /// `REFUND.SUCCESS` / `REFUND.CLOSED` / `REFUND.ABNORMAL`: the payment notification's envelope,
    /// signature and AEAD, with the refund resource (`original_type` `refund`).
    func notifyRefund(_ refund: Refund) {
        guard let merchant = merchants[refund.mchID], !refund.notifyURL.isEmpty else { return }
        var resource: [String: JSONish] = [
            "mchid": .string(refund.subMchID), "out_trade_no": .string(refund.outTradeNo),
            "transaction_id": .string(refund.transactionID), "out_refund_no": .string(refund.outRefundNo),
            "refund_id": .string(refund.refundID), "refund_status": .string(refund.status),
            "user_received_account": .string("支付用户零钱"),
            "amount": .object([
                "total": .int(refund.total), "refund": .int(refund.refund), "payer_total": .int(refund.total),
                "payer_refund": .int(refund.refund),
            ]),
        ]
        if let time = refund.successTime { resource["success_time"] = .string(time) }
        let nonce = WeChatSandbox.random(12)
        guard
            let ciphertext = WeChatPlatformKeys.encrypt(
                WeChatSandbox.json(JSONish.object(resource)), apiV3Key: merchant.apiV3Key, nonce: nonce,
                associatedData: "refund")
        else { return }
        let summary = refund.status == "SUCCESS" ? "退款成功" : refund.status == "CLOSED" ? "退款关闭" : "退款异常"
        let envelope: JSONish = .object([
            "id": .string(UUID().uuidString.lowercased()),
            "create_time": .string(WeChatSandbox.chinaTime(Date(), "yyyy-MM-dd'T'HH:mm:ssXXXXX")),
            "event_type": .string("REFUND.\(refund.status)"), "resource_type": .string("encrypt-resource"),
            "summary": .string(summary),
            "resource": .object([
                "algorithm": .string("AEAD_AES_256_GCM"), "ciphertext": .string(ciphertext),
                "associated_data": .string("refund"), "nonce": .string(nonce), "original_type": .string("refund"),
            ]),
        ])
        let body = WeChatSandbox.json(envelope)
        let signing = signingKey(for: merchant)
        let timestamp = String(Int64(Date().timeIntervalSince1970))
        let headerNonce = WeChatSandbox.random(32)
        var message = Array("\(timestamp)\n\(headerNonce)\n".utf8) + body
        message.append(UInt8(ascii: "\n"))
        let signature = WeChatPlatformKeys.sign(message, with: signing.privateKey)
        refunds.withLockedValue { $0[Self.refundKey(refund.mchID, refund.outRefundNo)]?.notificationsSent += 1 }
        context.dispatcher.dispatch(
            CallbackDispatcher.Delivery(
                channel: Self.channel, outTradeNo: refund.combineOutTradeNo, url: refund.notifyURL,
                headers: [
                    ("Content-Type", "application/json"), ("Wechatpay-Serial", signing.serial),
                    ("Wechatpay-Signature", signature), ("Wechatpay-Timestamp", timestamp),
                    ("Wechatpay-Nonce", headerNonce), ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048"),
                ],
                body: body, retrySchedule: WeChatSandbox.retrySchedule,
                isAcknowledged: { status, _ in status == 200 || status == 204 }
            ))
    }
}
