import Foundation

/// Vendor timestamps are China Standard Time (GMT+8, no daylight saving).
public enum ChinaTime {
    public static let timeZone = TimeZone(secondsFromGMT: 8 * 3600)!

    /// Formats a date in GMT+8, e.g. `format(date, "yyyyMMddHHmmss")` → `20261122103000`.
    public static func format(_ date: Date, _ pattern: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = timeZone
        formatter.dateFormat = pattern
        return formatter.string(from: date)
    }

    /// Parses a GMT+8 timestamp in the given pattern; `nil` when it does not match exactly.
    public static func parse(_ text: String, _ pattern: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = timeZone
        formatter.dateFormat = pattern
        formatter.isLenient = false
        return formatter.date(from: text)
    }

    /// RFC 3339 with the +08:00 offset, as WeChat APIv3 writes times (`2026-11-22T10:30:00+08:00`).
    public static func rfc3339(_ date: Date) -> String {
        format(date, "yyyy-MM-dd'T'HH:mm:ssXXXXX")
    }

    /// Parses RFC 3339 with any offset.
    public static func parseRFC3339(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
