import Foundation
import Testing

@testable import Fleet

/// RFC 3339 timestamps and SHA-256 ids written without Foundation's formatters, against them.
@Suite("RFC 3339 times and content digests against Foundation")
struct DigestAndTimeFormatTests {
    @Test("milliseconds format as ISO8601DateFormatter writes UTC with fractional seconds")
    func rfc3339() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        reference.timeZone = TimeZone(secondsFromGMT: 0)
        var state: UInt64 = 5
        var samples: [Int64] = [0, 999, 1000, -1, -1000, -1001, 1_764_720_000_000, 253_402_300_799_999]
        for _ in 0..<5000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1
            samples.append(Int64(state >> 22) % 4_102_444_800_000)  // up to 2100
        }
        for millis in samples {
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            #expect(RFC3339.formatMilliseconds(millis) == reference.string(from: date), "\(millis)")
        }
        #expect(RFC3339.formatMilliseconds(253_402_300_800_000) == "10000-01-01T00:00:00.000Z")
    }

    @Test("a digest's hex prefix is the prefix of its full hex form")
    func digestPrefix() {
        for text in ["", "a", "O1|query|fallback|1|1764720000000", String(repeating: "支付", count: 100)] {
            let full = ContentDigest.sha256Hex(text)
            #expect(full.utf8.count == 64)
            #expect(full == ContentDigest.sha256Hex(Array(text.utf8)))
            #expect(full == ContentDigest.sha256Hex(Data(text.utf8)))
            #expect(ContentDigest.sha256Hex(text, characters: 32) == String(full.prefix(32)))
        }
        #expect(ContentDigest.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}
