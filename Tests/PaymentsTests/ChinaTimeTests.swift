import Foundation
import Payments
import Testing

/// Vendor timestamps in GMT+8: the arithmetic formatter and parser must agree with Foundation's
/// `DateFormatter` (GMT+8, en_US_POSIX, Gregorian) for every pattern the channels use.
@Suite("China time (GMT+8) formatting and parsing")
struct ChinaTimeTests {
    static let patterns = ["yyyyMMddHHmmss", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm:ssXXXXX"]

    static func reference(_ pattern: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
        formatter.dateFormat = pattern
        formatter.isLenient = false
        return formatter
    }

    @Test("known answers: the GMT+8 day boundary, a leap day, RFC 3339 with +08:00")
    func knownAnswers() throws {
        // 2026-11-22T02:30:00Z is 10:30 in Beijing; 2026-11-21T16:00:00Z is midnight there.
        let morning = Date(timeIntervalSince1970: 1_795_314_600)
        #expect(ChinaTime.format(morning, "yyyyMMddHHmmss") == "20261122103000")
        #expect(
            ChinaTime.format(Date(timeIntervalSince1970: 1_795_276_800), "yyyy-MM-dd HH:mm:ss") == "2026-11-22 00:00:00"
        )
        #expect(
            ChinaTime.format(Date(timeIntervalSince1970: 1_795_276_799.9), "yyyy-MM-dd HH:mm:ss")
                == "2026-11-21 23:59:59")
        #expect(ChinaTime.rfc3339(morning) == "2026-11-22T10:30:00+08:00")
        #expect(ChinaTime.parse("20261122103000", "yyyyMMddHHmmss") == morning)
        #expect(ChinaTime.parse("2028-02-29", "yyyy-MM-dd") == Date(timeIntervalSince1970: 1_835_395_200 - 8 * 3600))
        #expect(ChinaTime.parse("2026-11-22T02:30:00Z", "yyyy-MM-dd'T'HH:mm:ssXXXXX") == morning)
    }

    @Test("format and parse agree with DateFormatter across 2000–2099")
    func agreesWithFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        for pattern in Self.patterns {
            let reference = Self.reference(pattern)
            for _ in 0..<400 {
                let date = Date(
                    timeIntervalSince1970: Double(Int64.random(in: 946_684_800...4_102_444_800, using: &generator)))
                let expected = reference.string(from: date)
                #expect(ChinaTime.format(date, pattern) == expected, "\(pattern) \(date.timeIntervalSince1970)")
                #expect(ChinaTime.parse(expected, pattern) == reference.date(from: expected), "\(pattern) \(expected)")
            }
        }
    }

    @Test("malformed or impossible timestamps are refused")
    func refusesBadInput() {
        for bad in [
            "2026112210300", "202611221030000", "2026-11-22 10:30:00", "20261322103000", "20260230103000",
            "20261122243000", "20261122106000", "2026112210300x", "", "２０２６1122103000",
        ] {
            #expect(ChinaTime.parse(bad, "yyyyMMddHHmmss") == nil, "\(bad)")
        }
        #expect(ChinaTime.parse("2027-02-29", "yyyy-MM-dd") == nil)
        #expect(ChinaTime.parse("2026-11-22T10:30:00+0800", "yyyy-MM-dd'T'HH:mm:ssXXXXX") == nil)
    }

    @Test("RFC 3339 with any offset: WeChat APIv3's published example, UTC, fractions, liberal separators")
    func rfc3339KnownAnswers() {
        // WeChat Pay APIv3 combine query answer's `success_time` example.
        #expect(
            ChinaTime.parseRFC3339("2015-05-20T13:29:35.120+08:00") == Date(timeIntervalSince1970: 1_432_099_775.12))
        let morning = Date(timeIntervalSince1970: 1_795_314_600)
        for text in [
            "2026-11-22T10:30:00+08:00", "2026-11-22T02:30:00Z", "2026-11-22t02:30:00z", "2026-11-22 02:30:00Z",
            "2026-11-22T10:30:00+0800", "2026-11-21T21:00:00-05:30", "2026-11-22T02:30:00.000Z",
        ] {
            #expect(ChinaTime.parseRFC3339(text) == morning, "\(text)")
        }
        #expect(ChinaTime.parseRFC3339("2026-11-22T02:30:00.5Z") == Date(timeIntervalSince1970: 1_795_314_600.5))
        #expect(
            ChinaTime.parseRFC3339("2026-11-22T02:30:00.123456789123Z")
                == Date(timeIntervalSince1970: 1_795_314_600 + 0.123_456_789))
        // A leap second reads as the next minute's first second.
        #expect(ChinaTime.parseRFC3339("2016-12-31T23:59:60Z") == Date(timeIntervalSince1970: 1_483_228_800))
        for bad in [
            "", "2026-11-22T10:30:00", "2026-11-22T10:30:00+8:00", "2026-11-22T10:30:00+08", "2026-02-30T10:30:00Z",
            "2026-11-22T24:00:00Z", "2026-11-22T10:60:00Z", "2026-11-22T10:30:61Z", "2026-11-22T10:30:00.Z",
            "2026-11-22T10:30:00Z ", "2026-11-22X10:30:00Z", "2026-11-22T10:30:00+24:00", "20261122T103000Z",
            "2026-11-22T10:30:00+08:60", "２０２６-11-22T10:30:00Z",
        ] {
            #expect(ChinaTime.parseRFC3339(bad) == nil, "\(bad)")
        }
    }

    @Test("RFC 3339 parsing agrees with Foundation's ISO8601DateFormatter across offsets and fractions")
    func rfc3339AgreesWithFoundation() {
        let whole = ISO8601DateFormatter()
        whole.formatOptions = [.withInternetDateTime]
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        for index in 0..<600 {
            let milliseconds = Int64.random(in: 946_684_800_000...4_102_444_800_000, using: &generator)
            let date = Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000)
            let formatter = index.isMultiple(of: 2) ? whole : fractional
            formatter.timeZone = TimeZone(secondsFromGMT: [0, 8 * 3600, -5 * 3600 - 1800, 14 * 3600][index % 4])
            let text = formatter.string(from: date)
            #expect(ChinaTime.parseRFC3339(text) == formatter.date(from: text), "\(text)")
        }
    }
}
