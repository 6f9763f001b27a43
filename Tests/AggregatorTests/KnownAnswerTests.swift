import Foundation
import Leshouying
import Payments
import StorePOS
import Testing
import YunGouOS

@testable import Sandbox

/// Hand-checked known answers: each string-to-sign was written out by hand from the vendor's rule
/// and its digest computed independently with `printf '%s' "<string>" | md5sum`. Both the client
/// rule (Sources/Vendors) and the sandbox's own rule (Sources/Sandbox/Aggregators) must produce them.
@Suite struct KnownAnswerTests {
    // MARK: YunGouOS — fixed subsets, blank values skipped, bytewise order, uppercase

    static let yungouosKey = "YGOSTESTKEY0000000000000000000AB"

    @Test func yungouosNativePaySignsOnlyItsFourFields() {
        let parameters = [
            "out_trade_no": "ORDER202408120001", "total_fee": "99.00", "mch_id": "1234567890", "body": "会员套餐购买",
            // sent, but never signed:
            "type": "2", "notify_url": "https://example.com/pay/notify", "attach": "userId=10001", "app_id": "",
        ]
        let expected =
            "body=会员套餐购买&mch_id=1234567890&out_trade_no=ORDER202408120001&total_fee=99.00&key=YGOSTESTKEY0000000000000000000AB"
        // printf '%s' "$expected" | md5sum → 232f02eb46b330d26fc16bbd288bce17
        let digest = "232F02EB46B330D26FC16BBD288BCE17"
        let key = Secret(Self.yungouosKey)
        let signed = YunGouOSSigning.signedParameters(parameters, api: .nativePay)
        #expect(YunGouOSSigning.rule.stringToSign(signed, key: key) == expected)
        #expect(YunGouOSSigning.sign(parameters, api: .nativePay, key: key) == digest)
        #expect(
            SandboxMD5Rule.yungouos.plain(parameters, only: YunGouOSSimulator.nativePayFields, key: Self.yungouosKey)
                == expected)
        #expect(
            SandboxMD5Rule.yungouos.sign(parameters, only: YunGouOSSimulator.nativePayFields, key: Self.yungouosKey)
                == digest)
        let explained = YunGouOSSigning.explain(parameters, api: .nativePay, key: key)
        #expect(explained.signedFields == ["body", "mch_id", "out_trade_no", "total_fee"])
        #expect(explained.unsignedFields == ["app_id", "attach", "notify_url", "type"])
        #expect(!explained.explained.contains(Self.yungouosKey))
    }

    @Test func yungouosNotifySignsOnlyTheSixFieldsInByteOrder() {
        let parameters = [
            "code": "1", "orderNo": "Y2024081200000000001", "outTradeNo": "ORDER202408120001",
            "payNo": "4200002408120000000000000001", "money": "99.00", "mchId": "1234567890",
            "payChannel": "wxpay", "time": "2024-08-12 10:00:00", "attach": "userId=10001", "openId": "o123",
        ]
        // mchId < money (c < o), orderNo < outTradeNo (r < u)
        let expected =
            "code=1&mchId=1234567890&money=99.00&orderNo=Y2024081200000000001&outTradeNo=ORDER202408120001&payNo=4200002408120000000000000001&key=YGOSTESTKEY0000000000000000000AB"
        let digest = "EE03449B3296A43477103D70A00C1013"  // md5sum: ee03449b3296a43477103d70a00c1013
        let key = Secret(Self.yungouosKey)
        #expect(
            YunGouOSSigning.rule.stringToSign(YunGouOSSigning.signedParameters(parameters, api: .notify), key: key)
                == expected)
        #expect(YunGouOSSigning.sign(parameters, api: .notify, key: key) == digest)
        #expect(
            SandboxMD5Rule.yungouos.sign(parameters, only: YunGouOSSimulator.notifyFields, key: Self.yungouosKey)
                == digest)
        // A lowercase signature is not the vendor's (uppercase) signature.
        #expect(!YunGouOSSigning.verify(parameters, api: .notify, signature: digest.lowercased(), key: key))
        #expect(YunGouOSSigning.verify(parameters, api: .notify, signature: digest, key: key))
    }

    @Test func yungouosSkipsBlankSignedFields() {
        let key = Secret(Self.yungouosKey)
        let withBlank = ["out_trade_no": "A1", "mch_id": "1", "body": "  ", "total_fee": "1.00"]
        #expect(
            YunGouOSSigning.signedParameters(withBlank, api: .nativePay) == [
                "out_trade_no": "A1", "mch_id": "1", "total_fee": "1.00",
            ])
        #expect(
            SandboxMD5Rule.yungouos.plain(withBlank, only: YunGouOSSimulator.nativePayFields, key: Self.yungouosKey)
                == YunGouOSSigning.rule.stringToSign(
                    YunGouOSSigning.signedParameters(withBlank, api: .nativePay), key: key))
    }

    // MARK: 乐收赢 — all non-null incl. empty strings, bytewise order, lowercase

    static let leshouyingKey = "1c4d83f0c3c24a7d9fcaa1fed2682076"  // the vendor's published TEST key

    @Test func leshouyingSignsEmptyStringsAndChineseText() throws {
        // inst_no arrives as a JSON number and is signed as its text; attach is "" and takes part; null is left out.
        let json =
            #"{"inst_no":900075,"mch_no":"Y52211090004","pay_type":"400","pay_trace_no":"113332313422343002","pay_time":"20181116155621","total_amount":"2","open_id":"orxYXv8u8H4i2K0uB6RVXZ_-l7ZU","order_body":"银飞测试","attach":"","shop_no":null}"#
        let object = try #require(LeshouyingSigning.object(Array(json.utf8)))
        let fields = LeshouyingSigning.flatten(object)
        let expected =
            "attach=&inst_no=900075&mch_no=Y52211090004&open_id=orxYXv8u8H4i2K0uB6RVXZ_-l7ZU&order_body=银飞测试&pay_time=20181116155621&pay_trace_no=113332313422343002&pay_type=400&total_amount=2&key=1c4d83f0c3c24a7d9fcaa1fed2682076"
        let digest = "65a3f1bdd5b856518f5a2181ac167614"  // md5sum
        #expect(LeshouyingSigning.rule.stringToSign(fields, key: Secret(Self.leshouyingKey)) == expected)
        #expect(LeshouyingSigning.sign(fields, key: Secret(Self.leshouyingKey)) == digest)
        let sandboxFields = try #require(SandboxWire.jsonFields(Array(json.utf8)))
        #expect(SandboxMD5Rule.leshouying.plain(sandboxFields, key: Self.leshouyingKey) == expected)
        #expect(SandboxMD5Rule.leshouying.sign(sandboxFields, key: Self.leshouyingKey) == digest)
        // Received digests are compared without regard to case; what PayFleet sends is lowercase unless `sign_case: upper`.
        #expect(LeshouyingSigning.verify(fields, signature: digest.uppercased(), key: Secret(Self.leshouyingKey)))
        #expect(LeshouyingSigning.verify(fields, signature: digest, key: Secret(Self.leshouyingKey)))
        #expect(
            !LeshouyingSigning.verify(
                fields, signature: "65a3f1bdd5b856518f5a2181ac167615", key: Secret(Self.leshouyingKey)))
        #expect(LeshouyingSigning.sign(fields, key: Secret(Self.leshouyingKey), uppercase: true) == digest.uppercased())
    }

    @Test func leshouyingResponseOrderIsBytewise() {
        // paySign < pay_time because 'S' (0x53) < '_' (0x5F); a case-insensitive sort would swap them.
        let fields = [
            "return_code": "SUCCESS", "return_msg": "下单成功", "result_code": "PAY_IN_PROCESS", "mch_no": "Y52211090004",
            "pay_trace_no": "113332313422343002", "pay_time": "20181116155621", "total_amount": "2",
            "trade_no": "20000002814118090716435200001", "appId": "wxbca6c935a45dcdc5", "timeStamp": "1414561699",
            "nonceStr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
            "packages": "prepay_id=wx201410272009395522657a690389285100",
            "signType": "MD5", "paySign": "C380BEC2BFD727A4B6845133519F3AD6",
        ]
        let expected =
            "appId=wxbca6c935a45dcdc5&mch_no=Y52211090004&nonceStr=5K8264ILTKCH16CQ2502SI8ZNMTM67VS&packages=prepay_id=wx201410272009395522657a690389285100&paySign=C380BEC2BFD727A4B6845133519F3AD6&pay_time=20181116155621&pay_trace_no=113332313422343002&result_code=PAY_IN_PROCESS&return_code=SUCCESS&return_msg=下单成功&signType=MD5&timeStamp=1414561699&total_amount=2&trade_no=20000002814118090716435200001&key=1c4d83f0c3c24a7d9fcaa1fed2682076"
        let digest = "9ce7ce205023ab26baffb6291ad842a3"  // md5sum
        #expect(LeshouyingSigning.rule.stringToSign(fields, key: Secret(Self.leshouyingKey)) == expected)
        #expect(LeshouyingSigning.sign(fields, key: Secret(Self.leshouyingKey)) == digest)
        #expect(SandboxMD5Rule.leshouying.sign(fields, key: Self.leshouyingKey) == digest)
    }

    // MARK: storepos — non-empty only, case-insensitive order, uppercase

    static let storeposKey = "SPOSTESTMERCHANTKEY0000000000000"

    @Test func storeposPreOrderFromTheSeedExample() {
        let parameters = [
            "method": "PreOrder_WECHAT", "agent_id": "13000000000000000", "version": "1.0", "pid": "yunpos",
            "mch_id": "00000001", "trade_type": "NATIVE", "body": "超赢支付", "out_trade_no": "1497769914931",
            "total_fee": "4", "goods_tag": "CY_PROMOTION_001", "product_id": "1497769914931", "attach": "",
            "nonce_str": "",
            "goods_detail":
                #"[{"goods_id":"CY000000","goods_name":"促销单品-CY00000000000","quantity":1,"price":2},{"goods_id":"CY000001","goods_name":"促销单品-CY00000000001","quantity":1,"price":2}]"#,
        ]
        let expected =
            #"agent_id=13000000000000000&body=超赢支付&goods_detail=[{"goods_id":"CY000000","goods_name":"促销单品-CY00000000000","quantity":1,"price":2},{"goods_id":"CY000001","goods_name":"促销单品-CY00000000001","quantity":1,"price":2}]&goods_tag=CY_PROMOTION_001&mch_id=00000001&method=PreOrder_WECHAT&out_trade_no=1497769914931&pid=yunpos&product_id=1497769914931&total_fee=4&trade_type=NATIVE&version=1.0&key=SPOSTESTMERCHANTKEY0000000000000"#
        let digest = "A7651849ACE935BBF2A54537BBC440B7"  // md5sum: a7651849ace935bbf2a54537bbc440b7
        #expect(StorePOSSigning.rule.stringToSign(parameters, key: Secret(Self.storeposKey)) == expected)
        #expect(StorePOSSigning.sign(parameters, key: Secret(Self.storeposKey)) == digest)
        #expect(SandboxMD5Rule.storepos.plain(parameters, key: Self.storeposKey) == expected)
        #expect(SandboxMD5Rule.storepos.sign(parameters, key: Self.storeposKey) == digest)
    }

    @Test func storeposSortsKeysIgnoringCase() {
        // Bytewise would put Total_Fee first ('T' < 'b'); storepos treats 'T' as 't'.
        let parameters = ["out_trade_no": "1497769914931", "Total_Fee": "4", "body": "超赢支付", "attach": ""]
        let expected = "body=超赢支付&out_trade_no=1497769914931&Total_Fee=4&key=SPOSTESTMERCHANTKEY0000000000000"
        let digest = "61689ADC0E52D8F299FEF8E7800B7594"  // md5sum: 61689adc0e52d8f299fef8e7800b7594
        #expect(StorePOSSigning.rule.stringToSign(parameters, key: Secret(Self.storeposKey)) == expected)
        #expect(StorePOSSigning.sign(parameters, key: Secret(Self.storeposKey)) == digest)
        #expect(SandboxMD5Rule.storepos.sign(parameters, key: Self.storeposKey) == digest)
        let explained = StorePOSSigning.explain(parameters, api: .preorder, key: Secret(Self.storeposKey))
        #expect(explained.signedFields == ["body", "out_trade_no", "Total_Fee"])
        #expect(explained.unsignedFields == ["attach"])
    }

    @Test func storeposCallbackFromTheSeedExample() throws {
        let body =
            "bank_type=CFT&mch_id=00000001&nonce_str=1523929649387&out_trade_no=1523929500000&out_transaction_id=2018041721001004870537670226&pay_result=0&result_code=SUCCESS&sign=DAF3249571FF6A1209857DB7A3A544CF&state=SUCCESS&time_end=20180417094729&total_fee=1&trade_type=pay.weixin.native&transaction_id=199520439266201804177199552446"
        // string: bank_type=CFT&mch_id=00000001&…&transaction_id=199520439266201804177199552446&key=SPOSTESTMERCHANTKEY0000000000000
        // md5sum → daf3249571ff6a1209857db7a3a544cf
        let verified = try StorePOSCallback.verify(Array(body.utf8), key: Secret(Self.storeposKey))
        #expect(verified.outTradeNo == "1523929500000")
        #expect(verified.amount == Money(fen: 1))
        guard case .succeeded(let details) = verified.status else {
            Issue.record("not succeeded")
            return
        }
        #expect(details.transactionID == "199520439266201804177199552446")
        #expect(verified.fields["sign"] == nil)
    }
}
