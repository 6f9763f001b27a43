/// An amount of Chinese yuan held as an integer number of fen (0.01 CNY).
///
/// Money is integer fen everywhere inside PayFleet. Vendors that speak yuan (YunGouOS) convert
/// exactly at the edge with ``yuanString`` and ``init(yuan:)``; nothing ever goes through a
/// floating-point number.
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The amount in fen.
    public var fen: Int64

    @inlinable
    public init(fen: Int64) {
        self.fen = fen
    }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.fen < rhs.fen }
    public static func + (lhs: Money, rhs: Money) -> Money { Money(fen: lhs.fen + rhs.fen) }
    public static let zero = Money(fen: 0)

    /// The amount as a yuan string with exactly two decimals, e.g. `9900` fen → `"99.00"`.
    public var yuanString: String {
        let sign = fen < 0 ? "-" : ""
        let magnitude = fen.magnitude
        let yuan = magnitude / 100
        let cents = magnitude % 100
        return "\(sign)\(yuan).\(cents < 10 ? "0" : "")\(cents)"
    }

    public var description: String { "\(fen) fen" }

    /// Parses a yuan amount as vendors write it: digits, optionally a dot and one or two digits.
    ///
    /// `"99"`, `"99.0"`, `"99.00"` and `"0.01"` are accepted. Signs, exponents, more than two
    /// decimals, spaces, empty parts and separators are rejected rather than rounded, so
    /// `"0.001"`, `"1e3"`, `"-1"`, `"99.999"`, `".5"` and `"1,000"` all fail.
    public init(yuan text: String) throws(MoneyError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 20 else { throw MoneyError(input: text, reason: "not a yuan amount") }
        var integerPart: Int64 = 0
        var fraction: Int64 = 0
        var fractionDigits = 0
        var seenDot = false
        var integerDigits = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = Int64(byte - UInt8(ascii: "0"))
                if seenDot {
                    fractionDigits += 1
                    guard fractionDigits <= 2 else {
                        throw MoneyError(input: text, reason: "more than two decimal places")
                    }
                    fraction = fraction * 10 + digit
                } else {
                    integerDigits += 1
                    guard integerDigits <= 15 else { throw MoneyError(input: text, reason: "amount too large") }
                    integerPart = integerPart * 10 + digit
                }
            case UInt8(ascii: "."):
                guard !seenDot, integerDigits > 0 else { throw MoneyError(input: text, reason: "not a yuan amount") }
                seenDot = true
            default:
                throw MoneyError(input: text, reason: "not a yuan amount")
            }
        }
        guard integerDigits > 0, !seenDot || fractionDigits > 0 else {
            throw MoneyError(input: text, reason: "not a yuan amount")
        }
        if fractionDigits == 1 { fraction *= 10 }
        self.fen = integerPart * 100 + fraction
    }

    /// Parses an integer fen amount as vendors write it in text (`"1"`, `"9900"`); no sign, no decimals.
    public init(fenString text: String) throws(MoneyError) {
        guard !text.isEmpty, text.utf8.count <= 18,
            text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let value = Int64(text)
        else { throw MoneyError(input: text, reason: "not an integer fen amount") }
        self.fen = value
    }
}

/// A text that is not a valid amount.
public struct MoneyError: Error, Sendable, Hashable, CustomStringConvertible {
    public var input: String
    public var reason: String
    public var description: String { "invalid amount \"\(input.prefix(32))\": \(reason)" }
}
