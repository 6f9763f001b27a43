import Foundation
import NIOConcurrencyHelpers

/// Vendor time text in China time (UTC+8, no daylight saving), formatted and parsed by arithmetic.
///
/// The simulators stamp almost every answer and callback with a time (`time_end`, `pay_time`,
/// `addTime`, prepay ids…). A `DateFormatter` costs far more to create than the rest of an answer,
/// so the patterns the vendors use (`yyyy`, `MM`, `dd`, `HH`, `mm`, `ss`, `XXXXX`, quoted literals
/// and punctuation) are handled here on the Gregorian calendar (years 1583-9999); any other pattern, and
/// any parse input that is not plain fixed-width digits, goes to a cached `DateFormatter`, so the
/// text is always what `DateFormatter` (en_US_POSIX, GMT+8, not lenient) gives.
enum ChinaTime {
    static let offsetSeconds = 8 * 3600
    static let timeZone = TimeZone(secondsFromGMT: offsetSeconds) ?? TimeZone.current
    /// Years the arithmetic covers: after the Julian-to-Gregorian switch `DateFormatter`'s calendar
    /// makes in 1582, and with four digits.
    static let gregorianYears = 1583...9999

    /// `date` as `pattern` says, in China time.
    static func format(_ date: Date, _ pattern: String) -> String {
        guard let tokens = compiled(pattern) else { return fallbackFormat(date, pattern) }
        let seconds = (date.timeIntervalSince1970).rounded(.down)
        guard seconds.isFinite, abs(seconds) < 200_000_000_000 else { return fallbackFormat(date, pattern) }
        let civil = Civil(secondsSince1970: Int64(seconds) + Int64(offsetSeconds))
        guard (Self.gregorianYears).contains(civil.year) else { return fallbackFormat(date, pattern) }
        var out: [UInt8] = []
        out.reserveCapacity(pattern.utf8.count + 8)
        for token in tokens {
            switch token {
            case .year: append(civil.year, width: 4, to: &out)
            case .month: append(civil.month, width: 2, to: &out)
            case .day: append(civil.day, width: 2, to: &out)
            case .hour: append(civil.hour, width: 2, to: &out)
            case .minute: append(civil.minute, width: 2, to: &out)
            case .second: append(civil.second, width: 2, to: &out)
            case .offset: out.append(contentsOf: "+08:00".utf8)
            case .literal(let bytes): out.append(contentsOf: bytes)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The time `text` names in China time, strictly as `pattern` says (`nil` for an impossible
    /// date such as the 30th of February).
    static func parse(_ text: String, _ pattern: String) -> Date? {
        guard let tokens = compiled(pattern), !tokens.contains(.offset) else { return fallbackParse(text, pattern) }
        let bytes = Array(text.utf8)
        var index = 0
        var year = 1970
        var month = 1
        var day = 1
        var hour = 0
        var minute = 0
        var second = 0
        for token in tokens {
            let width: Int
            switch token {
            case .year: width = 4
            case .month, .day, .hour, .minute, .second: width = 2
            case .offset: return fallbackParse(text, pattern)
            case .literal(let literal):
                guard index + literal.count <= bytes.count, Array(bytes[index..<index + literal.count]) == literal
                else {
                    return fallbackParse(text, pattern)
                }
                index += literal.count
                continue
            }
            guard index + width <= bytes.count else { return fallbackParse(text, pattern) }
            var value = 0
            for byte in bytes[index..<index + width] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                    return fallbackParse(text, pattern)
                }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            index += width
            switch token {
            case .year: year = value
            case .month: month = value
            case .day: day = value
            case .hour: hour = value
            case .minute: minute = value
            case .second: second = value
            case .offset, .literal: break
            }
        }
        guard index == bytes.count else { return fallbackParse(text, pattern) }
        guard Self.gregorianYears.contains(year) else { return fallbackParse(text, pattern) }
        guard (1...12).contains(month), (1...Civil.daysIn(month: month, year: year)).contains(day),
            (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        let days = Civil.days(year: year, month: month, day: day)
        let local = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return Date(timeIntervalSince1970: TimeInterval(local - Int64(offsetSeconds)))
    }

    // MARK: Patterns

    enum Token: Hashable {
        case year, month, day, hour, minute, second, offset
        case literal([UInt8])
    }

    private static let patterns = NIOLockedValueBox<[String: [Token]?]>([:])

    /// The pattern's tokens, `nil` when it uses a letter this type does not format (cached).
    static func compiled(_ pattern: String) -> [Token]? {
        if let cached = patterns.withLockedValue({ $0[pattern] }) { return cached }
        let tokens = tokenize(pattern)
        patterns.withLockedValue { $0[pattern] = .some(tokens) }
        return tokens
    }

    static func tokenize(_ pattern: String) -> [Token]? {
        let characters = Array(pattern.unicodeScalars)
        var tokens: [Token] = []
        var literal: [UInt8] = []
        func flush() {
            if !literal.isEmpty { tokens.append(.literal(literal)) }
            literal = []
        }
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character == "'" {
                // 'text' is literal, '' is a quote.
                guard let close = characters[(index + 1)...].firstIndex(of: "'") else { return nil }
                if close == index + 1 {
                    literal.append(UInt8(ascii: "'"))
                } else {
                    literal.append(contentsOf: String(String.UnicodeScalarView(characters[(index + 1)..<close])).utf8)
                }
                index = close + 1
                continue
            }
            guard character.properties.isAlphabetic, character.isASCII else {
                literal.append(contentsOf: String(character).utf8)
                index += 1
                continue
            }
            var run = 1
            while index + run < characters.count, characters[index + run] == character { run += 1 }
            let token: Token
            switch (character, run) {
            case ("y", 4): token = .year
            case ("M", 2): token = .month
            case ("d", 2): token = .day
            case ("H", 2): token = .hour
            case ("m", 2): token = .minute
            case ("s", 2): token = .second
            case ("X", 5): token = .offset
            default: return nil
            }
            flush()
            tokens.append(token)
            index += run
        }
        flush()
        return tokens
    }

    private static func append(_ value: Int, width: Int, to out: inout [UInt8]) {
        var digits: [UInt8] = []
        var rest = value
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        if digits.count < width {
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits.count))
        }
        out.append(contentsOf: digits.reversed())
    }

    // MARK: Fallback (patterns and inputs the arithmetic does not cover)

    private static let formatters = NIOLockedValueBox<[String: DateFormatter]>([:])

    private static func withFormatter<T>(_ pattern: String, _ body: (DateFormatter) -> T) -> T {
        formatters.withLockedValue { formatters in
            let formatter: DateFormatter
            if let cached = formatters[pattern] {
                formatter = cached
            } else {
                formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.calendar = Calendar(identifier: .gregorian)
                formatter.timeZone = timeZone
                formatter.dateFormat = pattern
                formatter.isLenient = false
                formatters[pattern] = formatter
            }
            return body(formatter)
        }
    }

    static func fallbackFormat(_ date: Date, _ pattern: String) -> String {
        withFormatter(pattern) { $0.string(from: date) }
    }

    static func fallbackParse(_ text: String, _ pattern: String) -> Date? {
        withFormatter(pattern) { $0.date(from: text) }
    }
}

/// A civil date and time from seconds since 1970 (days-from-civil, proleptic Gregorian).
struct Civil: Hashable {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int

    init(secondsSince1970: Int64) {
        var days = secondsSince1970 / 86_400
        var rest = secondsSince1970 % 86_400
        if rest < 0 {
            rest += 86_400
            days -= 1
        }
        hour = Int(rest / 3600)
        minute = Int(rest % 3600 / 60)
        second = Int(rest % 60)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        year = Int(yoe + era * 400 + (m <= 2 ? 1 : 0))
        month = Int(m)
        day = Int(d)
    }

    /// Days since 1970-01-01 of a civil date (days_from_civil).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
