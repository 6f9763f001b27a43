import Payments
import Testing

@testable import WeChatPay

/// Known answers from WeChat's published v2 signing example (pay.weixin.qq.com/wiki/doc/api/native.php?chapter=4_3,
/// quoted verbatim in e.g. github.com/liuyanliang2015/springMVC WebContent/doc/sign.md):
/// appid=wxd930ea5d5a258f4f, mch_id=10000100, device_info=1000, body=test, nonce_str=ibuaiVcKdpRxkhJA,
/// key 192006250b4c09247ec02edce69f6a2d →
/// MD5 9A0A8659F005D6984697E2CA0A9CF3B7, HMAC-SHA256 6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6.
@Suite struct WeChatV2SigningTests {
    static let example: [String: String] = [
        "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000",
        "body": "test", "nonce_str": "ibuaiVcKdpRxkhJA",
    ]
    static let key = Secret("192006250b4c09247ec02edce69f6a2d")

    @Test func publishedMD5Example() {
        #expect(WeChatV2SignType.md5.sign(Self.example, key: Self.key) == "9A0A8659F005D6984697E2CA0A9CF3B7")
    }

    @Test func publishedHMACSHA256ExampleSignsTheStringWithTheKeySuffix() {
        #expect(
            WeChatV2SignType.hmacSHA256.sign(Self.example, key: Self.key)
                == "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6")
        #expect(
            WeChatV2SignType.hmacSHA256.rule.stringToSign(Self.example, key: Self.key).hasSuffix(
                "&key=192006250b4c09247ec02edce69f6a2d"))
    }

    @Test func signTypeTakesPartInTheSignature() {
        var withType = Self.example
        withType["sign_type"] = "HMAC-SHA256"
        let signed = WeChatV2SignType.hmacSHA256.sign(withType, key: Self.key)
        #expect(signed != "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6")
        #expect(WeChatV2SignType.hmacSHA256.explain(withType, key: Self.key).contains("&sign_type=HMAC-SHA256&key=19"))
        withType["sign"] = signed
        #expect(WeChatV2SignType.hmacSHA256.verify(withType, key: Self.key))
        #expect(WeChatV2SignType.of(withType) == .hmacSHA256)
    }

    @Test func verificationRejectsWrongKeyWrongAlgorithmAndTampering() {
        var fields = Self.example
        fields["sign"] = "9A0A8659F005D6984697E2CA0A9CF3B7"
        #expect(WeChatV2SignType.md5.verify(fields, key: Self.key))
        #expect(WeChatV2SignType.of(fields) == .md5)
        #expect(!WeChatV2SignType.md5.verify(fields, key: Secret("192006250b4c09247ec02edce69f6a2e")))
        #expect(!WeChatV2SignType.hmacSHA256.verify(fields, key: Self.key))
        fields["body"] = "test2"
        #expect(!WeChatV2SignType.md5.verify(fields, key: Self.key))
        fields["body"] = "test"
        fields["sign"] = nil
        #expect(!WeChatV2SignType.md5.verify(fields, key: Self.key))
    }

    @Test func explainNeverShowsTheKey() {
        let tools = WeChatOperatorTools.signV2(Self.example, key: Self.key, signType: .md5)
        #expect(tools.signature == "9A0A8659F005D6984697E2CA0A9CF3B7")
        #expect(
            tools.explained
                == "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=19******************************"
        )
        #expect(!tools.explained.contains(Self.key.reveal()))
    }
}

@Suite struct WeChatXMLTests {
    /// The unifiedorder request example of WeChat's v2 documentation (seed 004), with its CDATA `detail`.
    static let documentationExample = """
        <xml> <appid>wx2421b1c4370ec43b</appid> <attach>支付测试</attach> <body>JSAPI支付测试</body> <mch_id>10000100</mch_id> <detail><![CDATA[{ "goods_detail":[ { "goods_id":"iphone6s_16G", "wxpay_goods_id":"1001", "goods_name":"iPhone6s 16G", "quantity":1, "price":528800, "goods_category":"123456", "body":"苹果手机" }, { "goods_id":"iphone6s_32G", "wxpay_goods_id":"1002", "goods_name":"iPhone6s 32G", "quantity":1, "price":608800, "goods_category":"123789", "body":"苹果手机" } ] }]]></detail> <nonce_str>1add1a30ac87aa2db72f57a2375d8fec</nonce_str> <notify_url>http://wxpay.wxutil.com/pub_v2/pay/notify.v2.php</notify_url> <openid>oUpF8uMuAJO_M2pxb1Q9zNjWeS6o</openid> <out_trade_no>1415659990</out_trade_no> <spbill_create_ip>14.23.150.211</spbill_create_ip> <total_fee>1</total_fee> <trade_type>JSAPI</trade_type> <sign>0CB01533B8C1EF103065174F50BCA001</sign> </xml>
        """

    @Test func decodesTheDocumentationExample() throws {
        let fields = try WeChatXML.decode(Self.documentationExample)
        #expect(fields.count == 13)
        #expect(fields["attach"] == "支付测试")
        #expect(fields["total_fee"] == "1")
        #expect(fields["sign"] == "0CB01533B8C1EF103065174F50BCA001")
        #expect(fields["detail"]?.hasPrefix("{ \"goods_detail\":[") == true)
        #expect(fields["detail"]?.contains("\"body\":\"苹果手机\"") == true)
    }

    @Test func roundTripsEscapesAndCDATATerminators() throws {
        let fields = [
            "a": "x < y & z > \"q\" 'p'", "b": "contains ]]> inside", "c": "", "total_fee": "88", "sign": "S",
        ]
        let xml = WeChatXML.encode(fields)
        #expect(xml.hasPrefix("<xml><a><![CDATA["))
        #expect(xml.hasSuffix("<sign><![CDATA[S]]></sign></xml>"))
        #expect(xml.contains("<total_fee>88</total_fee>"))
        #expect(try WeChatXML.decode(xml) == fields)
        #expect(
            try WeChatXML.decode(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml><a>1 &lt; 2 &amp;&amp; &#x4E2D;&#25991;</a><!-- c --></xml>"
            )
                == ["a": "1 < 2 && 中文"])
        #expect(try WeChatXML.decode("<xml><a/></xml>") == ["a": ""])
    }

    @Test(arguments: [
        "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><xml><a>&xxe;</a></xml>",
        "<xml><!ENTITY x \"y\"><a>1</a></xml>",
        "<xml><a>&xxe;</a></xml>",
        "<xml><a><b>1</b></a></xml>",
        "<xml><a>1</a><a>2</a></xml>",
        "<xml><a>1</b></xml>",
        "<xml><a>1</a>",
        "<xml><a x=\"1\">1</a></xml>",
        "<xml><a><![CDATA[1</a></xml>",
        "<xml></xml><xml></xml>",
        "{\"return_code\":\"SUCCESS\"}",
        "",
        "<html><body>502</body></html>",
    ])
    func refusesMalformedAndHostileDocuments(_ text: String) {
        #expect(throws: WeChatXML.DecodingError.self) { try WeChatXML.decode(text) }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: WeChatXML.DecodingError.self) {
            try WeChatXML.decode(Array("<xml><a>".utf8) + [0xFF, 0xFE] + Array("</a></xml>".utf8))
        }
    }
}
