import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Vendor timestamps are China Standard Time (GMT+8, no daylight saving).
///
/// The fixed-width patterns vendors use (`yyyyMMddHHmmss`, `yyyy-MM-dd HH:mm:ss`, `yyyy-MM-dd`,
/// `yyyy-MM-dd'T'HH:mm:ssXXXXX`) are formatted and parsed with plain arithmetic: building a
/// `DateFormatter` per call (an ICU formatter underneath) cost about a third of a worker's CPU.
/// Any other pattern falls back to `DateFormatter`.
public enum ChinaTime {
    public static let timeZone = TimeZone(secondsFromGMT: offsetSeconds)!
    static let offsetSeconds = 8 * 3600

    /// Formats a date in GMT+8, e.g. `format(date, "yyyyMMddHHmmss")` → `20261122103000`.
    public static func format(_ date: Date, _ pattern: String) -> String {
        guard let tokens = tokens(pattern) else { return formatter(pattern).string(from: date) }
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down)) + time_t(offsetSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text = ""
        text.reserveCapacity(tokens.count * 2)
        for token in tokens {
            switch token {
            case .year: append(Int(parts.tm_year) + 1900, width: 4, to: &text)
            case .month: append(Int(parts.tm_mon) + 1, width: 2, to: &text)
            case .day: append(Int(parts.tm_mday), width: 2, to: &text)
            case .hour: append(Int(parts.tm_hour), width: 2, to: &text)
            case .minute: append(Int(parts.tm_min), width: 2, to: &text)
            case .second: append(Int(parts.tm_sec), width: 2, to: &text)
            case .offset: text += "+08:00"
            case .literal(let character): text.append(character)
            }
        }
        return text
    }

    /// Parses a GMT+8 timestamp in the given pattern; `nil` when it does not match exactly (wrong
    /// length, a non-digit, or an impossible date such as 2026-02-30).
    public static func parse(_ text: String, _ pattern: String) -> Date? {
        guard let tokens = tokens(pattern) else {
            let formatter = formatter(pattern)
            formatter.isLenient = false
            return formatter.date(from: text)
        }
        var input = Substring(text).utf8[...]
        var year = 1970
        var month = 1
        var day = 1
        var hour = 0
        var minute = 0
        var second = 0
        var offset = offsetSeconds
        func digits(_ width: Int) -> Int? {
            guard input.count >= width else { return nil }
            var value = 0
            for _ in 0..<width {
                let byte = input.removeFirst()
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        for token in tokens {
            switch token {
            case .year:
                guard let value = digits(4) else { return nil }
                year = value
            case .month:
                guard let value = digits(2) else { return nil }
                month = value
            case .day:
                guard let value = digits(2) else { return nil }
                day = value
            case .hour:
                guard let value = digits(2) else { return nil }
                hour = value
            case .minute:
                guard let value = digits(2) else { return nil }
                minute = value
            case .second:
                guard let value = digits(2) else { return nil }
                second = value
            case .offset:
                guard let sign = input.popFirst() else { return nil }
                if sign == UInt8(ascii: "Z") {
                    offset = 0
                    continue
                }
                guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"), let hours = digits(2),
                    input.popFirst() == UInt8(ascii: ":"),
                    let minutes = digits(2), hours < 24, minutes < 60
                else { return nil }
                offset = (hours * 3600 + minutes * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
            case .literal(let character):
                for byte in String(character).utf8 {
                    guard input.popFirst() == byte else { return nil }
                }
            }
        }
        guard input.isEmpty, (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let local = days * 86_400 + hour * 3600 + minute * 60 + second
        return Date(timeIntervalSince1970: TimeInterval(local - offset))
    }

    /// RFC 3339 with the +08:00 offset, as WeChat APIv3 writes times (`2026-11-22T10:30:00+08:00`).
    public static func rfc3339(_ date: Date) -> String {
        format(date, "yyyy-MM-dd'T'HH:mm:ssXXXXX")
    }

    /// Parses an RFC 3339 timestamp with any offset: `2026-11-22T10:30:00+08:00`,
    /// `2015-05-20T13:29:35.120+08:00`, `2026-11-22T02:30:00Z`. Liberal where RFC 3339 allows it:
    /// `t` or a space for `T`, `z` for `Z`, any number of fraction digits (nanoseconds kept), an
    /// offset with or without its colon. `nil` for anything else, or an impossible date.
    ///
    /// Read with plain arithmetic: an `ISO8601DateFormatter` per call (an ICU formatter underneath)
    /// cost more than the rest of a WeChat APIv3 answer.
    public static func parseRFC3339(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { parseRFC3339(bytes: $0) }
    }

    /// ``parseRFC3339(_:)`` of UTF-8 bytes.
    public static func parseRFC3339(bytes: UnsafeBufferPointer<UInt8>) -> Date? {
        var index = 0
        func digits(_ width: Int) -> Int? {
            guard bytes.count - index >= width else { return nil }
            var value = 0
            for _ in 0..<width {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int(digit)
                index += 1
            }
            return value
        }
        func take(_ accepted: UInt8...) -> Bool {
            guard index < bytes.count, accepted.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), take(UInt8(ascii: "-")), let month = digits(2), take(UInt8(ascii: "-")),
            let day = digits(2), take(UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")),
            let hour = digits(2), take(UInt8(ascii: ":")), let minute = digits(2), take(UInt8(ascii: ":")),
            let second = digits(2)
        else { return nil }
        // Fraction: nanoseconds from the first nine digits; milliseconds kept apart so that three
        // digits give the same `Date` as `Date(timeIntervalSince1970: milliseconds / 1000)`.
        var fractionDigits = 0
        var nanoseconds = 0
        if take(UInt8(ascii: ".")) {
            while index < bytes.count, case let digit = bytes[index] &- UInt8(ascii: "0"), digit < 10 {
                if fractionDigits < 9 { nanoseconds = nanoseconds * 10 + Int(digit) }
                fractionDigits += 1
                index += 1
            }
            guard fractionDigits > 0 else { return nil }
            for _ in min(fractionDigits, 9)..<9 { nanoseconds *= 10 }
        }
        let offset: Int
        if take(UInt8(ascii: "Z"), UInt8(ascii: "z")) {
            offset = 0
        } else {
            guard index < bytes.count else { return nil }
            let sign = bytes[index]
            guard take(UInt8(ascii: "+"), UInt8(ascii: "-")), let hours = digits(2) else { return nil }
            _ = take(UInt8(ascii: ":"))
            guard let minutes = digits(2), hours < 24, minutes < 60 else { return nil }
            offset = (hours * 3600 + minutes * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
        }
        // A leap second (60) is read as the first second of the next minute.
        guard index == bytes.count, (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        let seconds =
            daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second - offset
        if nanoseconds % 1_000_000 == 0 {
            return Date(timeIntervalSince1970: TimeInterval(seconds * 1000 + nanoseconds / 1_000_000) / 1000)
        }
        return Date(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(nanoseconds) / 1_000_000_000)
    }

    // MARK: Internals

    /// The vendors' patterns, parsed once.
    private static let knownPatterns: [String: [Token]] = Dictionary(
        uniqueKeysWithValues: ["yyyyMMddHHmmss", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm:ssXXXXX"]
            .compactMap { pattern in Token.parse(pattern).map { (pattern, $0) } })

    /// A pattern's tokens: parsed once for the vendors' patterns, on each call for any other.
    static func tokens(_ pattern: String) -> [Token]? {
        knownPatterns[pattern] ?? Token.parse(pattern)
    }

    enum Token: Equatable {
        case year, month, day, hour, minute, second, offset
        case literal(Character)

        /// The tokens of a pattern made only of `yyyy`, `MM`, `dd`, `HH`, `mm`, `ss`, `XXXXX`,
        /// quoted text and punctuation; `nil` for anything else.
        static func parse(_ pattern: String) -> [Token]? {
            let characters = Array(pattern)
            var tokens: [Token] = []
            var index = 0
            while index < characters.count {
                let character = characters[index]
                if character == "'" {
                    var end = index + 1
                    while end < characters.count, characters[end] != "'" {
                        tokens.append(.literal(characters[end]))
                        end += 1
                    }
                    guard end < characters.count, end > index + 1 else { return nil }
                    index = end + 1
                    continue
                }
                guard character.isLetter else {
                    tokens.append(.literal(character))
                    index += 1
                    continue
                }
                var end = index
                while end < characters.count, characters[end] == character { end += 1 }
                switch (character, end - index) {
                case ("y", 4): tokens.append(.year)
                case ("M", 2): tokens.append(.month)
                case ("d", 2): tokens.append(.day)
                case ("H", 2): tokens.append(.hour)
                case ("m", 2): tokens.append(.minute)
                case ("s", 2): tokens.append(.second)
                case ("X", 5): tokens.append(.offset)
                default: return nil
                }
                index = end
            }
            return tokens
        }
    }

    private static func append(_ value: Int, width: Int, to text: inout String) {
        let digits = String(value)
        if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
        text += digits
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func formatter(_ pattern: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = timeZone
        formatter.dateFormat = pattern
        return formatter
    }
}
