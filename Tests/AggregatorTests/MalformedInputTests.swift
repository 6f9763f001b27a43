import Foundation
import Leshouying
import Payments
import StorePOS
import Testing
import YunGouOS

/// Malformed callbacks and amounts end in typed errors, never in a crash or a success, and no
/// error text contains a key.
@Suite struct MalformedInputTests {
    static let yKey = Secret("YGOSTESTKEY0000000000000000000AB")
    static let lKey = Secret("1c4d83f0c3c24a7d9fcaa1fed2682076")
    static let sKey = Secret("SPOSTESTMERCHANTKEY0000000000000")

    static func yungouosBody(
        money: String, key: Secret = yKey, drop: String? = nil, payChannel: String = "wxpay"
    ) -> [UInt8] {
        var fields = [
            "code": "1", "orderNo": "Y1", "outTradeNo": "T1", "payNo": "P1", "money": money, "mchId": "1600000001",
            "payChannel": payChannel, "time": "2026-11-22 10:00:00", "attach": "",
        ]
        fields["sign"] = YunGouOSSigning.sign(fields, api: .notify, key: key)
        if let drop { fields.removeValue(forKey: drop) }
        return Array(FormEncoding.encode(fields.sorted { $0.key < $1.key }).utf8)
    }

    static func yungouosVerify(_ body: [UInt8]) throws(CallbackError) -> VerifiedCallback {
        try YunGouOSCallback.verify(body) { $0 == "alipay" ? nil : yKey }
    }

    @Test(arguments: ["0.001", "1e3", "-1", "99.999", "", " 1.00", "1,000", ".5", "0x10", "１.00"])
    func yungouosRejectsBadMoney(_ money: String) {
        #expect(throws: CallbackError.self) { try Self.yungouosVerify(Self.yungouosBody(money: money)) }
    }

    @Test func yungouosAcceptsExactYuan() throws {
        let verified = try Self.yungouosVerify(Self.yungouosBody(money: "99.9"))
        #expect(verified.amount == Money(fen: 9990))
        #expect(try Self.yungouosVerify(Self.yungouosBody(money: "0.01")).amount == Money(fen: 1))
    }

    @Test func yungouosMalformedCallbacks() throws {
        let kinds: [(String, [UInt8], CallbackError.Kind)] = [
            ("bad escape", Array("code=1&money=%zz".utf8), .malformed),
            ("not utf8", [0xff, 0xfe, 0x3d], .malformed),
            ("empty", [], .malformed),
            // payNo is not required (blank members are left out of the signature), but it was signed here.
            ("signed payNo removed", Self.yungouosBody(money: "1.00", drop: "payNo"), .badSignature),
            ("missing outTradeNo", Self.yungouosBody(money: "1.00", drop: "outTradeNo"), .malformed),
            ("missing sign", Self.yungouosBody(money: "1.00", drop: "sign"), .malformed),
            ("wrong key", Self.yungouosBody(money: "1.00", key: Secret("WRONG")), .badSignature),
            ("alipay without alipay key", Self.yungouosBody(money: "1.00", payChannel: "alipay"), .badSignature),
        ]
        for (name, body, kind) in kinds {
            do {
                _ = try Self.yungouosVerify(body)
                Issue.record("\(name) accepted")
            } catch {
                #expect(error.kind == kind, "\(name)")
                #expect(!error.description.contains(Self.yKey.reveal()))
            }
        }
        // An unsigned field may change without breaking the signature; a signed one may not.
        var tampered = String(decoding: Self.yungouosBody(money: "1.00"), as: UTF8.self)
        tampered = tampered.replacingOccurrences(of: "attach=", with: "attach=changed")
        _ = try Self.yungouosVerify(Array(tampered.utf8))
        let raised = String(decoding: Self.yungouosBody(money: "1.00"), as: UTF8.self).replacingOccurrences(
            of: "money=1.00", with: "money=100.00")
        #expect(throws: CallbackError.self) { try Self.yungouosVerify(Array(raised.utf8)) }
    }

    static func leshouyingBody(
        amount: String, key: Secret = lKey, drop: String? = nil, extra: [String: String] = [:]
    ) -> [UInt8] {
        var fields = [
            "return_code": "SUCCESS", "return_msg": "支付成功", "result_code": "PAY_SUCCESS", "inst_no": "900999",
            "mch_no": "852400000001", "pay_trace_no": "T1", "pay_time": "20261122100000", "total_amount": amount,
            "trade_no": "L1", "end_time": "20261122100100", "attach": "",
        ].merging(extra) { _, new in new }
        fields["sign"] = LeshouyingSigning.sign(fields, key: key)
        if let drop { fields.removeValue(forKey: drop) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(fields)) ?? Data())
    }

    @Test(arguments: ["0.001", "1e3", "-1", "99.999", "", "1.00"])
    func leshouyingRejectsBadAmounts(_ amount: String) {
        #expect(throws: CallbackError.self) {
            try LeshouyingCallback.verify(Self.leshouyingBody(amount: amount), key: Self.lKey)
        }
    }

    @Test func leshouyingMalformedCallbacks() throws {
        let cases: [(String, [UInt8], CallbackError.Kind)] = [
            ("not json", Array("{\"return_code\":".utf8), .malformed),
            ("array", Array("[1,2]".utf8), .malformed),
            ("missing pay_trace_no", Self.leshouyingBody(amount: "1", drop: "pay_trace_no"), .malformed),
            ("missing sign", Self.leshouyingBody(amount: "1", drop: "sign"), .malformed),
            ("wrong key", Self.leshouyingBody(amount: "1", key: Secret("wrong")), .badSignature),
            ("unknown result", Self.leshouyingBody(amount: "1", extra: ["result_code": "MAYBE"]), .malformed),
        ]
        for (name, body, kind) in cases {
            do {
                _ = try LeshouyingCallback.verify(body, key: Self.lKey)
                Issue.record("\(name) accepted")
            } catch {
                #expect(error.kind == kind, "\(name)")
                #expect(!error.description.contains(Self.lKey.reveal()))
            }
        }
        // Empty strings are signed: dropping the empty attach breaks the signature.
        var object = try #require(LeshouyingSigning.object(Self.leshouyingBody(amount: "1")))
        object.removeValue(forKey: "attach")
        let data = try JSONEncoder().encode(JSONValue.object(object))
        #expect(throws: CallbackError.self) { try LeshouyingCallback.verify(Array(data), key: Self.lKey) }
        let paid = try LeshouyingCallback.verify(Self.leshouyingBody(amount: "100"), key: Self.lKey)
        #expect(paid.amount == Money(fen: 100))
        #expect(paid.outTradeNo == "T1")
    }

    static func storeposBody(fee: String, key: Secret = sKey, drop: String? = nil) -> [UInt8] {
        var fields = [
            "state": "SUCCESS", "result_code": "SUCCESS", "pay_result": "0", "mch_id": "00000001",
            "out_trade_no": "T12345",
            "transaction_id": "S1", "total_fee": fee, "time_end": "20261122100000", "trade_type": "pay.weixin.native",
        ]
        fields["sign"] = StorePOSSigning.sign(fields, key: key)
        if let drop { fields.removeValue(forKey: drop) }
        return Array(FormEncoding.encode(fields.sorted { $0.key < $1.key }).utf8)
    }

    @Test(arguments: ["0.001", "1e3", "-1", "99.999", "1.00"])
    func storeposRejectsBadFees(_ fee: String) {
        #expect(throws: CallbackError.self) { try StorePOSCallback.verify(Self.storeposBody(fee: fee), key: Self.sKey) }
    }

    @Test func storeposMalformedCallbacks() {
        let cases: [(String, [UInt8], CallbackError.Kind)] = [
            ("bad form", Array("state=SUCCESS&%".utf8), .malformed),
            ("missing out_trade_no", Self.storeposBody(fee: "1", drop: "out_trade_no"), .malformed),
            ("missing transaction_id", Self.storeposBody(fee: "1", drop: "transaction_id"), .badSignature),
            ("wrong key", Self.storeposBody(fee: "1", key: Secret("wrong")), .badSignature),
        ]
        for (name, body, kind) in cases {
            do {
                _ = try StorePOSCallback.verify(body, key: Self.sKey)
                Issue.record("\(name) accepted")
            } catch {
                #expect(error.kind == kind, "\(name)")
                #expect(!error.description.contains(Self.sKey.reveal()))
            }
        }
    }

    @Test func channelConfigurationErrorsNameTheSettingNotTheValue() {
        let http = VendorHTTP(client: .shared)
        var account = YunGouOSChannel.sandboxDemoAccount(alias: "y", sandboxBaseURL: "http://127.0.0.1:1")
        account.secrets.removeValue(forKey: "api_key")
        do {
            _ = try YunGouOSChannel(account: account, http: http, logger: AggregatorHarness.logger)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message.contains("api_key"))
        }
        #expect(throws: ChannelError.self) {
            _ = try YunGouOSChannel(
                account: MerchantAccount(alias: "w", channel: .storepos), http: http, logger: AggregatorHarness.logger)
        }
    }
}
