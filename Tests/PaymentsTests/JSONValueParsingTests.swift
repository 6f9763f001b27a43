import Foundation
import Payments
import Testing

/// `JSONValue.parse` must give what `JSONDecoder().decode(JSONValue.self, from:)` gives: the order
/// request's fields and its canonical digest (which makes the request's event ids) depend on it.
@Suite struct JSONValueParsingTests {
    static let accepted: [String] = [
        #"{"action":"create","out_trade_no":"PF1001","merchant":"demo-storepos","channel":"storepos","amount_fen":1999,"description":"a cup of tea"}"#,
        #"  {"a" : [1, -2, 3.5, -0.25, 1e2, 1E-2, 2.5e+3, 0, -0, 100.0, 9007199254740993] }  "#,
        #"{"big":9223372036854775807,"bigger":9223372036854775808,"small":-9223372036854775808,"smaller":-9223372036854775809}"#,
        #"{"huge":1e300,"tiny":1e-300,"zero":0.0,"negzero":-0.0}"#,
        #"{"s":"quote \" backslash \\ slash \/ \b\f\n\r\t","u":"\u00e9\u4e2d\uD83D\uDE00 é中😀"}"#,
        #"{"nested":{"list":[{"x":null},{"y":true},{"z":false},[],{}]}}"#,
        #"{"dup":1,"dup":2}"#, "[1,]", #"{"a":1 , }"#, "[1,\n]", #"{"a":[1,],}"#,
        #"[1,"two",null]"#, #""just a string""#, "42", "-7", "3.25", "true", "null",
        #"{"empty":"","space":" ","emoji":"💳"}"#,
        "{\"tab\":1,\n\t\"newline\" :\r\n 2}",
        #"{"a":{"b":1,"b":2,"c":{"d":[{"e":1,"e":2},{}]}},"a":3,"f":{"g":null},"h":[{"i":{"j":{}}}],"b":4}"#,
        "{" + (0..<40).map { #""m\#($0)":{"n":\#($0),"m\#($0 % 3)":[\#($0)]}"# }.joined(separator: ",") + #","m0":0}"#,
    ]

    static let rejected: [String] = [
        "", " ", "{", "}", "[", "[,]", "{,}", "[1,,]", "{\"a\" 1}", "{a:1}", "{'a':1}", "01", "-", "1.", ".5", "1e",
        "1e+", "+1", "NaN", "Infinity", "tru", "nul", "falsey", "[1 2]", "{\"a\":1}x", "\"unterminated",
        "\"bad \\x escape\"", "\"\\u12\"", "\"\\uZZZZ\"", "\"\\uD83D\"", "\"\\uDE00\"", "\"\\uD83D\\u0041\"",
        "\"raw \u{01} control\"", "\"raw\ttab\"", "1e999", "[-]", "{\"a\":1}{\"b\":2}",
    ]

    @Test(arguments: accepted)
    func parsesWhatJSONDecoderParses(text: String) throws {
        let data = Data(text.utf8)
        let expected = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(try JSONValue.parse(data) == expected)
        #expect(try JSONValue.parse(Array(text.utf8)) == expected)
    }

    @Test(arguments: rejected)
    func rejectsWhatJSONDecoderRejects(text: String) {
        let data = Data(text.utf8)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(JSONValue.self, from: data) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(data) }
    }

    @Test func rejectsInvalidUTF8InStrings() {
        for bytes: [UInt8] in [
            [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
            [0x22, 0x5C, 0x6E, 0xC0, 0xAF, 0x22],
        ] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
            #expect(throws: (any Error).self) { try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) }
        }
    }

    @Test func numbersTakeJSONDecodersShape() throws {
        let parsed = try JSONValue.parse(Data(#"[1999,100.0,1.5,1e2,9223372036854775808,-0]"#.utf8))
        #expect(
            parsed
                == .array([
                    .integer(1999), .integer(100), .number(1.5), .integer(100), .number(9.223372036854775808e18),
                    .integer(0),
                ]))
    }

    @Test func aRepeatedKeyKeepsItsFirstValue() throws {
        let parsed = try JSONValue.parse(Data(#"{"amount_fen":1,"amount_fen":100000}"#.utf8))
        #expect(parsed["amount_fen"] == .integer(1))
    }

    @Test func limitsNesting() throws {
        let deepest =
            String(repeating: "[", count: JSONValue.maximumParseDepth)
            + String(repeating: "]", count: JSONValue.maximumParseDepth)
        #expect(throws: Never.self) { try JSONValue.parse(Data(deepest.utf8)) }
        let tooDeep = "[" + deepest + "]"
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(Data(tooDeep.utf8)) }
        #expect(error?.reason.contains("nested deeper") == true)
        // A hostile depth fails cleanly instead of exhausting the stack.
        let hostile = String(repeating: "{\"a\":", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Data(hostile.utf8)) }
    }

    @Test func errorsNameTheOffset() {
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(Data(#"{"a":1,"b":tru}"#.utf8)) }
        #expect(error?.offset == 14)
        #expect(error?.description.contains("byte 14") == true)
    }
}
