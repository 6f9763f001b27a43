import Foundation
import Testing

@testable import Sandbox

/// The sandbox writes its times, JSON, forms and digests without `DateFormatter`,
/// `JSONSerialization` and Foundation's percent coding (they cost more than the rest of an answer);
/// the text must stay exactly what those give, so each is checked against them here.
@Suite struct SandboxWireTextTests {
    static func formatter(_ pattern: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
        formatter.dateFormat = pattern
        formatter.isLenient = false
        return formatter
    }

    static let patterns = [
        "yyyyMMddHHmmss", "yyyy-MM-dd HH:mm:ss", "ddHHmmss", "yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm:ssXXXXX", "yyyyMMdd",
    ]

    @Test func chinaTimeFormatsAsDateFormatterDoes() {
        var generator = SystemRandomNumberGenerator()
        // Around day and year boundaries in China time, leap days, the epoch, and random instants 1600-2200.
        var instants: [TimeInterval] = [
            0, -1, -0.5, 0.999, 57_599, 57_600, 57_600.5, 951_753_600 - 28_800, 1_709_136_000 - 28_800,
            1_704_038_399, 1_704_038_400, 4_102_415_999, -11_644_473_600,
        ]
        for _ in 0..<2_000 {
            instants.append(TimeInterval(Int64.random(in: -11_676_096_000...7_258_118_400, using: &generator)) + 0.25)
        }
        for pattern in Self.patterns {
            let formatter = Self.formatter(pattern)
            for instant in instants {
                let date = Date(timeIntervalSince1970: instant)
                #expect(ChinaTime.format(date, pattern) == formatter.string(from: date), "\(pattern) \(instant)")
            }
        }
    }

    @Test func chinaTimeFallsBackForOtherPatterns() {
        let date = Date(timeIntervalSince1970: 1_717_171_717)
        for pattern in ["EEE, dd MMM yyyy", "yy/M/d h:mm a", "yyyy-MM-dd'T'HH:mm:ss.SSSZ"] {
            #expect(ChinaTime.format(date, pattern) == Self.formatter(pattern).string(from: date))
        }
        // Before the Gregorian switch the formatter's calendar is Julian: handed to it.
        let early = Date(timeIntervalSince1970: -13_000_000_000)
        #expect(ChinaTime.format(early, "yyyy-MM-dd") == Self.formatter("yyyy-MM-dd").string(from: early))
    }

    @Test func chinaTimeParsesStrictlyAsDateFormatterDoes() {
        let texts = [
            "20260102030405", "20240229120000", "20230229120000", "20261301000000", "20260132000000", "20260431000000",
            "20260101240000", "20260101236000", "20260101235960", "20260101235959", "2026010203040", "202601020304050",
            "2026010203040a", "", "00001231235959", "15821015000000", "19700101080000",
        ]
        let formatter = Self.formatter("yyyyMMddHHmmss")
        for text in texts {
            #expect(ChinaTime.parse(text, "yyyyMMddHHmmss") == formatter.date(from: text), "\(text)")
        }
        let dayFormatter = Self.formatter("yyyy-MM-dd")
        for text in ["2026-02-28", "2026-02-29", "2024-02-29", "2026-00-10", "2026-12-31"] {
            #expect(ChinaTime.parse(text, "yyyy-MM-dd") == dayFormatter.date(from: text), "\(text)")
        }
    }

    @Test func jsonIsWhatJSONSerializationWrites() throws {
        let values: [Any] = [
            [
                "code": NSNumber(value: Int64(0)), "msg": "查询成功", "data": NSNull(),
                "path": "/pages/cashier/cashier?p=1", "quote": "say \"hi\"\\ \u{1}\u{8}\u{c}\n\r\t\u{1f}",
                "Zeta": "z", "alpha": "a", "item10": 10, "item9": 9, "item09": "09", "B": true,
                "nested": ["x": [1, 2]],
                "list": [["serial_no": "0", "refund_fee": "100"], ["serial_no": "1"]],
            ] as [String: Any],
            ["appId": "wx1", "timeStamp": "1700000000", "package": "prepay_id=wx2"],
            [] as [Any],
        ]
        for value in values {
            let expected = try JSONSerialization.data(
                withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
            #expect(SandboxJSON.data(value) == Array(expected))
        }
        // A value the writer leaves to JSONSerialization.
        let fraction: [String: Any] = ["rate": 0.6]
        #expect(
            SandboxJSON.data(fraction)
                == Array(try JSONSerialization.data(withJSONObject: fraction, options: [.sortedKeys])))
    }

    @Test func formCodingIsFoundations() {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        for text in ["abc-._~XYZ019", "a b&c=d", "咖啡 ☕️ e\u{301}", "100%", "weixin://wxpay/bizpayurl?pr=abc", ""] {
            #expect(SandboxWire.percentEncoded(text) == text.addingPercentEncoding(withAllowedCharacters: allowed))
        }
        for text in ["a+b", "%E5%92%96%E5%95%A1", "%", "%4", "%zz", "%FF", "plain", "100%25", "%e5%92%96"] {
            let foundation = text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            #expect(SandboxWire.decodeComponent(Substring(text)) == foundation, "\(text)")
        }
    }

    @Test func blankValuesAreWhatTrimmingSees() {
        for value in ["", " ", "\t", "\u{3000}", "\u{a0}", " a ", "\n", "x"] {
            #expect(
                SandboxMD5Rule.isBlank(value) == value.trimmingCharacters(in: .whitespaces).isEmpty,
                "\(value.debugDescription)")
        }
    }

    @Test func randomTextHasTheVendorsShape() {
        let hex = SandboxWire.hex32()
        #expect(hex.count == 32 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        let digits = SandboxWire.digits(26)
        #expect(digits.count == 26 && digits.allSatisfy(\.isNumber))
        #expect(SandboxWire.hex32() != hex)
    }
}
