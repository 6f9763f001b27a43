import Foundation
import Payments

/// RFC 3339 timestamps in UTC with milliseconds (`2026-11-22T02:17:39.123Z`), the form used in
/// logs, timer jobs (`due_at`) and callback records. Formatting does not allocate a formatter.
public enum RFC3339 {
    /// Formats `date` as UTC with millisecond precision.
    public static func format(_ date: Date) -> String {
        formatMilliseconds(Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// Formats a Unix time in milliseconds as UTC with millisecond precision.
    public static func formatMilliseconds(_ unixMilliseconds: Int64) -> String {
        var seconds = time_t(unixMilliseconds >= 0 ? unixMilliseconds / 1000 : (unixMilliseconds - 999) / 1000)
        let millis = Int(unixMilliseconds - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let year = Int(parts.tm_year) + 1900
        guard (0...9999).contains(year) else { return padded(parts, year: year, millis: millis) }
        // `YYYY-MM-DDTHH:MM:SS.mmmZ`: 24 bytes, written in place.
        return String(unsafeUninitializedCapacity: 24) { out in
            var position = 0
            func digits(_ value: Int, _ width: Int) {
                var divisor = 1
                for _ in 1..<width { divisor *= 10 }
                var rest = value
                for _ in 0..<width {
                    out[position] = UInt8(ascii: "0") + UInt8(rest / divisor)
                    rest %= divisor
                    divisor /= 10
                    position += 1
                }
            }
            func byte(_ ascii: Unicode.Scalar) {
                out[position] = UInt8(ascii: ascii)
                position += 1
            }
            digits(year, 4)
            byte("-")
            digits(Int(parts.tm_mon) + 1, 2)
            byte("-")
            digits(Int(parts.tm_mday), 2)
            byte("T")
            digits(Int(parts.tm_hour), 2)
            byte(":")
            digits(Int(parts.tm_min), 2)
            byte(":")
            digits(Int(parts.tm_sec), 2)
            byte(".")
            digits(millis, 3)
            byte("Z")
            return position
        }
    }

    /// Years outside 0–9999, zero-padded to at least four digits.
    private static func padded(_ parts: tm, year: Int, millis: Int) -> String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return "\(pad(year, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
            + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(millis, 3))Z"
    }

    /// Parses an RFC 3339 timestamp with or without fractional seconds and with `Z` or a numeric
    /// offset (``ChinaTime/parseRFC3339(_:)``: plain arithmetic, no formatter).
    public static func parse(_ text: String) -> Date? {
        ChinaTime.parseRFC3339(text)
    }
}
