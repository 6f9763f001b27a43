import Foundation
import Payments
import Testing

@testable import WeChatPay

/// Round trips of every v2 API through the channel interface against the in-process sandbox.
@Suite(.timeLimit(.minutes(2))) struct WeChatV2SandboxTests {
    static func order(
        _ harness: SandboxHarness, fen: Int64, options: [String: JSONValue] = [:], age: TimeInterval = 0
    ) -> PaymentOrder {
        PaymentOrder(
            outTradeNo: SandboxHarness.orderNumber("V2"), amount: Money(fen: fen), description: "PayFleet 测试商品",
            attach: "shop=1&x=<y>", createdAt: Date().addingTimeInterval(-age), clientIP: "203.0.113.9",
            notifyURL: harness.notifyURL(.wechatV2), options: options
        )
    }

    static func channel(
        _ harness: SandboxHarness, _ edit: (inout MerchantAccount) -> Void = { _ in }
    ) throws -> WeChatV2Channel {
        var account = harness.v2Account
        edit(&account)
        let channel = try WeChatV2Channel(account: account, http: harness.http, logger: harness.logger)
        harness.useForCallbacks(channel)
        return channel
    }

    @Test func nativeOrderLifecycle() async throws {
        try await SandboxHarness.with { harness in
            let channel = try Self.channel(harness)
            let order = Self.order(harness, fen: 100)
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            #expect(prepared.codeURL?.hasPrefix("weixin://wxpay/bizpayurl?pr=") == true)
            #expect(prepared.memo["prepay_id"] != nil)
            let reference = OrderReference(order: order, memo: prepared.memo)
            #expect(try await channel.query(reference) == .notPaid)
            // Creating again with the same out_trade_no and content is idempotent at WeChat.
            guard case .prepared(let again) = try await channel.create(order) else {
                Issue.record("retry not prepared")
                return
            }
            #expect(again.codeURL == prepared.codeURL)
            // Too young to close: no vendor call.
            guard case .tooEarly(let wait) = try await channel.close(reference) else {
                Issue.record("closed a young order")
                return
            }
            #expect(wait > .seconds(290) && wait <= .seconds(300))

            #expect(try await harness.pay(.wechatV2, order.outTradeNo) == 200)
            let callbacks = try await harness.waitForCallbacks(order.outTradeNo) { !$0.isEmpty }
            let verified = try callbacks[0].result.get()
            #expect(verified.outTradeNo == order.outTradeNo)
            #expect(verified.amount == Money(fen: 100))
            #expect(verified.vendorMerchantID == "1900000109")
            guard case .succeeded(let paid) = verified.status else {
                Issue.record("callback not succeeded")
                return
            }
            #expect(paid.transactionID.hasPrefix("4200") && paid.transactionID.count == 28)
            #expect(verified.fields["attach"] == "shop=1&x=<y>")

            guard case .succeeded(let queried) = try await channel.query(reference) else {
                Issue.record("query not succeeded")
                return
            }
            #expect(queried.transactionID == paid.transactionID)
            #expect(queried.amount == Money(fen: 100))
            #expect(queried.paidAt != nil)
            #expect(try await channel.create(order) == .duplicate)  // ORDERPAID
            let old = OrderReference(
                order: PaymentOrder(
                    outTradeNo: order.outTradeNo, amount: order.amount, description: order.description,
                    createdAt: Date().addingTimeInterval(-600), notifyURL: order.notifyURL))
            #expect(try await channel.close(old) == .alreadyPaid)
            #expect(try await harness.view(.wechatV2, order.outTradeNo)?.callbacksSent == 1)
        }
    }

    @Test func closeAfterTheMinimumAgeAndUnknownOrders() async throws {
        try await SandboxHarness.with { harness in
            let channel = try Self.channel(harness)
            let order = Self.order(harness, fen: 200, age: 400)
            guard case .prepared = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            try await Task.sleep(for: .milliseconds(350))  // the sandbox's 5 minutes at time scale 0.001
            let reference = OrderReference(order: order)
            #expect(try await channel.close(reference) == .closed)
            #expect(try await channel.close(reference) == .alreadyClosed)
            #expect(try await channel.query(reference) == .closed)
            #expect(try await harness.pay(.wechatV2, order.outTradeNo) == 409)
            #expect(try await channel.create(order) == .failed(VendorFailure(code: "ORDERCLOSED", message: "该订单已关闭")))
            let unknown = OrderReference(order: Self.order(harness, fen: 300, age: 400))
            #expect(try await channel.query(unknown) == .notFound)
            #expect(try await channel.close(unknown) == .notFound)
        }
    }

    @Test func jsapiAndHMACAndMD5() async throws {
        try await SandboxHarness.with { harness in
            for signType in ["HMAC-SHA256", "MD5"] {
                let channel = try Self.channel(harness) { $0.settings["sign_type"] = signType }
                let order = Self.order(
                    harness, fen: 300,
                    options: ["trade_type": .string("JSAPI"), "openid": .string("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")])
                guard case .prepared(let prepared) = try await channel.create(order) else {
                    Issue.record("not prepared")
                    return
                }
                #expect(prepared.codeURL == nil)
                var parameters = prepared.payParameters
                #expect(parameters["package"]?.hasPrefix("prepay_id=wx") == true)
                #expect(parameters["signType"] == signType)
                let paySign = parameters.removeValue(forKey: "paySign")
                parameters["sign"] = paySign
                #expect(
                    WeChatV2SignType(name: signType)?.verify(parameters, key: harness.v2Account.secrets["api_key"]!)
                        == true)
                #expect(try await harness.pay(.wechatV2, order.outTradeNo) == 200)
                let callbacks = try await harness.waitForCallbacks(order.outTradeNo) { !$0.isEmpty }
                #expect(callbacks[0].raw.body.count > 0)
                // The notification is signed with the order's algorithm; `sign_type` is optional in it
                // (the sandbox omits it for some orders), the length of `sign` tells the algorithm.
                let verifiedFields = try callbacks[0].result.get().fields
                #expect(verifiedFields["sign_type"] == nil || verifiedFields["sign_type"] == signType)
                #expect(try WeChatXML.decode(callbacks[0].raw.body)["sign"]?.count == (signType == "MD5" ? 32 : 64))
            }
            let channel = try Self.channel(harness)
            #expect(throws: ChannelError.self) {
                try channel.validate(Self.order(harness, fen: 1, options: ["trade_type": .string("JSAPI")]))
            }
        }
    }

    @Test func faultScenarios() async throws {
        try await SandboxHarness.with(slowAnswer: .seconds(4), httpTimeout: .milliseconds(1500)) { harness in
            let channel = try Self.channel(harness)
            // …01 pending: USERPAYING, paid after two queries.
            let pending = Self.order(harness, fen: 101)
            #expect(try await channel.create(pending) == .pending(.userPaying, memo: [:]))
            #expect(try await channel.query(OrderReference(order: pending)) == .paying)
            guard case .succeeded = try await channel.query(OrderReference(order: pending)) else {
                Issue.record("pending not paid on the 2nd query")
                return
            }
            _ = try await harness.waitForCallbacks(pending.outTradeNo) { !$0.isEmpty }
            // …02 SYSTEMERROR: query later.
            #expect(try await channel.create(Self.order(harness, fen: 102)) == .pending(.needQuery, memo: [:]))
            // …03 timeout: unknown result (after trying the backup host too).
            let slow = Self.order(harness, fen: 103)
            #expect(try await channel.create(slow) == .pending(.unknownResult, memo: [:]))
            #expect(try await channel.query(OrderReference(order: slow)) == .notPaid)
            // …08 refused.
            guard case .failed(let failure) = try await channel.create(Self.order(harness, fen: 108)) else {
                Issue.record("not refused")
                return
            }
            #expect(failure.code == "INVALID_REQUEST")
            // …09 garbage and …10 bad response signature: never a success.
            for fen: Int64 in [109, 110] {
                do throws(ChannelError) {
                    _ = try await channel.create(Self.order(harness, fen: fen))
                    Issue.record("\(fen) answered success")
                } catch {
                    #expect(error.code == .badResponse)
                }
            }
        }
    }

    @Test func callbackScenarios() async throws {
        try await SandboxHarness.with { harness in
            let channel = try Self.channel(harness)
            var orders: [Int64: PaymentOrder] = [:]
            for fen: Int64 in [105, 106, 107] {
                let order = Self.order(harness, fen: fen)
                guard case .prepared = try await channel.create(order) else {
                    Issue.record("\(fen) not prepared")
                    return
                }
                #expect(try await harness.pay(.wechatV2, order.outTradeNo) == 200)
                orders[fen] = order
            }
            // …05: two genuine callbacks.
            let duplicates = try await harness.waitForCallbacks(orders[105]!.outTradeNo) { $0.count >= 2 }
            #expect(duplicates.allSatisfy { (try? $0.result.get()) != nil })
            // …06: forged; refused each time, retried on WeChat's (scaled) schedule; a query finds the payment.
            let forged = try await harness.waitForCallbacks(orders[106]!.outTradeNo) { $0.count >= 3 }
            for callback in forged {
                guard case .failure(let error) = callback.result else {
                    Issue.record("forged callback accepted")
                    continue
                }
                #expect(error.kind == .badSignature)
            }
            guard case .succeeded = try await channel.query(OrderReference(order: orders[106]!)) else {
                Issue.record("forged order not paid")
                return
            }
            // …07: correctly signed, 1 fen more than paid.
            let mismatch = try await harness.waitForCallbacks(orders[107]!.outTradeNo) { !$0.isEmpty }
            #expect(try mismatch[0].result.get().amount == Money(fen: 108))
            guard case .succeeded(let real) = try await channel.query(OrderReference(order: orders[107]!)) else {
                Issue.record("not paid")
                return
            }
            #expect(real.amount == Money(fen: 107))
        }
    }

    @Test func autopaySkipsNeverPaidOrders() async throws {
        try await SandboxHarness.with(autopayAfter: .milliseconds(50)) { harness in
            let channel = try Self.channel(harness)
            let normal = Self.order(harness, fen: 1000)
            let never = Self.order(harness, fen: 1004)
            _ = try await channel.create(normal)
            _ = try await channel.create(never)
            _ = try await harness.waitForCallbacks(normal.outTradeNo) { !$0.isEmpty }
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await channel.query(OrderReference(order: never)) == .notPaid)
            #expect(try await harness.view(.wechatV2, never.outTradeNo)?.scenario == "neverPaid")
        }
    }

    @Test func failoverToTheBackupHostKeepsTheCreateIdempotent() async throws {
        try await SandboxHarness.with { harness in
            // Nothing listens on port 1 of loopback: connection refused, so the backup host is used.
            let channel = try Self.channel(harness) { $0.settings["api_base_url"] = "http://127.0.0.1:1" }
            let order = Self.order(harness, fen: 400)
            guard case .prepared(let first) = try await channel.create(order) else {
                Issue.record("failover create failed")
                return
            }
            guard case .prepared(let second) = try await channel.create(order) else {
                Issue.record("retry failed")
                return
            }
            #expect(first.codeURL == second.codeURL)
            #expect(try await channel.query(OrderReference(order: order)) == .notPaid)

            let dead = try Self.channel(harness) {
                $0.settings["api_base_url"] = "http://127.0.0.1:1"
                $0.settings["backup_api_base_url"] = "none"
            }
            do throws(ChannelError) {
                _ = try await dead.create(Self.order(harness, fen: 400))
                Issue.record("created without a reachable host")
            } catch {
                #expect(error.code == .unreachable)
            }
        }
    }

    @Test func vendorRefusalsAreTyped() async throws {
        try await SandboxHarness.with { harness in
            let wrongKey = try Self.channel(harness) {
                $0.secrets["api_key"] = Secret("0123456789abcdef0123456789abcdef")
            }
            do throws(ChannelError) {
                _ = try await wrongKey.create(Self.order(harness, fen: 500))
                Issue.record("wrong key accepted")
            } catch {
                #expect(error.code == .vendorRejected)
                #expect(error.message.contains("签名错误"))
                #expect(!error.description.contains("0123456789abcdef"))
            }
            let channel = try Self.channel(harness)
            let order = Self.order(harness, fen: 600)
            _ = try await channel.create(order)
            var changed = order
            changed.amount = Money(fen: 700)
            #expect(try await channel.create(changed) == .duplicate)  // OUT_TRADE_NO_USED
        }
    }
}
