import Crypto
import Foundation
import Hummingbird
import NIOCore

/// The sandbox's own implementation of the aggregators' "sort, join, append the key, MD5" rules.
///
/// Written apart from the client code in `Sources/Vendors` on purpose (it uses `String` ordering
/// and its own hex encoder), so that a wrong rule on one side is caught by the other; both are
/// pinned to the same hand-checked known answers in the tests.
struct SandboxMD5Rule: Sendable {
    /// Whether `""` values take part as `k=` (乐收赢) or are skipped (YunGouOS, storepos).
    var keepEmpty: Bool
    /// storepos sorts keys ignoring case.
    var ignoreCase: Bool
    var uppercase: Bool

    static let yungouos = SandboxMD5Rule(keepEmpty: false, ignoreCase: false, uppercase: true)
    static let leshouying = SandboxMD5Rule(keepEmpty: true, ignoreCase: false, uppercase: false)
    static let storepos = SandboxMD5Rule(keepEmpty: false, ignoreCase: true, uppercase: true)

    /// The string that is digested (`only`: YunGouOS's fixed field subsets).
    func plain(_ fields: [String: String], only: [String]? = nil, key: String) -> String {
        var names: [String] = []
        for (name, value) in fields {
            if name == "sign" { continue }
            if let only, !only.contains(name) { continue }
            if !keepEmpty && value.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            names.append(name)
        }
        names.sort { a, b in
            if ignoreCase {
                let la = a.lowercased(), lb = b.lowercased()
                if la != lb { return la.unicodeScalars.lexicographicallyPrecedes(lb.unicodeScalars) }
            }
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
        }
        return names.map { "\($0)=\(fields[$0] ?? "")" }.joined(separator: "&") + "&key=" + key
    }

    func sign(_ fields: [String: String], only: [String]? = nil, key: String) -> String {
        let digest = Insecure.MD5.hash(data: Data(plain(fields, only: only, key: key).utf8))
        let text = digest.map { String(format: "%02x", $0) }.joined()
        return uppercase ? text.uppercased() : text
    }

    func matches(_ fields: [String: String], only: [String]? = nil, key: String) -> Bool {
        guard let given = fields["sign"] else { return false }
        return given == sign(fields, only: only, key: key)
    }
}

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
                guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
                else { return nil }
                fields[name] = String(decoding: data, as: UTF8.self)
            }
        }
        return fields
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json;charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    static func text(_ body: String, status: HTTPResponse.Status = .ok, contentType: String = "text/html;charset=UTF-8") -> Response {
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
        guard !text.isEmpty, text.count <= 15, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(text), value > 0
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
            guard (1...2).contains(fraction.count), fraction.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(fraction)
            else { return nil }
            cents = fraction.count == 1 ? value * 10 : value
        }
        return yuan * 100 + cents
    }

    static func yuan(_ fen: Int64) -> String {
        String(format: "%lld.%02lld", fen / 100, fen % 100)
    }
}

/// The outcome of checking a vendor request's merchant and signature.
enum SandboxAuthentication {
    /// The request's fields and the merchant it belongs to.
    case accepted([String: String], SandboxMerchant)
    /// The vendor's error answer.
    case rejected(Response)
}
