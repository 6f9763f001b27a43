import Foundation
import Payments

/// Writes the worker's JSON record values (events, order state, timer jobs) directly into bytes:
/// the same bytes `JSONEncoder` with `.sortedKeys` writes for the same value (keys in UTF-8 byte
/// order, no whitespace, `"` `\` and control characters escaped as `JSONEncoder` escapes them, `/`
/// escaped unless `escapesSlashes` is false), at a fraction of its cost: no encoder, container or
/// boxed value per field. `RecordJSONTests` compares both on every record type.
///
/// Floating-point numbers and non-ASCII object keys are not written here (a number's shortest
/// form and the order of non-ASCII keys are `JSONEncoder`'s business): the writer reports them
/// (``needsFallback``) and the caller falls back to `JSONEncoder`.
struct RecordJSONWriter {
    private(set) var bytes: [UInt8] = []
    let escapesSlashes: Bool
    /// A floating-point number or a non-ASCII key was met: the bytes are not to be used.
    private(set) var needsFallback = false

    init(escapesSlashes: Bool, capacity: Int = 512) {
        self.escapesSlashes = escapesSlashes
        bytes.reserveCapacity(capacity)
    }

    var data: Data { Data(bytes) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func integer(_ value: Int64) {
        if value >= 0 && value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }

    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = value
        text.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                let escape: Bool =
                    byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
                    || (escapesSlashes && byte == UInt8(ascii: "/"))
                guard escape else { continue }
                if start < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index])) }
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case UInt8(ascii: "/"): raw("\\/")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    raw("\\u00")
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0x0F)])
                }
            }
            if start < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func value(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): bool(flag)
        case .integer(let number): integer(number)
        case .number: needsFallback = true
        case .string(let text): string(text)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                self.value(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let fields):
            var object = ObjectWriter()
            for (key, field) in fields { object.add(key, field) }
            object.write(into: &self)
        }
    }

    /// The members of one object, collected and then written in key order.
    struct ObjectWriter {
        enum Member {
            case value(JSONValue)
            case string(String)
            case integer(Int64)
            case bool(Bool)
            case object(ObjectWriter)
        }

        private var members: [(key: String, member: Member)] = []

        init(capacity: Int = 16) { members.reserveCapacity(capacity) }

        mutating func add(_ key: String, _ value: JSONValue) { members.append((key, .value(value))) }
        mutating func add(_ key: String, _ value: String) { members.append((key, .string(value))) }
        mutating func add(_ key: String, _ value: String?) { if let value { add(key, value) } }
        mutating func add(_ key: String, _ value: Int64) { members.append((key, .integer(value))) }
        mutating func add(_ key: String, _ value: Int) { members.append((key, .integer(Int64(value)))) }
        mutating func add(_ key: String, _ value: Bool) { members.append((key, .bool(value))) }
        mutating func add(_ key: String, _ value: Bool?) { if let value { add(key, value) } }
        mutating func add(_ key: String, _ value: ObjectWriter) { members.append((key, .object(value))) }
        mutating func add(_ key: String, _ value: ObjectWriter?) { if let value { add(key, value) } }
        mutating func add(_ key: String, strings: [String: String]) {
            var object = ObjectWriter(capacity: strings.count)
            for (name, text) in strings { object.add(name, text) }
            add(key, object)
        }

        /// Writes the members in key order. Consuming: the members are sorted in place, without
        /// a sorted copy, when this writer is the last holder of them.
        consuming func write(into writer: inout RecordJSONWriter) {
            if members.contains(where: { !$0.key.utf8.allSatisfy { $0 < 0x80 } }) { writer.needsFallback = true }
            members.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            writer.bytes.append(UInt8(ascii: "{"))
            for (index, entry) in members.enumerated() {
                if index > 0 { writer.bytes.append(UInt8(ascii: ",")) }
                writer.string(entry.key)
                writer.bytes.append(UInt8(ascii: ":"))
                switch entry.member {
                case .value(let value): writer.value(value)
                case .string(let text): writer.string(text)
                case .integer(let number): writer.integer(number)
                case .bool(let flag): writer.bool(flag)
                case .object(let object): object.write(into: &writer)
                }
            }
            writer.bytes.append(UInt8(ascii: "}"))
        }
    }

    /// The bytes of a JSON object (sorted keys), or `nil` when `JSONEncoder` must write it.
    static func object(_ object: consuming ObjectWriter, escapesSlashes: Bool, capacity: Int = 512) -> Data? {
        var writer = RecordJSONWriter(escapesSlashes: escapesSlashes, capacity: capacity)
        object.write(into: &writer)
        return writer.needsFallback ? nil : writer.data
    }

    /// The bytes of a JSON value, or `nil` when `JSONEncoder` must write it.
    static func value(_ value: JSONValue, escapesSlashes: Bool) -> Data? {
        var writer = RecordJSONWriter(escapesSlashes: escapesSlashes)
        writer.value(value)
        return writer.needsFallback ? nil : writer.data
    }
}
