import Foundation

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
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
            + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(millis, 3))Z"
    }

    /// Parses an RFC 3339 timestamp with or without fractional seconds and with `Z` or a numeric offset.
    public static func parse(_ text: String) -> Date? {
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        if let date = try? withFraction.parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}
