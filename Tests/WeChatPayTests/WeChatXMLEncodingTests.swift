import Foundation
import Testing

@testable import WeChatPay

/// The v2 XML writer and reader on values that need care (a `]]>` inside CDATA, digits, empty
/// values, non-ASCII text), and the nonce generator's alphabet and spread.
@Suite("WeChat v2 XML writing and nonces")
struct WeChatXMLEncodingTests {
    @Test("fields are written in byte order of their names, sign last; digits bare, the rest as CDATA")
    func knownAnswer() {
        let fields = ["total_fee": "1", "body": "支付]]>测试", "sign": "ABC", "attach": "", "Zeta": "]]]>", "appid": "wx1"]
        #expect(
            WeChatXML.encode(fields)
                == "<xml><Zeta><![CDATA[]]]]]><![CDATA[>]]></Zeta><appid><![CDATA[wx1]]></appid>"
                + "<attach><![CDATA[]]></attach><body><![CDATA[支付]]]]><![CDATA[>测试]]></body>"
                + "<total_fee>1</total_fee><sign><![CDATA[ABC]]></sign></xml>")
        #expect(WeChatXML.encode([:]) == "<xml></xml>")
    }

    @Test("what the writer writes, the reader reads back, for values full of markup characters")
    func roundTrip() throws {
        let pieces = ["]]>", "]", "]]", ">", "<", "&", "&amp;", "<![CDATA[", "支付", "a", "0", " ", "\"", "'"]
        var state: UInt64 = 11
        for _ in 0..<500 {
            var fields: [String: String] = [:]
            for index in 0..<4 {
                var value = ""
                for _ in 0..<6 {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    value += pieces[Int(state >> 33) % pieces.count]
                }
                fields["f\(index)"] = value
            }
            #expect(try WeChatXML.decode(WeChatXML.encode(fields)) == fields)
        }
    }

    @Test("a value made of text, CDATA sections and references is read as one")
    func piecedValue() throws {
        let document = "<xml><a>x<![CDATA[y]]>&amp;z<![CDATA[]]></a><b><![CDATA[]]></b><c>&#x4E2D;</c><d/></xml>"
        #expect(try WeChatXML.decode(document) == ["a": "xy&z", "b": "", "c": "中", "d": ""])
        #expect(throws: WeChatXML.DecodingError.self) {
            try WeChatXML.decode([UInt8]("<xml><a>".utf8) + [0xFF] + Array("</a></xml>".utf8))
        }
    }

    @Test("nonces are 32 characters of [0-9A-Z], each character about equally often")
    func nonces() {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        var counts = [Int](repeating: 0, count: 256)
        let samples = 20_000
        var distinct = Set<String>()
        for _ in 0..<samples {
            let nonce = WeChatPay.nonce()
            #expect(nonce.utf8.count == 32)
            distinct.insert(nonce)
            for byte in nonce.utf8 { counts[Int(byte)] += 1 }
        }
        #expect(distinct.count == samples)
        #expect(WeChatPay.nonce(length: 7).utf8.count == 7)
        let expected = Double(samples * 32) / Double(alphabet.count)
        for byte in 0..<256 {
            if alphabet.contains(UInt8(byte)) {
                // 640,000 characters: each symbol's count is within about ±130 of 17,778; ±5 % is
                // more than six standard deviations.
                #expect(abs(Double(counts[byte]) - expected) < expected * 0.05, "symbol \(byte)")
            } else {
                #expect(counts[byte] == 0)
            }
        }
    }
}
