import Foundation
import Hummingbird
import NIOCore

/// Request and response plumbing shared by the aggregator simulators.
enum SandboxWire {
    static let maximumBody = 1 << 20

    static func body(_ request: Request) async throws -> [UInt8] {
        var request = request
        let buffer = try await request.collectBody(upTo: maximumBody)
        return Array(buffer.readableBytesView)
    }

    /// `application/x-www-form-urlencoded` (or a query string) → fields; `nil` when malformed.
    static func form(_ text: String) -> [String: String]? {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decodeComponent(parts[0]), !name.isEmpty else { return nil }
            guard let value = parts.count == 2 ? decodeComponent(parts[1]) : "" else { return nil }
            fields[name] = value
        }
        return fields
    }

    static func decodeComponent(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    static func encodeForm(_ fields: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.keys.sorted().map { name in
            let value = fields[name] ?? ""
            return (name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name) + "="
                + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)
        }.joined(separator: "&")
    }

    /// A JSON object body whose members are strings or numbers, as text; `nil` when it is not one.
    static func jsonFields(_ bytes: [UInt8]) -> [String: String]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        var fields: [String: String] = [:]
        for (name, value) in object {
            switch value {
            case is NSNull: continue
            case let text as String: fields[name] = text
            case let number as NSNumber: fields[name] = number.stringValue
            default:
                guard
                    let data = try? JSONSerialization.data(
                        withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
                else { return nil }
                fields[name] = String(decoding: data, as: UTF8.self)
            }
        }
        return fields
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json;charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    static func text(
        _ body: String, status: HTTPResponse.Status = .ok, contentType: String = "text/html;charset=UTF-8"
    ) -> Response {
        Response(
            status: status,
            headers: [.contentType: contentType],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }

    /// The body the `garbage` scenario answers: a proxy's error page, not the vendor's format.
    static let garbagePage = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

    /// A string of `count` digits, unique enough for vendor order numbers.
    static func digits(_ count: Int) -> String {
        String((0..<count).map { _ in Character(String(Int.random(in: 0...9))) })
    }

    static func hex32() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// Vendor time text in GMT+8.
    static func chinaTime(_ date: Date, _ pattern: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
        formatter.dateFormat = pattern
        return formatter.string(from: date)
    }

    static func parseChinaTime(_ text: String, _ pattern: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
        formatter.dateFormat = pattern
        formatter.isLenient = false
        return formatter.date(from: text)
    }

    /// Strict integer fen text (`"1"`, `"9900"`): digits only, positive.
    static func fen(_ text: String) -> Int64? {
        guard !text.isEmpty, text.count <= 15, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(text),
            value > 0
        else { return nil }
        return value
    }

    /// Strict yuan text with at most two decimals (`"99"`, `"99.5"`, `"99.00"`) → fen.
    static func yuanToFen(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = parts.first, !whole.isEmpty, whole.count <= 9,
            whole.allSatisfy({ $0.isASCII && $0.isNumber }), let yuan = Int64(whole)
        else { return nil }
        var cents: Int64 = 0
        if parts.count == 2 {
            let fraction = parts[1]
            guard (1...2).contains(fraction.count), fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int64(fraction)
            else { return nil }
            cents = fraction.count == 1 ? value * 10 : value
        }
        return yuan * 100 + cents
    }

    static func yuan(_ fen: Int64) -> String {
        String(format: "%lld.%02lld", fen / 100, fen % 100)
    }
}
