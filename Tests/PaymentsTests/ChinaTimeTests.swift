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
}
