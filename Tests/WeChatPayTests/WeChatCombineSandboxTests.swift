import AsyncHTTPClient
import Foundation
import Payments
import Testing

@testable import WeChatPay

/// Round trips of every APIv3 combine API through the channel interface against the in-process sandbox.
@Suite(.timeLimit(.minutes(2))) struct WeChatCombineSandboxTests {
    static func order(_ harness: SandboxHarness, fen: [Int64], age: TimeInterval = 0) -> PaymentOrder {
        let id = SandboxHarness.orderNumber("C3")
        let subs: [JSONValue] = fen.enumerated().map { index, amount in
            .object([
                "out_trade_no": .string("\(id)S\(index)"), "amount_fen": .integer(amount),
                "description": .string("子单\(index)"), "attach": .string("sub-\(index)"),
            ])
        }
        return PaymentOrder(
            outTradeNo: id, amount: Money(fen: fen.reduce(0, +)), description: "合单",
            createdAt: Date().addingTimeInterval(-age),
            expiresAt: Date().addingTimeInterval(3600), clientIP: "203.0.113.9",
            notifyURL: harness.notifyURL(.wechatV3Combine),
            options: ["sub_orders": .array(subs)]
        )
    }

    static func channel(
        _ harness: SandboxHarness, _ edit: (inout MerchantAccount) -> Void = { _ in }
    ) throws -> WeChatCombineChannel {
        var account = harness.v3Account
        edit(&account)
        let channel = try WeChatCombineChannel(account: account, http: harness.http, logger: harness.logger)
        harness.useForCallbacks(channel)
        return channel
    }

    struct Platform: Decodable {
        var public_key_id: String
        var public_key_pem: String
        var certificate_serial: String
        var certificate_pem: String
    }

    static func platform(_ harness: SandboxHarness) async throws -> Platform {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "\(harness.sandboxURL)/_sandbox/wechat-v3/platform"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return try JSONDecoder().decode(Platform.self, from: Data(body.readableBytesView))
    }

    @Test func combineLifecycleWithDownloadedPlatformCertificates() async throws {
        try await SandboxHarness.with { harness in
            let channel = try Self.channel(harness)
            let order = Self.order(harness, fen: [60, 40])
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            #expect(prepared.codeURL?.hasPrefix("weixin://wxpay/bizpayurl/up?pr=") == true)
            let reference = OrderReference(order: order, memo: prepared.memo)
            #expect(try await channel.query(reference) == .notPaid)
            guard case .tooEarly = try await channel.close(reference) else {
                Issue.record("closed a young order")
                return
            }

            #expect(try await harness.pay(.wechatV3Combine, order.outTradeNo) == 200)
            let callbacks = try await harness.waitForCallbacks(order.outTradeNo) { !$0.isEmpty }
            let verified = try callbacks[0].result.get()
            #expect(verified.outTradeNo == order.outTradeNo)
            #expect(verified.amount == Money(fen: 100))
            #expect(verified.notificationID != nil)
            #expect(verified.fields["resource"]?.contains("\"combine_out_trade_no\":\"\(order.outTradeNo)\"") == true)
            guard case .succeeded(let paid) = verified.status else {
                Issue.record("callback not succeeded")
                return
            }
            #expect(paid.subPayments.map(\.amount) == [Money(fen: 60), Money(fen: 40)])
            #expect(paid.subPayments.allSatisfy { $0.tradeState == "SUCCESS" && $0.transactionID != nil })
            #expect(callbacks[0].raw.header("wechatpay-signature-type") == "WECHATPAY2-SHA256-RSA2048")

            guard case .succeeded(let queried) = try await channel.query(reference) else {
                Issue.record("query not succeeded")
                return
            }
            #expect(queried.transactionID == paid.transactionID)
            #expect(queried.amount == Money(fen: 100))
            #expect(try await channel.create(order) == .duplicate)
            let old = OrderReference(order: Self.with(order, age: 600))
            #expect(try await channel.close(old) == .alreadyPaid)
        }
    }

    static func with(_ order: PaymentOrder, age: TimeInterval) -> PaymentOrder {
        var copy = order
        copy.createdAt = Date().addingTimeInterval(-age)
        return copy
    }

    @Test func closeNamesTheSameSubOrders() async throws {
        try await SandboxHarness.with { harness in
            let channel = try Self.channel(harness)
            let order = Self.order(harness, fen: [100, 200, 300], age: 400)
            guard case .prepared = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            try await Task.sleep(for: .milliseconds(350))
            // A close naming other sub-orders is refused by WeChat (no partial close).
            var partial = order
            if case .array(let subs) = order.options["sub_orders"] {
                partial.options["sub_orders"] = .array(Array(subs.prefix(2)))
                partial.amount = Money(fen: 300)
            }
            do throws(ChannelError) {
                _ = try await channel.close(OrderReference(order: partial))
                Issue.record("partial close accepted")
            } catch {
                #expect(error.code == .vendorRejected)
                #expect(error.vendorCode == "PARAM_ERROR")
            }
            #expect(try await channel.close(OrderReference(order: order)) == .closed)
            #expect(try await channel.close(OrderReference(order: order)) == .alreadyClosed)
            #expect(try await channel.query(OrderReference(order: order)) == .closed)
            let unknown = OrderReference(order: Self.order(harness, fen: [1, 2], age: 400))
            #expect(try await channel.query(unknown) == .notFound)
            #expect(try await channel.close(unknown) == .notFound)
        }
    }

    @Test func publicKeyModeAndRotation() async throws {
        try await SandboxHarness.with(v3Settings: ["sandbox_response_signer": "public_key"]) { harness in
            let platform = try await Self.platform(harness)
            #expect(platform.public_key_id.hasPrefix("PUB_KEY_ID_"))
            let publicKeyOnly = try Self.channel(harness) {
                $0.settings["platform_certificates"] = "off"
                $0.settings["wechatpay_public_key_id"] = platform.public_key_id
                $0.secrets["wechatpay_public_key"] = Secret(platform.public_key_pem)
            }
            let order = Self.order(harness, fen: [10, 20])
            guard case .prepared = try await publicKeyOnly.create(order) else {
                Issue.record("not prepared")
                return
            }
            #expect(try await harness.pay(.wechatV3Combine, order.outTradeNo) == 200)
            let callbacks = try await harness.waitForCallbacks(order.outTradeNo) { !$0.isEmpty }
            #expect(callbacks[0].raw.header("wechatpay-serial") == platform.public_key_id)
            guard case .succeeded = try callbacks[0].result.get().status else {
                Issue.record("not verified")
                return
            }

            // Both keys configured (rotation): answers signed with either verify.
            let both = try Self.channel(harness) {
                $0.settings["wechatpay_public_key_id"] = platform.public_key_id
                $0.secrets["wechatpay_public_key"] = Secret(platform.public_key_pem)
            }
            guard case .succeeded = try await both.query(OrderReference(order: order)) else {
                Issue.record("rotation query failed")
                return
            }
            // Certificates only: a public-key signature names an unknown serial, never a success.
            let certificatesOnly = try Self.channel(harness)
            do throws(ChannelError) {
                _ = try await certificatesOnly.query(OrderReference(order: order))
                Issue.record("unknown serial accepted")
            } catch {
                #expect(error.code == .badResponse)
                #expect(error.message.contains("unknown_serial"))
            }
        }
    }

    @Test func faultScenarios() async throws {
        try await SandboxHarness.with(slowAnswer: .seconds(4), httpTimeout: .milliseconds(1500)) { harness in
            let channel = try Self.channel(harness)
            // Fetch the platform certificate first so the timeout test times only the create.
            _ = try await channel.query(OrderReference(order: Self.order(harness, fen: [1, 2])))
            let pending = Self.order(harness, fen: [50, 51])  // …01
            #expect(try await channel.create(pending) == .pending(.userPaying, memo: [:]))
            #expect(try await channel.query(OrderReference(order: pending)) == .paying)
            guard case .succeeded = try await channel.query(OrderReference(order: pending)) else {
                Issue.record("pending not paid")
                return
            }
            // …02
            #expect(try await channel.create(Self.order(harness, fen: [50, 52])) == .pending(.needQuery, memo: [:]))
            // …03
            #expect(
                try await channel.create(Self.order(harness, fen: [50, 53])) == .pending(.unknownResult, memo: [:]))
            guard case .failed(let refused) = try await channel.create(Self.order(harness, fen: [50, 58])) else {
                Issue.record("not refused")
                return
            }
            #expect(refused.code == "RULE_LIMIT")
            for amounts: [Int64] in [[50, 59], [50, 60]] {  // …09 garbage, …10 bad signature
                do throws(ChannelError) {
                    _ = try await channel.create(Self.order(harness, fen: amounts))
                    Issue.record("\(amounts) answered success")
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
            for last: Int64 in [55, 56, 57] {
                let order = Self.order(harness, fen: [50, last])
                guard case .prepared = try await channel.create(order) else {
                    Issue.record("\(last) not prepared")
                    return
                }
                #expect(try await harness.pay(.wechatV3Combine, order.outTradeNo) == 200)
                orders[last] = order
            }
            let duplicates = try await harness.waitForCallbacks(orders[55]!.outTradeNo) { $0.count >= 2 }
            #expect(duplicates.allSatisfy { (try? $0.result.get()) != nil })
            // A resend of the same notification: same id (the fleet deduplicates on it).
            #expect(Set(duplicates.compactMap { try? $0.result.get().notificationID }).count == 1)
            let forged = try await harness.waitForCallbacks(orders[56]!.outTradeNo) { $0.count >= 3 }
            for callback in forged {
                guard case .failure(let error) = callback.result else {
                    Issue.record("forged callback accepted")
                    continue
                }
                #expect(error.kind == .badSignature)
            }
            let mismatch = try await harness.waitForCallbacks(orders[57]!.outTradeNo) { !$0.isEmpty }
            #expect(try mismatch[0].result.get().amount == Money(fen: 108))
            guard case .succeeded(let real) = try await channel.query(OrderReference(order: orders[57]!)) else {
                Issue.record("not paid")
                return
            }
            #expect(real.amount == Money(fen: 107))

            // Offline checks of a genuine callback (what `payfleet verify-callback` does).
            let genuine = duplicates[0].raw
            let platform = try await Self.platform(harness)
            let apiV3Key = harness.v3Account.secrets["apiv3_key"]!
            let resource = try WeChatOperatorTools.verifyV3Callback(
                headers: genuine.headers, body: genuine.body, apiV3Key: apiV3Key,
                platformCertificatePEM: platform.certificate_pem, publicKeyPEM: nil, publicKeyID: nil, now: Date())
            #expect(String(decoding: resource, as: UTF8.self).contains(orders[55]!.outTradeNo))
            func kind(
                _ headers: [String: String], _ body: [UInt8], key: Secret = apiV3Key, pem: String? = nil,
                now: Date = Date()
            ) -> CallbackError.Kind? {
                do throws(CallbackError) {
                    _ = try WeChatOperatorTools.verifyV3Callback(
                        headers: headers, body: body, apiV3Key: key,
                        platformCertificatePEM: pem ?? platform.certificate_pem,
                        publicKeyPEM: nil, publicKeyID: nil, now: now)
                    return nil
                } catch {
                    return error.kind
                }
            }
            #expect(kind(genuine.headers, genuine.body, now: Date().addingTimeInterval(600)) == .staleTimestamp)
            #expect(kind(genuine.headers, genuine.body + [0x20]) == .badSignature)
            #expect(
                kind(genuine.headers, genuine.body, key: Secret("0123456789abcdef0123456789abcdef"))
                    == .decryptionFailed)
            var otherSerial = genuine.headers
            otherSerial["wechatpay-serial"] = "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC"
            #expect(kind(otherSerial, genuine.body) == .unknownSerial)
            var missing = genuine.headers
            missing["wechatpay-nonce"] = nil
            #expect(kind(missing, genuine.body) == .malformed)

            // The channel itself: stale replay and unknown serial.
            let late = try WeChatCombineChannel(
                account: harness.v3Account, http: harness.http, logger: harness.logger,
                now: { Date().addingTimeInterval(600) })
            await #expect(throws: CallbackError.self) { try await late.verifyCallback(genuine) }
            #expect(try channel.callbackOrderKey(genuine) == orders[55]!.outTradeNo)
        }
    }

    @Test func tradeBillWithSHA1Check() async throws {
        try await SandboxHarness.with { harness in
            let channel = try Self.channel(harness)
            let order = Self.order(harness, fen: [70, 30])
            _ = try await channel.create(order)
            _ = try await harness.pay(.wechatV3Combine, order.outTradeNo)
            let today = ChinaTime.format(Date(), "yyyy-MM-dd")
            for gzip in [true, false] {
                let file = try await channel.downloadTradeBill(date: today, type: .all, gzip: gzip)
                let text = String(decoding: file, as: UTF8.self)
                #expect(text.hasPrefix("交易时间,公众账号ID,商户号"))
                #expect(text.contains("`\(order.outTradeNo)S0"))
            }
            do throws(ChannelError) {
                _ = try await channel.downloadTradeBill(date: "2000-01-01")
                Issue.record("bill with a wrong hash accepted")
            } catch {
                #expect(error.code == .badResponse)
                #expect(error.vendorCode == "HASH_MISMATCH")
            }
            await #expect(throws: ChannelError.self) { try await channel.downloadTradeBill(date: "2026/01/01") }
            do throws(ChannelError) {
                _ = try await channel.applyTradeBill(date: "2999-01-01")
                Issue.record("future bill")
            } catch {
                #expect(error.vendorCode == "NO_STATEMENT_EXIST")
            }
        }
    }

    @Test func wrongMerchantKeyIsRefusedWithASignedSignError() async throws {
        try await SandboxHarness.with { harness in
            let other = WeChatCombineChannel.sandboxDemoAccount(alias: "x", sandboxBaseURL: harness.sandboxURL)
            let channel = try Self.channel(harness) {
                $0.secrets["merchant_private_key"] = other.secrets["merchant_private_key"]
            }
            do throws(ChannelError) {
                _ = try await channel.create(Self.order(harness, fen: [1, 1]))
                Issue.record("wrong key accepted")
            } catch {
                #expect(error.code == .vendorRejected)
                #expect(error.vendorCode == "SIGN_ERROR")
            }
        }
    }

    @Test func validationRejectsBadSubOrders() throws {
        let account = WeChatCombineChannel.sandboxDemoAccount(alias: "v", sandboxBaseURL: "http://127.0.0.1:1")
        let channel = try WeChatCombineChannel(
            account: account, http: VendorHTTP(client: HTTPClient.shared), logger: .init(label: "t"))
        func order(_ subs: [JSONValue], amount: Int64) -> PaymentOrder {
            PaymentOrder(
                outTradeNo: "C3000001", amount: Money(fen: amount), description: "d", createdAt: Date(),
                notifyURL: "https://pay.example.com/notify/wechat-v3-combine/x", options: ["sub_orders": .array(subs)])
        }
        func sub(_ id: String, _ fen: Int64) -> JSONValue {
            .object(["out_trade_no": .string(id), "amount_fen": .integer(fen), "description": .string("d")])
        }
        #expect(throws: ChannelError.self) { try channel.validate(order([sub("S0000001", 1)], amount: 1)) }
        #expect(throws: ChannelError.self) {
            try channel.validate(order((0..<11).map { sub("S000000\($0)X", 1) }, amount: 11))
        }
        #expect(throws: ChannelError.self) {
            try channel.validate(order([sub("S0000001", 1), sub("S0000002", 1)], amount: 3))
        }
        #expect(throws: ChannelError.self) {
            try channel.validate(order([sub("S0000001", 1), sub("S0000001", 1)], amount: 2))
        }
        #expect(throws: ChannelError.self) {
            try channel.validate(order([sub("S0000001", 0), sub("S0000002", 2)], amount: 2))
        }
        try channel.validate(order([sub("S0000001", 1), sub("S0000002", 2)], amount: 3))
        var noNotify = order([sub("S0000001", 1), sub("S0000002", 2)], amount: 3)
        noNotify.notifyURL = "https://pay.example.com/notify?x=1"
        #expect(throws: ChannelError.self) { try channel.validate(noNotify) }
    }
}
