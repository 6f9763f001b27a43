import Foundation
import Leshouying
import Payments
import Testing

@Suite(.timeLimit(.minutes(2))) struct LeshouyingRoundTripTests {
    static func key(_ callback: RawCallback) -> String? { try? LeshouyingCallback.orderKey(callback.body) }
    static let wechat: [String: JSONValue] = [
        "pay_type": .string("wechat"), "openid": .string("oPayer0000000000000000000001"),
    ]

    @Test func wechatMiniProgramRoundTrip() async throws {
        try await withHarness { harness in
            let channel = try harness.leshouying()
            let order = harness.order(.leshouying, fen: 1234, options: Self.wechat)
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            // The sandbox answers 13-digit milliseconds; the client hands out 10-digit seconds.
            #expect(prepared.payParameters["timeStamp"]?.count == 10)
            #expect(prepared.payParameters["package"]?.hasPrefix("prepay_id=") == true)
            #expect(prepared.payParameters["signType"] == "MD5")
            #expect(prepared.payParameters["appId"] == "wxdemo00000000000")
            #expect(prepared.memo["pay_trace_no"] == order.outTradeNo)
            #expect(prepared.memo["pay_time"]?.count == 14)
            #expect(prepared.memo["trade_no"] != nil)
            #expect(prepared.vendorOrderID == prepared.memo["trade_no"])
            let reference = OrderReference(order: order, memo: prepared.memo)
            #expect(try await channel.query(reference) == .paying)
            try await harness.pay(.leshouying, order.outTradeNo)
            let callbacks = try await harness.waitForCallbacks(.leshouying, outTradeNo: order.outTradeNo, key: Self.key)
            let verified = try await channel.verifyCallback(try #require(callbacks.first))
            #expect(verified.amount == Money(fen: 1234))
            guard case .succeeded(let payment) = verified.status else {
                Issue.record("callback not paid")
                return
            }
            #expect(payment.transactionID == prepared.memo["trade_no"])
            guard case .succeeded(let queried) = try await channel.query(reference) else {
                Issue.record("not paid")
                return
            }
            #expect(queried.transactionID == payment.transactionID)
            // Without the memo the order is still found by pay_trace_no + pay_time (derived from createdAt).
            guard case .succeeded = try await channel.query(OrderReference(order: order)) else {
                Issue.record("not found by trace")
                return
            }
            #expect(try await channel.close(reference) == .alreadyPaid)
            #expect(try await harness.sandboxOrder(.leshouying, order.outTradeNo)?.callbacksSent == 1)
        }
    }

    @Test func alipayAndClose() async throws {
        try await withHarness { harness in
            let channel = try harness.leshouying()
            let order = harness.order(
                .leshouying, fen: 500,
                options: ["pay_type": .string("alipay"), "buyer_id": .string("2088000000000001")])
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            #expect(prepared.payParameters["tradeNO"]?.isEmpty == false)
            #expect(prepared.memo["pay_type"] == "300")
            let reference = OrderReference(order: order, memo: prepared.memo)
            #expect(try await channel.close(reference) == .closed)
            #expect(try await channel.query(reference) == .closed)
            #expect(
                try await channel.query(OrderReference(order: harness.order(.leshouying, fen: 5, options: Self.wechat)))
                    == .notFound)
            #expect(
                try await channel.close(OrderReference(order: harness.order(.leshouying, fen: 5, options: Self.wechat)))
                    == .notFound)
        }
    }

    @Test func scenarios() async throws {
        try await withHarness(clientTimeout: .milliseconds(500)) { harness in
            let channel = try harness.leshouying()
            let pending = harness.order(.leshouying, fen: 101, options: Self.wechat)
            guard case .pending(.userPaying, let memo) = try await channel.create(pending) else {
                Issue.record("not pending")
                return
            }
            let reference = OrderReference(order: pending, memo: memo)
            #expect(try await channel.query(reference) == .paying)
            guard case .succeeded = try await channel.query(reference) else {
                Issue.record("not paid after two queries")
                return
            }
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.leshouying, fen: 102, options: Self.wechat))
                } == .vendorUnavailable)
            let slow = harness.order(.leshouying, fen: 103, options: Self.wechat)
            guard case .pending(.unknownResult, let slowMemo) = try await channel.create(slow) else {
                Issue.record("not pending")
                return
            }
            #expect(try await channel.query(OrderReference(order: slow, memo: slowMemo)) == .paying)
            guard
                case .failed(let failure) = try await channel.create(
                    harness.order(.leshouying, fen: 108, options: Self.wechat))
            else {
                Issue.record("not failed")
                return
            }
            #expect(failure.code == "PAY_FAIL")
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.leshouying, fen: 109, options: Self.wechat))
                } == .badResponse)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.leshouying, fen: 110, options: Self.wechat))
                } == .badResponse)
            let again = harness.order(.leshouying, fen: 700, options: Self.wechat)
            _ = try await channel.create(again)
            #expect(try await channel.create(again) == .duplicate)
        }
    }

    @Test func callbackScenarios() async throws {
        try await withHarness { harness in
            let channel = try harness.leshouying()
            let twice = harness.order(.leshouying, fen: 105, options: Self.wechat)
            _ = try await channel.create(twice)
            try await harness.pay(.leshouying, twice.outTradeNo)
            let duplicates = try await harness.waitForCallbacks(
                .leshouying, outTradeNo: twice.outTradeNo, count: 2, key: Self.key)
            #expect(duplicates.count == 2)
            for callback in duplicates { _ = try await channel.verifyCallback(callback) }
            let forged = harness.order(.leshouying, fen: 106, options: Self.wechat)
            _ = try await channel.create(forged)
            try await harness.pay(.leshouying, forged.outTradeNo)
            let forgedCallbacks = try await harness.waitForCallbacks(
                .leshouying, outTradeNo: forged.outTradeNo, key: Self.key)
            let forgedCallback = try #require(forgedCallbacks.first)
            #expect(
                await callbackErrorKind { () async throws(CallbackError) in
                    try await channel.verifyCallback(forgedCallback)
                } == .badSignature)
            let mismatch = harness.order(.leshouying, fen: 107, options: Self.wechat)
            _ = try await channel.create(mismatch)
            try await harness.pay(.leshouying, mismatch.outTradeNo)
            let mismatched = try await harness.waitForCallbacks(
                .leshouying, outTradeNo: mismatch.outTradeNo, key: Self.key)
            #expect(try await channel.verifyCallback(try #require(mismatched.first)).amount == Money(fen: 108))
        }
    }

    @Test func requestErrors() async throws {
        try await withHarness { harness in
            let wrongKey = try harness.leshouying {
                $0.secrets["inst_key"] = Secret("wrongkey00000000000000000000000x")
            }
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await wrongKey.create(harness.order(.leshouying, fen: 100, options: Self.wechat))
                } == .vendorRejected)
            let channel = try harness.leshouying()
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.leshouying, fen: 100))
                } == .invalidRequest)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(
                        harness.order(
                            .leshouying, fen: 100, options: ["pay_type": .string("unionpay"), "openid": .string("o")]))
                } == .invalidRequest)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.leshouying, fen: 0, options: Self.wechat))
                } == .invalidRequest)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(
                        harness.order(.leshouying, fen: 100, options: Self.wechat, number: "has space"))
                } == .invalidRequest)
        }
    }

    /// Plug-in mode (`attach=assPost`): no openid, the answer's `miniapp_data` makes the order prepared.
    @Test func pluginModeRoundTrip() async throws {
        try await withHarness { harness in
            let channel = try harness.leshouying()
            var order = harness.order(.leshouying, fen: 2345, options: ["pay_type": .string("wechat")])
            order.attach = LeshouyingChannel.pluginAttach
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("plug-in order not prepared")
                return
            }
            let miniapp = try #require(prepared.payParameters["miniapp_data"])
            let tradeNo = try #require(prepared.memo["trade_no"])
            #expect(miniapp.contains("/pages/cashier/cashier?p=" + tradeNo))
            #expect(prepared.payParameters["paySign"] == nil)
            try await harness.pay(.leshouying, order.outTradeNo)
            let callbacks = try await harness.waitForCallbacks(.leshouying, outTradeNo: order.outTradeNo, key: Self.key)
            let verified = try await channel.verifyCallback(try #require(callbacks.first))
            #expect(verified.fields["attach"] == nil || verified.fields["attach"] == "assPost")
            guard case .succeeded(let payment) = verified.status else {
                Issue.record("callback not paid")
                return
            }
            #expect(payment.transactionID == tradeNo)
        }
    }

    /// The guessed points are merchant settings: `openid` as the member name, uppercase request
    /// digests, and a close confirmed by a query before the order is called closed.
    @Test func guessedPointsAreSettings() async throws {
        try await withHarness { harness in
            let channel = try harness.leshouying {
                $0.settings["openid_field"] = "openid"
                $0.settings["sign_case"] = "upper"
                $0.settings["close_success"] = "query"
            }
            let order = harness.order(.leshouying, fen: 1304, options: Self.wechat)
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            let reference = OrderReference(order: order, memo: prepared.memo)
            #expect(try await channel.close(reference) == .closed)
            #expect(try await harness.sandboxOrder(.leshouying, order.outTradeNo)?.state == "CLOSED")
            for (name, value) in [
                ("openid_field", "open-id"), ("sign_case", "mixed"), ("close_success", "maybe"),
                ("timestamp_ms", "round"),
            ] {
                #expect(throws: ChannelError.self) { try harness.leshouying { $0.settings[name] = value } }
            }
        }
    }

    @Test func timeStampNormalisation() throws {
        #expect(try LeshouyingChannel.normalisedTimeStamp("1414561699") == "1414561699")
        #expect(try LeshouyingChannel.normalisedTimeStamp("1414561699123") == "1414561699")
        for bad in ["", "14145616", "1414561699.5", "-414561699", "14145616991234"] {
            #expect(throws: ChannelError.self) { try LeshouyingChannel.normalisedTimeStamp(bad) }
        }
        // `timestamp_ms: reject` refuses milliseconds instead of cutting them.
        #expect(throws: ChannelError.self) {
            try LeshouyingChannel.normalisedTimeStamp("1414561699123", truncateMilliseconds: false)
        }
        #expect(try LeshouyingChannel.normalisedTimeStamp("1414561699", truncateMilliseconds: false) == "1414561699")
    }

    @Test func hostsAndAcknowledgementAreConfigurable() throws {
        var account = LeshouyingChannel.sandboxDemoAccount(alias: "l", sandboxBaseURL: "http://127.0.0.1:1")
        account.settings.removeValue(forKey: "api_base_url")
        account.settings["environment"] = "test"
        account.settings["ack_format"] = "text"
        let http = VendorHTTP(client: .shared)
        let channel = try LeshouyingChannel(account: account, http: http, logger: AggregatorHarness.logger)
        #expect(channel.acknowledgement.success.body == "SUCCESS")
        account.settings["ack_format"] = "json"
        let json = try LeshouyingChannel(account: account, http: http, logger: AggregatorHarness.logger)
        #expect(json.acknowledgement.success.body == #"{"return_code":"SUCCESS","return_msg":"成功"}"#)
        #expect(json.acknowledgement.success.status == 200)
        account.settings["environment"] = "staging"
        #expect(throws: ChannelError.self) {
            try LeshouyingChannel(account: account, http: http, logger: AggregatorHarness.logger)
        }
    }
}
