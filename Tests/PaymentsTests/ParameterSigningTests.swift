import Payments
import Testing

@Suite struct ParameterSigningTests {
    // WeChat Pay v2's published signing example (pay.weixin.qq.com wiki, chapter=4_3):
    // stringSignTemp = "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d"
    // MD5 → 9A0A8659F005D6984697E2CA0A9CF3B7
    static let wechatExample: [String: String] = [
        "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000",
        "body": "test", "nonce_str": "ibuaiVcKdpRxkhJA",
    ]

    @Test func wechatPublishedMD5Example() {
        let rule = ParameterSigningRule(emptyValues: .omit, keyOrder: .bytewise, digest: .md5, hexCase: .upper)
        let key = Secret("192006250b4c09247ec02edce69f6a2d")
        #expect(
            rule.stringToSign(Self.wechatExample, key: key)
                == "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d"
        )
        #expect(rule.sign(Self.wechatExample, key: key) == "9A0A8659F005D6984697E2CA0A9CF3B7")
    }

    @Test func emptyValuesAndKeyOrderFollowTheRule() {
        let params = ["b": "2", "A": "1", "a": "", "sign": "X"]
        let omitBytewise = ParameterSigningRule(emptyValues: .omit, keyOrder: .bytewise, digest: .md5, hexCase: .upper)
        #expect(omitBytewise.canonicalString(params) == "A=1&b=2")
        let includeBytewise = ParameterSigningRule(
            emptyValues: .include, keyOrder: .bytewise, digest: .md5, hexCase: .lower)
        #expect(includeBytewise.canonicalString(params) == "A=1&a=&b=2")
        let caseInsensitive = ParameterSigningRule(
            emptyValues: .omit, keyOrder: .caseInsensitive, digest: .md5, hexCase: .upper)
        #expect(caseInsensitive.canonicalString(["b": "2", "A": "1", "c": "3"]) == "A=1&b=2&c=3")
        #expect(omitBytewise.canonicalString(["b": "2", "A": "1", "c": "3"]) == "A=1&b=2&c=3")
        #expect(omitBytewise.canonicalString(["b": "2", "C": "1"]) == "C=1&b=2")
        #expect(caseInsensitive.canonicalString(["b": "2", "C": "1"]) == "b=2&C=1")
    }

    @Test func explainMasksTheKey() {
        let rule = ParameterSigningRule(emptyValues: .omit, keyOrder: .bytewise, digest: .md5, hexCase: .upper)
        let text = rule.explain(["a": "1"], key: Secret("192006250b4c09247ec02edce69f6a2d"))
        #expect(!text.contains("192006250b4c09247ec02edce69f6a2d"))
        #expect(text.hasPrefix("a=1&key=19"))
    }
}
