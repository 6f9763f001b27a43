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

    @Test func caseInsensitiveOrderBreaksTiesByBytesAndFoldsNonASCIINames() {
        let rule = ParameterSigningRule(emptyValues: .omit, keyOrder: .caseInsensitive, digest: .md5, hexCase: .upper)
        #expect(rule.canonicalString(["ab": "1", "AB": "2", "Ab": "3", "aC": "4"]) == "AB=2&Ab=3&ab=1&aC=4")
        // Non-ASCII names fold as String.lowercased() does (Ä → ä sorts after every ASCII letter).
        #expect(rule.canonicalString(["Äz": "1", "z": "2", "äa": "3"]) == "z=2&äa=3&Äz=1")
    }

    @Test func signatureIsTheDigestOfTheStringToSign() {
        let key = Secret("192006250b4c09247ec02edce69f6a2d")
        let md5 = ParameterSigningRule(emptyValues: .omit, keyOrder: .bytewise, digest: .md5, hexCase: .lower)
        #expect(md5.sign(Self.wechatExample, key: key) == "9a0a8659f005d6984697e2ca0a9cf3b7")
        #expect(md5.verify(Self.wechatExample, signature: "9a0a8659f005d6984697e2ca0a9cf3b7", key: key))
        #expect(!md5.verify(Self.wechatExample, signature: "9A0A8659F005D6984697E2CA0A9CF3B7", key: key))
        #expect(!md5.verify(Self.wechatExample, signature: "9a0a8659f005d6984697e2ca0a9cf3b", key: key))
    }
}

@Suite struct FormEncodingTests {
    @Test func decodesPairsEscapesAndRepeats() throws {
        let fields = try #require(FormEncoding.decode("a=1&&b=x%20y+z&c&d=%E4%B8%AD&a=2&e=p=q"))
        #expect(fields == ["a": "2", "b": "x y z", "c": "", "d": "中", "e": "p=q"])
        #expect(FormEncoding.decode("") == [:])
    }

    @Test(arguments: ["=v", "a=%", "a=%4", "a=%zz", "a=%+1", "%FF=1", "a=%C3"])
    func rejectsMalformedForms(text: String) {
        #expect(FormEncoding.decode(text) == nil)
    }

    @Test func callbackFieldsIgnoreSurroundingWhitespace() throws {
        let expected = ["out_trade_no": "PF1", "sign": "AB"]
        #expect(try FormEncoding.callbackFields(Array(" \r\nout_trade_no=PF1&sign=AB\n\t".utf8)) == expected)
        // Unicode whitespace around the body is trimmed as Foundation trims it.
        #expect(try FormEncoding.callbackFields(Array("\u{3000}out_trade_no=PF1&sign=AB\u{85}".utf8)) == expected)
        #expect(throws: CallbackError.self) { try FormEncoding.callbackFields(Array("  \n".utf8)) }
        #expect(throws: CallbackError.self) { try FormEncoding.callbackFields([0x61, 0x3D, 0xFF]) }
    }
}
