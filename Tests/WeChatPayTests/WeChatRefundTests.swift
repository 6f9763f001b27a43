import Foundation
import Logging
import Payments
import Testing

@testable import WeChatPay

/// Known answers for the v2 refund notification encryption, and the pure parts of both channels'
/// refunds (validation, vendor refund numbers, answer decoding).
@Suite struct WeChatRefundKnownAnswerTests {
    /// go-pay/gopay `wechat/payment_api_test.go` `TestDecryptRefundNotifyReqInfo` (also in
    /// rwscode/payutil `wechat/payment_api_test.go`; data from studygolang.com/articles/11811):
    /// a real `req_info` and the API key it was encrypted with. The test there only prints the
    /// result; the plaintext fields asserted here are what `openssl enc -d -aes-256-ecb` gives
    /// with key = md5(API key) as lowercase hex.
    static let apiKey = Secret("ziR0QKsTUfMOuochC9RfCdmfHECorQAP")
    static let reqInfo =
        "YYwp8C48th0wnQzTqeI+41pflB26v+smFj9z6h9RPBgxTyZyxc+4YNEz7QEgZNWj/6rIb2MfyWMZmCc41CfjKSssoSZPXxOhUayb6KvNSZ1p6frOX1PDWzhyruXK7ouNND+gDsG4yZ0XXzsL4/pYNwLLba/71QrnkJ/BHcByk4EXnglju5DLup9pJQSnTxjomI9Rxu57m9jg5lLQFxMWXyeASZJNvof0ulnHlWJswS4OxKOkmW7VEyKyLGV6npoOm03Qsx2wkRxLsSa9gPpg4hdaReeUqh1FMbm7aWjyrVYT/MEZWg98p4GomEIYvz34XfDncTezX4bf/ZiSLXt79aE1/YTZrYfymXeCrGjlbe0rg/T2ezJHAC870u2vsVbY1/KcE2A443N+DEnAziXlBQ1AeWq3Rqk/O6/TMM0lomzgctAOiAMg+bh5+Gu1ubA9O3E+vehULydD5qx2o6i3+qA9ORbH415NyRrQdeFq5vmCiRikp5xYptWiGZA0tkoaLKMPQ4ndE5gWHqiBbGPfULZWokI+QjjhhBmwgbd6J0VqpRorwOuzC/BHdkP72DCdNcm7IDUpggnzBIy0+seWIkcHEryKjge3YDHpJeQCqrAH0CgxXHDt1xtbQbST1VqFyuhPhUjDXMXrknrGPN/oE1t0rLRq+78cI+k8xe5E6seeUXQsEe8r3358mpcDYSmXWSXVZxK6er9EF98APqHwcndyEJD2YyCh/mMVhERuX+7kjlRXSiNUWa/Cv/XAKFQuvUYA5ea2eYWtPRHa4DpyuF1SNsaqVKfgqKXZrJHfAgslVpSVqUpX4zkKszHF4kwMZO3M7J1P94Mxa7Tm9mTOJePOoHPXeEB+m9rX6pSfoi3mJDQ5inJ+Vc4gOkg/Wd/lqiy6TTyP/dHDN6/v+AuJx5AXBo/2NDD3fWhHjkqEKIuARr2ClZt9ZRQO4HkXdZo7CN06sGCHk48Tg8PmxnxKcMZm7Aoquv5yMIM2gWSWIRJhwJ8cUpafIHc+GesDlbF6Zbt+/KXkafJAQq2RklEN+WvZ/zFz113EPgWPjp16TwBoziq96MMekvWKY/vdhjol8VFtGH9F61Oy1Xwf6DJtPw=="

    @Test func decryptsThePublicSample() throws {
        let fields = try WeChatV2RefundCrypto.fields(reqInfo: Self.reqInfo, apiKey: Self.apiKey)
        #expect(fields["out_refund_no"] == "50fd012ed1b311e7af7800163e32c503")
        #expect(fields["out_trade_no"] == "4893e76d8c8b434cb64e9cd536338e33")
        #expect(fields["refund_id"] == "50000404922017112502468056157")
        #expect(fields["transaction_id"] == "4200000015201711256947025404")
        #expect(fields["refund_status"] == "SUCCESS")
        #expect(fields["refund_fee"] == "6")
        #expect(fields["settlement_refund_fee"] == "6")
        #expect(fields["total_fee"] == "6")
        #expect(fields["success_time"] == "2017-11-25 15:36:17")
        #expect(fields["refund_recv_accout"] == "支付用户零钱")
        #expect(fields.count == 13)
    }

    @Test func encryptionIsTheInverseAndAWrongKeyFails() throws {
        let plaintext = Array("<root><out_trade_no><![CDATA[A1]]></out_trade_no></root>".utf8)
        for length in [0, 1, 15, 16, 17, 31, 32] {
            let text = Array(repeating: UInt8(ascii: "x"), count: length) + plaintext
            let cipher = try WeChatV2RefundCrypto.encrypt(text, apiKey: Self.apiKey)
            #expect(try WeChatV2RefundCrypto.decrypt(reqInfo: cipher, apiKey: Self.apiKey) == text)
            #expect((Data(base64Encoded: cipher)?.count ?? 0) % 16 == 0)
        }
        #expect(throws: CallbackError.self) {
            try WeChatV2RefundCrypto.fields(reqInfo: Self.reqInfo, apiKey: Secret("ziR0QKsTUfMOuochC9RfCdmfHECorQAQ"))
        }
        #expect(throws: CallbackError.self) {
            try WeChatV2RefundCrypto.fields(reqInfo: "bm90IGJsb2Nrcw==", apiKey: Self.apiKey)
        }
    }

    static func v2Channel(apiKey: Secret = apiKey) throws -> WeChatV2Channel {
        var account = WeChatV2Channel.sandboxDemoAccount(alias: "m", sandboxBaseURL: "http://127.0.0.1:1")
        account.secrets["api_key"] = apiKey
        return try WeChatV2Channel(
            account: account, http: VendorHTTP(client: SandboxHarness.vendorClient), logger: .init(label: "t"))
    }

    static func notification(mchID: String = "1900000109", reqInfo: String = reqInfo) -> RawCallback {
        let xml = WeChatXML.encode([
            "return_code": "SUCCESS", "appid": "wx00000000sandbox", "mch_id": mchID,
            "nonce_str": "TeqClE3i0mvn3DrK", "req_info": reqInfo,
        ])
        return RawCallback(body: Array(xml.utf8), headers: [:], receivedAt: Date())
    }

    @Test func v2RefundNotificationVerifies() async throws {
        let channel = try Self.v2Channel()
        let raw = Self.notification()
        #expect(try channel.callbackOrderKey(raw) == "4893e76d8c8b434cb64e9cd536338e33")
        let verified = try await channel.verifyCallback(raw)
        #expect(verified.outTradeNo == "4893e76d8c8b434cb64e9cd536338e33")
        #expect(verified.amount == nil)
        #expect(verified.refund?.outRefundNo == "50fd012ed1b311e7af7800163e32c503")
        guard case .succeeded(let details) = verified.refund?.status else {
            Issue.record("refund notice not succeeded")
            return
        }
        #expect(details.amount == Money(fen: 6))
        #expect(details.vendorRefundIDs == ["50000404922017112502468056157"])
        #expect(details.refundedAt == ChinaTime.parse("2017-11-25 15:36:17", "yyyy-MM-dd HH:mm:ss"))
    }

    @Test func operatorToolDecryptsARefundNotification() throws {
        let fields = try WeChatOperatorTools.verifyV2Callback(
            body: Self.notification().body, key: Self.apiKey)
        #expect(fields["req_info.out_refund_no"] == "50fd012ed1b311e7af7800163e32c503")
        #expect(fields["mch_id"] == "1900000109")
        #expect(fields["req_info"] == nil)
        #expect(throws: CallbackError.self) {
            try WeChatOperatorTools.verifyV2Callback(
                body: Self.notification().body, key: Secret("sandboxDemoApiKeyNotARealKey0000"))
        }
    }

    @Test func forgedV2RefundNotificationsAreRejected() async throws {
        let channel = try Self.v2Channel()
        // Encrypted with another key: the padding (or the document) does not survive decryption.
        let forgedInfo = try WeChatV2RefundCrypto.encrypt(
            Array("<root><out_trade_no>X1</out_trade_no><out_refund_no>R</out_refund_no></root>".utf8),
            apiKey: Secret("forgedforgedforgedforgedforged00"))
        await #expect(
            throws: CallbackError(.decryptionFailed, "req_info padding is wrong (wrong API key or tampered req_info)")
        ) {
            try await channel.verifyCallback(Self.notification(reqInfo: forgedInfo))
        }
        // Genuine ciphertext, another merchant's envelope.
        await #expect(throws: CallbackError.self) {
            try await channel.verifyCallback(Self.notification(mchID: "1900000999"))
        }
        // Tampered: one block changed.
        var bytes = Array(Data(base64Encoded: Self.reqInfo) ?? Data())
        bytes[bytes.count - 20] ^= 0x01
        let tampered = Data(bytes).base64EncodedString()
        await #expect(throws: CallbackError.self) {
            try await channel.verifyCallback(Self.notification(reqInfo: tampered))
        }
        // A genuine document whose required field is missing.
        let partial = try WeChatV2RefundCrypto.encrypt(
            Array("<root><out_trade_no>X1</out_trade_no><refund_status>SUCCESS</refund_status></root>".utf8),
            apiKey: Self.apiKey)
        await #expect(throws: CallbackError.malformed("refund notification: field req_info.out_refund_no is missing")) {
            try await channel.verifyCallback(Self.notification(reqInfo: partial))
        }
    }

    // MARK: v2 answers

    static func refund(_ channel: WeChatV2Channel, fen: Int64 = 400, paid: Int64 = 1000) -> RefundOrder {
        RefundOrder(
            outRefundNo: "R1", amount: Money(fen: fen), notifyURL: "https://pay.example.com/notify/wechat-v2/m",
            requestedAt: Date(),
            payment: OrderReference(
                order: PaymentOrder(
                    outTradeNo: "V2ORDER1", amount: Money(fen: paid), description: "d", createdAt: Date(),
                    notifyURL: "https://pay.example.com/notify/wechat-v2/m")))
    }

    @Test func v2RefundAnswers() throws {
        let channel = try Self.v2Channel()
        let refund = Self.refund(channel)
        let ok = [
            "result_code": "SUCCESS", "out_trade_no": "V2ORDER1", "out_refund_no": "R1", "refund_id": "5000",
            "refund_fee": "400",
        ]
        #expect(try channel.refundOutcome(ok, refund: refund) == .processing(memo: ["refund_id": "5000"]))
        #expect(throws: ChannelError.self) {
            try channel.refundOutcome(ok.merging(["refund_id": ""]) { $1 }, refund: refund)
        }
        #expect(throws: ChannelError.self) {
            try channel.refundOutcome(ok.merging(["refund_fee": "401"]) { $1 }, refund: refund)
        }
        #expect(throws: ChannelError.self) {
            try channel.refundOutcome(ok.merging(["out_refund_no": "R2"]) { $1 }, refund: refund)
        }
        let fail = ["result_code": "FAIL", "err_code": "NOTENOUGH", "err_code_des": "余额不足"]
        #expect(
            try channel.refundOutcome(fail, refund: refund)
                == .failed(VendorFailure(code: "NOTENOUGH", message: "余额不足")))
        #expect(
            try channel.refundOutcome(fail.merging(["err_code": "SYSTEMERROR"]) { $1 }, refund: refund)
                == .pending(.needQuery, memo: [:]))
        #expect(throws: ChannelError.self) {
            try channel.refundOutcome(fail.merging(["err_code": "SIGNERROR"]) { $1 }, refund: refund)
        }

        let query = [
            "result_code": "SUCCESS", "out_trade_no": "V2ORDER1", "refund_count": "2", "out_refund_no_0": "R0",
            "refund_status_0": "SUCCESS", "out_refund_no_1": "R1", "refund_status_1": "SUCCESS",
            "refund_fee_1": "400", "refund_id_1": "5001", "refund_success_time_1": "2024-01-02 03:04:05",
        ]
        guard case .succeeded(let details) = try channel.refundStatus(query, refund: refund) else {
            Issue.record("not succeeded")
            return
        }
        #expect(details.amount == Money(fen: 400))
        #expect(details.vendorRefundIDs == ["5001"])
        #expect(
            try channel.refundStatus(query.merging(["refund_status_1": "PROCESSING"]) { $1 }, refund: refund)
                == .processing)
        if case .failed(let failure) = try channel.refundStatus(
            query.merging(["refund_status_1": "REFUNDCLOSE"]) { $1 }, refund: refund)
        {
            #expect(failure.code == "REFUNDCLOSE")
        } else {
            Issue.record("REFUNDCLOSE not failed")
        }
        for broken in [
            query.merging(["refund_status_1": ""]) { $1 }, query.merging(["refund_fee_1": "4.00"]) { $1 },
            query.merging(["refund_count": "x"]) { $1 }, query.merging(["out_refund_no_1": "R9"]) { $1 },
            query.merging(["refund_status_1": "WHATEVER"]) { $1 },
        ] {
            #expect(throws: ChannelError.self) { try channel.refundStatus(broken, refund: refund) }
        }
        #expect(
            try channel.refundStatus(["result_code": "FAIL", "err_code": "REFUNDNOTEXIST"], refund: refund)
                == .notFound)
    }

    @Test func v2RefundValidation() throws {
        let channel = try Self.v2Channel()
        try channel.validateRefund(Self.refund(channel))
        #expect(throws: ChannelError.self) { try channel.validateRefund(Self.refund(channel, fen: 1001)) }
        #expect(throws: ChannelError.self) { try channel.validateRefund(Self.refund(channel, fen: 0)) }
        var badNumber = Self.refund(channel)
        badNumber.outRefundNo = "R 1"
        #expect(throws: ChannelError.self) { try channel.validateRefund(badNumber) }
        var withSub = Self.refund(channel)
        withSub.subRefunds = [SubRefund(outTradeNo: "S", amount: Money(fen: 1), paid: Money(fen: 1))]
        #expect(throws: ChannelError.self) { try channel.validateRefund(withSub) }

        var account = WeChatV2Channel.sandboxDemoAccount(alias: "m", sandboxBaseURL: "http://127.0.0.1:1")
        account.secrets["apiclient_cert"] = nil
        account.secrets["apiclient_key"] = nil
        let noCertificate = try WeChatV2Channel(
            account: account, http: VendorHTTP(client: SandboxHarness.vendorClient), logger: .init(label: "t"))
        do {
            try noCertificate.validateRefund(Self.refund(noCertificate))
            Issue.record("refund without a client certificate validated")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message.contains("apiclient_cert"))
        }
        var half = WeChatV2Channel.sandboxDemoAccount(alias: "m", sandboxBaseURL: "http://127.0.0.1:1")
        half.secrets["apiclient_key"] = nil
        #expect(throws: ChannelError.self) {
            try WeChatV2Channel(
                account: half, http: VendorHTTP(client: SandboxHarness.vendorClient), logger: .init(label: "t"))
        }
        var garbage = WeChatV2Channel.sandboxDemoAccount(alias: "m", sandboxBaseURL: "http://127.0.0.1:1")
        garbage.secrets["apiclient_key"] = Secret("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        do {
            _ = try WeChatV2Channel(
                account: garbage, http: VendorHTTP(client: SandboxHarness.vendorClient), logger: .init(label: "t"))
            Issue.record("garbage key accepted")
        } catch {
            #expect(error.code == .configuration)
            #expect(!error.message.contains("AAAA"))
        }
    }

    // MARK: v3

    /// `summary`: the paid order as the worker reads it back from its terminal summary, whose
    /// sub-orders keep `out_trade_no`, `amount_fen` and `mchid` but no `description`.
    static func combineRefund(
        subRefunds: [SubRefund] = [], fen: Int64 = 1000, outRefundNo: String = "R1", summary: Bool = false
    ) -> RefundOrder {
        let subs: [JSONValue] = [("C3ORDER1S0", 600), ("C3ORDER1S1", 400)].map { id, amount in
            summary
                ? .object(["out_trade_no": .string(id), "amount_fen": .integer(amount)])
                : .object(["out_trade_no": .string(id), "amount_fen": .integer(amount), "description": .string("d")])
        }
        return RefundOrder(
            outRefundNo: outRefundNo, amount: Money(fen: fen),
            notifyURL: "https://pay.example.com/notify/wechat-v3-combine/m", requestedAt: Date(),
            payment: OrderReference(
                order: PaymentOrder(
                    outTradeNo: "C3ORDER1", amount: Money(fen: 1000), description: "d", createdAt: Date(),
                    notifyURL: "https://pay.example.com/notify/wechat-v3-combine/m",
                    options: ["sub_orders": .array(subs)])),
            subRefunds: subRefunds)
    }

    static func v3Channel() throws -> WeChatCombineChannel {
        try WeChatCombineChannel(
            account: WeChatCombineChannel.sandboxDemoAccount(alias: "m", sandboxBaseURL: "http://127.0.0.1:1"),
            http: VendorHTTP(client: SandboxHarness.vendorClient), logger: .init(label: "t"))
    }

    @Test func combineVendorRefundNumbers() throws {
        let channel = try Self.v3Channel()
        let whole = try channel.refundParts(Self.combineRefund())
        #expect(whole.map(\.vendorOutRefundNo) == ["C3ORDER1@R1-0_2", "C3ORDER1@R1-1_2"])
        #expect(whole.map(\.amount) == [Money(fen: 600), Money(fen: 400)])
        #expect(whole.map(\.total) == [Money(fen: 600), Money(fen: 400)])
        let one = try channel.refundParts(
            Self.combineRefund(
                subRefunds: [SubRefund(outTradeNo: "C3ORDER1S1", amount: Money(fen: 150), paid: Money(fen: 400))],
                fen: 150))
        #expect(one.map(\.vendorOutRefundNo) == ["C3ORDER1@R1-1_1"])
        let parsed = WeChatCombineChannel.parseVendorOutRefundNo("C3ORDER1@R@x-1-1_2")
        #expect(parsed?.combine == "C3ORDER1")
        #expect(parsed?.outRefundNo == "R@x-1")
        #expect(parsed?.index == 1)
        #expect(parsed?.count == 2)
        for foreign in [
            "R1", "C3ORDER1@R1", "C3ORDER1@R1-1", "C3ORDER1@R1-a_2", "C3ORDER1@-0_1", "C3@R1-0_1", "C3ORDER1@R1-0_11",
        ] {
            #expect(WeChatCombineChannel.parseVendorOutRefundNo(foreign) == nil)
        }
    }

    @Test func combineRefundOfAnOrderReadFromItsTerminalSummary() throws {
        let channel = try Self.v3Channel()
        let whole = try channel.refundParts(Self.combineRefund(summary: true))
        #expect(whole.map(\.outTradeNo) == ["C3ORDER1S0", "C3ORDER1S1"])
        #expect(whole.map(\.amount) == [Money(fen: 600), Money(fen: 400)])
        let one = try channel.refundParts(
            Self.combineRefund(
                subRefunds: [SubRefund(outTradeNo: "C3ORDER1S1", amount: Money(fen: 400), paid: Money(fen: 400))],
                fen: 400, summary: true))
        #expect(one.map(\.vendorOutRefundNo) == ["C3ORDER1@R1-1_1"])
        try channel.validateRefund(Self.combineRefund(summary: true))
    }

    @Test func combineRefundValidation() throws {
        let channel = try Self.v3Channel()
        try channel.validateRefund(Self.combineRefund())
        // Without sub_orders the refund is the whole order.
        #expect(throws: ChannelError.self) { try channel.validateRefund(Self.combineRefund(fen: 999)) }
        let sub = { (id: String, fen: Int64) in
            SubRefund(outTradeNo: id, amount: Money(fen: fen), paid: Money(fen: 600))
        }
        #expect(throws: ChannelError.self) {
            try channel.validateRefund(Self.combineRefund(subRefunds: [sub("C3ORDER1S0", 601)], fen: 601))
        }
        #expect(throws: ChannelError.self) {
            try channel.validateRefund(Self.combineRefund(subRefunds: [sub("NOTMINE", 10)], fen: 10))
        }
        #expect(throws: ChannelError.self) {
            try channel.validateRefund(
                Self.combineRefund(subRefunds: [sub("C3ORDER1S0", 10), sub("C3ORDER1S0", 10)], fen: 20))
        }
        #expect(throws: ChannelError.self) {
            try channel.validateRefund(Self.combineRefund(subRefunds: [sub("C3ORDER1S0", 10)], fen: 11))
        }
        // 8 (combine) + 1 + 50 + suffix does not fit WeChat's 64 characters.
        #expect(throws: ChannelError.self) {
            try channel.validateRefund(Self.combineRefund(outRefundNo: String(repeating: "r", count: 51)))
        }
        try channel.validateRefund(Self.combineRefund(outRefundNo: String(repeating: "r", count: 50)))
    }

    @Test func combineRefundAnswersAreDecodedByTheirDocumentedShape() throws {
        let part = WeChatCombineChannel.RefundPart(
            index: 0, count: 1, outTradeNo: "S0", mchID: "1900000209", amount: Money(fen: 5), total: Money(fen: 9),
            vendorOutRefundNo: "C3ORDER1@R1-0_1")
        let minimal = #"{"out_refund_no":"C3ORDER1@R1-0_1","status":"PROCESSING"}"#
        #expect(
            try WeChatCombineChannel.refundAnswer(Array(minimal.utf8), part: part, operation: "t").status
                == "PROCESSING")
        let full =
            #"{"refund_id":"50300","out_refund_no":"C3ORDER1@R1-0_1","transaction_id":"4200","out_trade_no":"S0","channel":"ORIGINAL","user_received_account":"x","success_time":"2024-01-02T03:04:05+08:00","create_time":"2024-01-02T03:04:00+08:00","status":"SUCCESS","funds_account":"AVAILABLE","amount":{"total":9,"refund":5,"payer_total":9,"payer_refund":5,"settlement_refund":5,"settlement_total":9,"discount_refund":0,"currency":"CNY","from":[]},"promotion_detail":[],"unknown":1}"#
        let answer = try WeChatCombineChannel.refundAnswer(Array(full.utf8), part: part, operation: "t")
        #expect(try WeChatCombineChannel.details(parts: [part], answers: [answer]).vendorRefundIDs == ["50300"])
        for broken in [
            #"{"out_refund_no":"C3ORDER1@R1-0_1"}"#, #"{"status":"SUCCESS"}"#,
            #"{"out_refund_no":"C3ORDER1@R2-0_1","status":"SUCCESS"}"#,
            #"{"out_refund_no":"C3ORDER1@R1-0_1","status":"DONE"}"#,
            #"{"out_refund_no":"C3ORDER1@R1-0_1","status":"SUCCESS","amount":{"refund":6}}"#, "[]", "<xml/>",
        ] {
            #expect(throws: ChannelError.self) {
                try WeChatCombineChannel.refundAnswer(Array(broken.utf8), part: part, operation: "t")
            }
        }
        // A refunded part must carry its refund_id.
        let noID = try WeChatCombineChannel.refundAnswer(
            Array(#"{"out_refund_no":"C3ORDER1@R1-0_1","status":"SUCCESS"}"#.utf8), part: part, operation: "t")
        #expect(throws: ChannelError.self) { try WeChatCombineChannel.details(parts: [part], answers: [noID]) }
    }
}
