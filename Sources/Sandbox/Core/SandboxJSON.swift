import Foundation

/// JSON text for the simulators' answers and callbacks, written directly.
///
/// The same text `JSONSerialization` writes with `.sortedKeys` and `.withoutEscapingSlashes` (members
/// ordered as it orders them: ignoring case, digit runs by value, then literally; the same escapes),
/// without its bridging through `NSDictionary`/`NSNumber`, which cost more than the rest of an
/// answer. Values are strings, integers, booleans, `NSNumber`s, `NSNull`, `[String: Any]` and
/// `[Any]`; anything else (a `Double`, say) makes the whole value go through `JSONSerialization`.
enum SandboxJSON {
    /// The JSON text of `value` (`nil` when `JSONSerialization` cannot write it either).
    static func data(_ value: Any) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        if write(value, to: &out) { return out }
        guard JSONSerialization.isValidJSONObject(value),
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return Array(data)
    }

    /// The JSON text of `value` as a string (`fallback` when it cannot be written).
    static func string(_ value: Any, fallback: String) -> String {
        data(value).map { String(decoding: $0, as: UTF8.self) } ?? fallback
    }

    /// Appends `value`; `false` for a value this writer does not handle.
    private static func write(_ value: Any, to out: inout [UInt8]) -> Bool {
        switch value {
        case let text as String:
            writeString(text, to: &out)
        case let object as [String: Any]:
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in sortedKeys(object) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                guard let member = object[key], write(member, to: &out) else { return false }
            }
            out.append(UInt8(ascii: "}"))
        case let array as [Any]:
            out.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                guard write(element, to: &out) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        case is NSNull:
            out.append(contentsOf: "null".utf8)
        case let number as NSNumber where type(of: value) is NSNumber.Type:
            // A real NSNumber (not a bridged Swift value): integers only, booleans and fractions fall back.
            guard let text = integerText(number) else { return false }
            out.append(contentsOf: text.utf8)
        default:
            // Swift scalars, by exact type (bridging would turn 0 and 1 into booleans).
            switch value {
            case let flag as Bool where type(of: value) == Bool.self:
                out.append(contentsOf: (flag ? "true" : "false").utf8)
            case let number as Int where type(of: value) == Int.self:
                out.append(contentsOf: String(number).utf8)
            case let number as Int64 where type(of: value) == Int64.self:
                out.append(contentsOf: String(number).utf8)
            case let number as Int32 where type(of: value) == Int32.self:
                out.append(contentsOf: String(number).utf8)
            default:
                return false
            }
        }
        return true
    }

    /// The text of an integer `NSNumber` (not a boolean or a fraction), as `JSONSerialization` writes it.
    private static func integerText(_ number: NSNumber) -> String? {
        let type = String(cString: number.objCType)
        switch type {
        case "q", "l", "i", "s": return String(number.int64Value)
        case "Q", "L", "I", "S": return String(number.uint64Value)
        default: return nil
        }
    }

    private static func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The keys in ``keyPrecedes(_:_:)`` order, each key's scalars read once.
    static func sortedKeys(_ object: [String: Any]) -> [String] {
        var keys = object.keys.map { (key: $0, scalars: Array($0.unicodeScalars)) }
        keys.sort { precedes($0.scalars, $1.scalars) }
        return keys.map(\.key)
    }

    /// `JSONSerialization`'s `.sortedKeys` order: case-insensitive, digit runs compared by value
    /// (`.numeric`), ties broken literally (`.forcedOrdering`).
    static func keyPrecedes(_ a: String, _ b: String) -> Bool {
        precedes(Array(a.unicodeScalars), Array(b.unicodeScalars))
    }

    private static func precedes(_ x: [Unicode.Scalar], _ y: [Unicode.Scalar]) -> Bool {
        var i = 0
        var j = 0
        // Equal numbers written with more leading zeros come later (`item9` before `item09`).
        var shorterNumber: Bool?
        while i < x.count, j < y.count {
            if isDigit(x[i]), isDigit(y[j]) {
                let (runX, nextI) = digitRun(x, from: i)
                let (runY, nextJ) = digitRun(y, from: j)
                if runX.count != runY.count { return runX.count < runY.count }
                if runX != runY { return runX.lexicographicallyPrecedes(runY) }
                if shorterNumber == nil, nextI - i != nextJ - j { shorterNumber = nextI - i < nextJ - j }
                i = nextI
                j = nextJ
                continue
            }
            let cx = folded(x[i])
            let cy = folded(y[j])
            if cx != cy { return cx < cy }
            i += 1
            j += 1
        }
        if (x.count - i) != (y.count - j) { return (x.count - i) < (y.count - j) }
        if let shorterNumber { return shorterNumber }
        return x.lexicographicallyPrecedes(y)
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    /// The digits from `start` without leading zeros, and the index after the run.
    private static func digitRun(_ scalars: [Unicode.Scalar], from start: Int) -> ([UInt32], Int) {
        var end = start
        while end < scalars.count, isDigit(scalars[end]) { end += 1 }
        var digits = scalars[start..<end].map(\.value)
        while digits.count > 1, digits.first == UInt32(UInt8(ascii: "0")) { digits.removeFirst() }
        return (digits, end)
    }

    private static func folded(_ scalar: Unicode.Scalar) -> UInt32 {
        ("A"..."Z").contains(scalar) ? scalar.value + 32 : scalar.value
    }
}
