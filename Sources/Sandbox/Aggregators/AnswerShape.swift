import Foundation

/// How the aggregator simulators shape one order's answers and callbacks, so the clients meet
/// every documented shape and not one fixed form.
///
/// Chosen deterministically from the order's `out_trade_no` (FNV-1a), so a run can be repeated
/// and a test can pick order numbers that cover every combination. The variations are the ones
/// the vendors' documents and samples allow:
/// - `numbersAsNumbers`: members whose value is a number are sent as JSON numbers instead of strings
///   (YunGouOS `code` is a number in its sample and `payStatus` an `int` in its SDK; 乐收赢's own
///   request example sends `inst_no` as a number; storepos quotes everything in its samples);
/// - `omitsOptional`: optional members are left out (each simulator names which);
/// - `addsUnknownMembers`: members no document lists are added (vendors add fields over time);
/// - `uppercaseDigest`: 乐收赢's signature comes in uppercase hex (the documents only show lowercase).
public struct SandboxAnswerShape: Sendable, Hashable, CustomStringConvertible {
    public let bits: UInt64

    public init(outTradeNo: String) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in outTradeNo.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        bits = hash
    }

    public var numbersAsNumbers: Bool { bits & 1 != 0 }
    public var omitsOptional: Bool { bits & 2 != 0 }
    public var addsUnknownMembers: Bool { bits & 4 != 0 }
    public var uppercaseDigest: Bool { bits & 8 != 0 }

    public var description: String {
        "numbers:\(numbersAsNumbers) omit:\(omitsOptional) unknown:\(addsUnknownMembers) upper:\(uppercaseDigest)"
    }

    /// Removes the optional members when this shape omits them.
    func trimmed(_ fields: [String: String], optional: Set<String>) -> [String: String] {
        omitsOptional ? fields.filter { !optional.contains($0.key) } : fields
    }

    /// Adds members no document lists, as text (so they can be signed and sent in a form too).
    func extended(_ fields: [String: String]) -> [String: String] {
        guard addsUnknownMembers else { return fields }
        var fields = fields
        fields["sandbox_trace"] = String(bits % 1_000_000)
        fields["sandbox_note"] = "未知字段"
        return fields
    }

    /// The JSON object for `fields`: members named in `numeric` whose text is a plain number are
    /// sent as numbers when this shape says so (the text, and so the signature, stays the same).
    func json(_ fields: [String: String], numeric: Set<String>) -> [String: Any] {
        var object: [String: Any] = [:]
        for (name, value) in fields {
            if numbersAsNumbers, numeric.contains(name), let number = Self.number(value) {
                object[name] = number
            } else {
                object[name] = value
            }
        }
        return object
    }

    /// An integer whose JSON text is exactly `text` (no leading zeros). Amounts in yuan stay strings:
    /// no vendor sample shows them as numbers.
    static func number(_ text: String) -> NSNumber? {
        guard !text.isEmpty, text.count < 16, text.allSatisfy({ $0.isASCII && $0.isNumber }),
            text == "0" || text.first != "0", let value = Int64(text)
        else { return nil }
        return NSNumber(value: value)
    }
}
