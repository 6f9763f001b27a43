import Foundation

/// The members of a vendor answer as text, read the tolerant way: a member PayFleet does not use
/// is ignored, a JSON number and a JSON string with the same text are the same value (vendors send
/// `code`, `total_fee`, `money` either way), `null` and `""` count as absent, and a member PayFleet
/// needs and does not get is a typed error that names it.
public struct AnswerFields: Sendable, Hashable {
    /// `yungouos getPayOrderInfo`, `storepos orderquery`, …: used in error messages.
    public let context: String
    public let values: [String: String]

    public init(_ values: [String: String], context: String) {
        self.values = values
        self.context = context
    }

    /// A JSON object's scalar members as text (nested objects and arrays as compact JSON with sorted keys).
    public init(json object: [String: JSONValue], context: String) {
        var values: [String: String] = [:]
        for (name, value) in object {
            if let text = AnswerFields.text(value) { values[name] = text }
        }
        self.init(values, context: context)
    }

    /// The member, when present and not empty.
    public subscript(_ name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    /// The member, or `.badResponse` naming it.
    public func required(_ name: String) throws(ChannelError) -> String {
        guard let value = self[name] else {
            throw .badResponse("\(context) answer lacks required field '\(name)'")
        }
        return value
    }

    /// An amount in fen (`"100"` or `100`), or `.badResponse` naming the field.
    public func fen(_ name: String) throws(ChannelError) -> Money {
        let text = try required(name)
        do { return try Money(fenString: text) } catch {
            throw .badResponse("\(context) field '\(name)' is not an amount in fen")
        }
    }

    /// An amount in yuan (`"0.01"` or `0.01`), or `.badResponse` naming the field.
    public func yuan(_ name: String) throws(ChannelError) -> Money {
        let text = try required(name)
        do { return try Money(yuan: text) } catch {
            throw .badResponse("\(context) field '\(name)' is not an amount in yuan")
        }
    }

    /// A JSON scalar as the text a vendor would have sent in a string; `nil` for `null`.
    ///
    /// Integral numbers print without a fraction (`0` → `"0"`); other numbers print in their
    /// shortest exact decimal form (`0.01` → `"0.01"`).
    public static func text(_ value: JSONValue) -> String? {
        switch value {
        case .null: return nil
        case .string(let text): return text
        case .integer(let number): return String(number)
        case .number(let number):
            if number.rounded() == number && abs(number) < 1e15 { return String(Int64(number)) }
            return "\(number)"
        case .bool(let flag): return flag ? "true" : "false"
        case .array, .object:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(value) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Parses a JSON object body; `nil` when the body is not one.
    public static func object(_ body: [UInt8]) -> [String: JSONValue]? {
        guard let value = try? JSONValue.parse(body) else { return nil }
        return value.objectValue
    }
}
