import Foundation

/// Why a text is not JSON (RFC 8259): the byte offset and what was expected there.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Offset of the offending byte from the start of the text.
    public var offset: Int
    public var reason: String

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Deepest nesting of arrays and objects accepted (the limit `JSONDecoder` applies).
    public static let maximumParseDepth = 512

    /// Parses one JSON text (RFC 8259): one value, optionally surrounded by whitespace.
    ///
    /// The result is what `JSONDecoder().decode(JSONValue.self, from:)` gives for the same text,
    /// without its cost (a decoding container per value, and a thrown error for every type a value
    /// is not): numbers without a fraction or exponent that fit `Int64` are ``integer(_:)``, other
    /// numbers ``integer(_:)`` when their value is an exact `Int64`, else ``number(_:)``; a repeated
    /// object key keeps its first value; one trailing comma after the last element of an array or
    /// object is accepted. Strings must be valid UTF-8 with no raw control characters; `\u`
    /// escapes must pair their surrogates. Nesting is limited to ``maximumParseDepth``.
    public static func parse(_ data: Data) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = data.withUnsafeBytes { raw in
            var parser = JSONTextParser(bytes: raw.bindMemory(to: UInt8.self))
            do throws(JSONParseError) {
                return .success(try parser.document())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Parses the UTF-8 bytes of one JSON text; see ``parse(_:)-(Data)``.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONTextParser(bytes: buffer)
            do throws(JSONParseError) {
                return .success(try parser.document())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// A recursive-descent JSON parser over a byte buffer (valid only while the buffer is).
private struct JSONTextParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var depth = 0
    /// The members of the objects being read, innermost last: an object's dictionary is built
    /// once its size is known, instead of growing (and rehashing) member by member.
    var openMembers: [(name: String, value: JSONValue)] = []

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func document() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try self.value()
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected data after the JSON value") }
        return value
    }

    private func fail(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? index, reason: reason)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }

    private mutating func value() throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of text, expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character, expected a value")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw fail("unexpected end of text in a literal") }
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: count)
        for offset in 0..<count where bytes[index + offset] != expected[offset] {
            throw fail("invalid literal", at: index + offset)
        }
        index += count
    }

    private mutating func enter() throws(JSONParseError) {
        depth += 1
        guard depth <= JSONValue.maximumParseDepth else {
            throw fail("nested deeper than \(JSONValue.maximumParseDepth) levels")
        }
    }

    private mutating func object() throws(JSONParseError) -> JSONValue {
        try enter()
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object([:])
        }
        if openMembers.capacity == 0 { openMembers.reserveCapacity(32) }
        let start = openMembers.count
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw fail("expected a member name in quotes")
            }
            let name = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let member = try value()
            openMembers.append((name, member))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of text in an object") }
            switch bytes[index] {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { fallthrough }
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return .object(closeMembers(from: start))
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    /// The dictionary of the object whose members start at `start` in ``openMembers`` (a repeated
    /// name keeps its first value), taking them off.
    private mutating func closeMembers(from start: Int) -> [String: JSONValue] {
        var members = [String: JSONValue](minimumCapacity: openMembers.count - start)
        // Last to first, so that the first of a repeated name is the one left.
        for index in (start..<openMembers.count).reversed() {
            members[openMembers[index].name] = openMembers[index].value
        }
        openMembers.removeSubrange(start...)
        return members
    }

    private mutating func array() throws(JSONParseError) -> JSONValue {
        try enter()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value())
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of text in an array") }
            switch bytes[index] {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { fallthrough }
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return .array(elements)
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    /// A string at `index` (its opening quote); leaves `index` after the closing quote.
    private mutating func string() throws(JSONParseError) -> String {
        let start = index + 1
        var cursor = start
        // Fast path: no escapes.
        while cursor < bytes.count {
            let byte = bytes[cursor]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<cursor])
                guard let text = String(validating: slice, as: UTF8.self) else {
                    throw fail("a string is not valid UTF-8", at: start)
                }
                index = cursor + 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail("a raw control character in a string", at: cursor) }
            cursor += 1
        }
        guard cursor < bytes.count else { throw fail("unterminated string", at: start - 1) }
        // Slow path: unescape into a byte buffer.
        var out: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[start..<cursor]))
        while cursor < bytes.count {
            let byte = bytes[cursor]
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw fail("a string is not valid UTF-8", at: start)
                }
                index = cursor + 1
                return text
            case UInt8(ascii: "\\"):
                cursor += 1
                guard cursor < bytes.count else { break }
                switch bytes[cursor] {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    let scalar = try unicodeEscape(at: &cursor)
                    out.append(contentsOf: String(Character(scalar)).utf8)
                    continue
                default: throw fail("an invalid escape in a string", at: cursor - 1)
                }
                cursor += 1
            default:
                if byte < 0x20 { throw fail("a raw control character in a string", at: cursor) }
                out.append(byte)
                cursor += 1
            }
        }
        throw fail("unterminated string", at: start - 1)
    }

    /// The scalar of `\uXXXX` (and its low surrogate's `\uXXXX` when it is a high surrogate), with
    /// `cursor` at the `u`; leaves `cursor` after the last hex digit.
    private func unicodeEscape(at cursor: inout Int) throws(JSONParseError) -> Unicode.Scalar {
        let first = try hex4(at: cursor + 1)
        cursor += 5
        switch first {
        case 0xD800...0xDBFF:
            guard cursor + 1 < bytes.count, bytes[cursor] == UInt8(ascii: "\\"), bytes[cursor + 1] == UInt8(ascii: "u")
            else { throw fail("a high surrogate escape without its low surrogate", at: cursor) }
            let second = try hex4(at: cursor + 2)
            guard (0xDC00...0xDFFF).contains(second) else {
                throw fail("a high surrogate escape without its low surrogate", at: cursor)
            }
            cursor += 6
            let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            guard let scalar = Unicode.Scalar(value) else { throw fail("an invalid escape", at: cursor) }
            return scalar
        case 0xDC00...0xDFFF:
            throw fail("a low surrogate escape without its high surrogate", at: cursor - 6)
        default:
            guard let scalar = Unicode.Scalar(first) else { throw fail("an invalid escape", at: cursor) }
            return scalar
        }
    }

    private func hex4(at offset: Int) throws(JSONParseError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw fail("a short \\u escape", at: offset) }
        var value: UInt32 = 0
        for position in offset..<(offset + 4) {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("a \\u escape needs four hex digits", at: position)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private mutating func number() throws(JSONParseError) -> JSONValue {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail("a number needs digits") }
        var integral = true
        var magnitude: UInt64 = 0
        var overflow = false
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw fail("a number must not have leading zeros") }
        } else {
            while index < bytes.count, isDigit(bytes[index]) {
                let digit = UInt64(bytes[index] - UInt8(ascii: "0"))
                let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(digit)
                if overflow1 || overflow2 { overflow = true }
                magnitude = sum
                index += 1
            }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("a fraction needs digits") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("an exponent needs digits") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if integral, !overflow {
            if negative {
                if magnitude <= UInt64(Int64.max) { return .integer(-Int64(magnitude)) }
                if magnitude == UInt64(Int64.max) + 1 { return .integer(Int64.min) }
            } else if magnitude <= UInt64(Int64.max) {
                return .integer(Int64(magnitude))
            }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else { throw fail("a number out of range", at: start) }
        if !integral, let exact = Int64(exactly: double) { return .integer(exact) }
        return .number(double)
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
