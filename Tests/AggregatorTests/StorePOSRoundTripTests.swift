import Foundation
import Payments
import StorePOS
import Testing

@Suite(.timeLimit(.minutes(2))) struct StorePOSRoundTripTests {
    static func key(_ callback: RawCallback) -> String? { try? StorePOSCallback.orderKey(callback.body) }

    @Test func nativeWeChatRoundTrip() async throws {
        try await withHarness { harness in
            let channel = try harness.storepos()
            #expect(channel.policy.pendingFirstQuery == .seconds(5))
            #expect(channel.policy.pendingQueryInterval == .seconds(5))
            #expect(channel.policy.pendingQueryLimit == .seconds(120))
            #expect(channel.policy.closeMaximumAge == .seconds(300))
            let order = harness.order(.storepos, fen: 4, expiresAt: Date().addingTimeInterval(3600))
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            #expect(prepared.codeURL?.hasPrefix("weixin://") == true)
            #expect(prepared.qrImageURL?.hasPrefix("https://pay.storepos.cn/pay/qrcode?uuid=") == true)
            #expect(prepared.memo["paytype"] == "WECHAT")
            let reference = OrderReference(order: order, memo: prepared.memo)
            #expect(try await channel.query(reference) == .notPaid)
            try await harness.pay(.storepos, order.outTradeNo)
            let callbacks = try await harness.waitForCallbacks(.storepos, outTradeNo: order.outTradeNo, key: Self.key)
            let verified = try await channel.verifyCallback(try #require(callbacks.first))
            #expect(verified.amount == Money(fen: 4))
            #expect(verified.fields["trade_type"] == "pay.weixin.native")
            guard case .succeeded(let payment) = verified.status else {
                Issue.record("callback not paid")
                return
            }
            guard case .succeeded(let queried) = try await channel.query(reference) else {
                Issue.record("query not paid")
                return
            }
            #expect(queried.transactionID == payment.transactionID)
            #expect(queried.amount == Money(fen: 4))
            // Close queries first and never reverses a paid order.
            #expect(try await channel.close(reference) == .alreadyPaid)
            #expect(try await harness.sandboxOrder(.storepos, order.outTradeNo)?.state == "SUCCESS")
            #expect(try await harness.sandboxOrder(.storepos, order.outTradeNo)?.callbacksSent == 1)
        }
    }

    @Test func alipayEcnyJspayAndGoodsDetail() async throws {
        try await withHarness { harness in
            let channel = try harness.storepos()
            let alipay = harness.order(.storepos, fen: 100, options: ["pay_type": .string("alipay")])
            guard case .prepared(let ali) = try await channel.create(alipay) else {
                Issue.record("alipay not prepared")
                return
            }
            #expect(ali.codeURL?.hasPrefix("https://qr.alipay.com/") == true)
            try await harness.pay(.storepos, alipay.outTradeNo)
            let aliCallbacks = try await harness.waitForCallbacks(
                .storepos, outTradeNo: alipay.outTradeNo, key: Self.key)
            let verified = try await channel.verifyCallback(try #require(aliCallbacks.first))
            #expect(verified.fields["buyer_user_id"]?.hasPrefix("2088") == true)
            #expect(verified.fields["trade_type"] == "pay.alipay.native")

            let ecny = harness.order(.storepos, fen: 100, options: ["pay_type": .string("ecny")])
            guard case .prepared(let digital) = try await channel.create(ecny) else {
                Issue.record("ecny not prepared")
                return
            }
            #expect(digital.codeURL?.hasPrefix("https://qr.pbcdci.cn/") == true)
            #expect(try await channel.query(OrderReference(order: ecny, memo: digital.memo)) == .notPaid)

            let jspay = harness.order(
                .storepos, fen: 100,
                options: [
                    "trade_type": .string("JSPAY"), "buyer_id": .string("oRA5quGvJc1wwvjMW-tnpLLqD-FM"),
                    "sub_appid": .string("wxaee08d155d9de0c5"), "is_minipg": .string("1"),
                    "goods_detail": .array([
                        .object([
                            "goods_id": .string("CY000"), "goods_name": .string("促销单品"), "quantity": .integer(1),
                            "price": .integer(100),
                        ])
                    ]),
                ])
            guard case .prepared(let js) = try await channel.create(jspay) else {
                Issue.record("jspay not prepared")
                return
            }
            #expect(js.payParameters["appId"] == "wxaee08d155d9de0c5")
            #expect(js.payParameters["package"]?.hasPrefix("prepay_id=") == true)
            #expect(js.payParameters["paySign"]?.isEmpty == false)
        }
    }

    @Test func validationBeforeSending() async throws {
        try await withHarness { harness in
            let channel = try harness.storepos()
            for number in ["abcd", "abc-12345", String(repeating: "a", count: 33), "订单12345"] {
                #expect(
                    await channelErrorCode { () async throws(ChannelError) in
                        try await channel.create(harness.order(.storepos, fen: 100, number: number))
                    } == .invalidRequest)
            }
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(
                        harness.order(.storepos, fen: 100, options: ["trade_type": .string("JSPAY")]))
                } == .invalidRequest)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(
                        harness.order(.storepos, fen: 100, options: ["trade_type": .string("MICROPAY")]))
                } == .invalidRequest)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(
                        harness.order(
                            .storepos, fen: 100,
                            options: [
                                "goods_detail": .array([
                                    .object(["goods_id": .string("x"), "quantity": .number(1.5), "price": .integer(1)])
                                ])
                            ]))
                } == .invalidRequest)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.storepos, fen: 0))
                } == .invalidRequest)
            // Five characters is the minimum and is accepted.
            guard
                case .prepared = try await channel.create(
                    harness.order(.storepos, fen: 100, number: "A" + String(Int.random(in: 1000...9999))))
            else {
                Issue.record("5-char out_trade_no refused")
                return
            }
        }
    }

    @Test func scenarios() async throws {
        try await withHarness(clientTimeout: .milliseconds(500)) { harness in
            let channel = try harness.storepos()
            let pending = harness.order(.storepos, fen: 101)
            guard case .pending(.needQuery, let memo) = try await channel.create(pending) else {
                Issue.record("not NEED_QUERY")
                return
            }
            let reference = OrderReference(order: pending, memo: memo)
            #expect(try await channel.query(reference) == .notPaid)
            guard case .succeeded = try await channel.query(reference) else {
                Issue.record("not paid after two queries")
                return
            }
            // …02 system error 20006: query later.
            let broken = harness.order(.storepos, fen: 102)
            guard case .pending(.unknownResult, _) = try await channel.create(broken) else {
                Issue.record("20006 not pending")
                return
            }
            #expect(try await channel.query(OrderReference(order: broken)) == .notFound)
            // …03 timeout: query later; the vendor did create it.
            let slow = harness.order(.storepos, fen: 103)
            guard case .pending(.unknownResult, _) = try await channel.create(slow) else {
                Issue.record("timeout not pending")
                return
            }
            #expect(try await channel.query(OrderReference(order: slow)) == .notPaid)
            guard case .failed(let failure) = try await channel.create(harness.order(.storepos, fen: 108)) else {
                Issue.record("not failed")
                return
            }
            #expect(failure.code == "10006")
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.storepos, fen: 109))
                } == .badResponse)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.storepos, fen: 110))
                } == .badResponse)
            let again = harness.order(.storepos, fen: 900)
            _ = try await channel.create(again)
            #expect(try await channel.create(again) == .duplicate)
        }
    }

    @Test func unreachableVendorMeansQueryLater() async throws {
        let http = VendorHTTP(client: .shared, timeout: .seconds(2))
        var account = StorePOSChannel.sandboxDemoAccount(alias: "s", sandboxBaseURL: "http://127.0.0.1:9")
        account.settings["gateway_url"] = "http://127.0.0.1:9/v2/UnifiedPay/Gateway"
        let channel = try StorePOSChannel(account: account, http: http, logger: AggregatorHarness.logger)
        let order = PaymentOrder(
            outTradeNo: "U12345678", amount: Money(fen: 1), description: "x", createdAt: Date(),
            notifyURL: "http://127.0.0.1:9/n")
        guard case .pending(.unknownResult, _) = try await channel.create(order) else {
            Issue.record("not pending")
            return
        }
    }

    @Test func callbackScenarios() async throws {
        try await withHarness { harness in
            let channel = try harness.storepos()
            let twice = harness.order(.storepos, fen: 105)
            _ = try await channel.create(twice)
            try await harness.pay(.storepos, twice.outTradeNo)
            let duplicates = try await harness.waitForCallbacks(
                .storepos, outTradeNo: twice.outTradeNo, count: 2, key: Self.key)
            #expect(duplicates.count == 2)
            for callback in duplicates { _ = try await channel.verifyCallback(callback) }
            let forged = harness.order(.storepos, fen: 106)
            _ = try await channel.create(forged)
            try await harness.pay(.storepos, forged.outTradeNo)
            let forgedCallbacks = try await harness.waitForCallbacks(
                .storepos, outTradeNo: forged.outTradeNo, key: Self.key)
            let forgedCallback = try #require(forgedCallbacks.first)
            #expect(
                await callbackErrorKind { () async throws(CallbackError) in
                    try await channel.verifyCallback(forgedCallback)
                } == .badSignature)
            guard case .succeeded = try await channel.query(OrderReference(order: forged)) else {
                Issue.record("not paid")
                return
            }
            let mismatch = harness.order(.storepos, fen: 107)
            _ = try await channel.create(mismatch)
            try await harness.pay(.storepos, mismatch.outTradeNo)
            let mismatched = try await harness.waitForCallbacks(
                .storepos, outTradeNo: mismatch.outTradeNo, key: Self.key)
            #expect(try await channel.verifyCallback(try #require(mismatched.first)).amount == Money(fen: 108))
        }
    }

    @Test func cancelWindow() async throws {
        // Real time in the sandbox, so its 5-minute cancel window cannot pass during the test.
        try await withHarness(timeScale: 1) { harness in
            let channel = try harness.storepos()
            let fresh = harness.order(.storepos, fen: 204)
            guard case .prepared(let prepared) = try await channel.create(fresh) else {
                Issue.record("not prepared")
                return
            }
            #expect(try await channel.close(OrderReference(order: fresh, memo: prepared.memo)) == .closed)
            #expect(try await channel.query(OrderReference(order: fresh, memo: prepared.memo)) == .closed)
            #expect(try await channel.close(OrderReference(order: fresh, memo: prepared.memo)) == .alreadyClosed)
            #expect(try await harness.pay(.storepos, fresh.outTradeNo) == 409)
            // Older than the cancel window (the client's reading of "5分钟的订单才可以撤销").
            let old = harness.order(
                .storepos, fen: 204, createdAt: Date().addingTimeInterval(-600),
                expiresAt: Date().addingTimeInterval(600))
            _ = try await channel.create(old)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.close(OrderReference(order: old))
                } == .vendorRejected)
            let expired = harness.order(
                .storepos, fen: 204, createdAt: Date().addingTimeInterval(-600),
                expiresAt: Date().addingTimeInterval(-1))
            _ = try await channel.create(expired)
            #expect(try await channel.close(OrderReference(order: expired)) == .alreadyClosed)
            #expect(try await channel.close(OrderReference(order: harness.order(.storepos, fen: 204))) == .notFound)
        }
    }

    @Test func sandboxRefusesCancelAfterItsWindow() async throws {
        // ×0.001: the sandbox's 5-minute window is 300 ms; the client's own window is left at 300 s.
        try await withHarness { harness in
            let channel = try harness.storepos()
            let order = harness.order(.storepos, fen: 304)
            _ = try await channel.create(order)
            try await Task.sleep(for: .milliseconds(400))
            let error = await channelErrorCode { () async throws(ChannelError) in
                try await channel.close(OrderReference(order: order))
            }
            #expect(error == .vendorRejected)
            #expect(try await harness.sandboxOrder(.storepos, order.outTradeNo)?.state == "NOTPAY")
        }
    }

    @Test func wrongKeyAndConfiguration() async throws {
        try await withHarness { harness in
            let wrongKey = try harness.storepos {
                $0.secrets["merchant_key"] = Secret("WRONGKEY000000000000000000000000")
            }
            let error = await channelErrorCode { () async throws(ChannelError) in
                try await wrongKey.create(harness.order(.storepos, fen: 100))
            }
            #expect(error == .vendorRejected)
            for (name, value) in [
                ("pending_query_limit_seconds", "30"), ("pending_query_limit_seconds", "181"),
                ("callback_key", "agent"), ("default_trade_type", "MICROPAY"),
            ] {
                #expect(throws: ChannelError.self) { try harness.storepos { $0.settings[name] = value } }
            }
            #expect(
                try harness.storepos { $0.settings["pending_query_limit_seconds"] = "180" }.policy.pendingQueryLimit
                    == .seconds(180))
            do {
                _ = try harness.storepos { $0.secrets.removeValue(forKey: "merchant_key") }
                Issue.record("missing key accepted")
            } catch let error as ChannelError {
                #expect(error.code == .configuration)
                #expect(error.message.contains("merchant_key"))
            }
        }
    }
}
