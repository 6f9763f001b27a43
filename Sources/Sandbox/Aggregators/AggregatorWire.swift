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

    /// A form component: `+` is a space, `%XX` a byte; `nil` for a bad escape or bytes that are not
    /// UTF-8 (as `removingPercentEncoding`).
    static func decodeComponent(_ text: Substring) -> String? {
        let utf8 = text.utf8
        if !utf8.contains(UInt8(ascii: "%")) && !utf8.contains(UInt8(ascii: "+")) { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                let high = utf8.index(after: index)
                guard high != utf8.endIndex else { return nil }
                let low = utf8.index(after: high)
                guard low != utf8.endIndex, let h = hexValue(utf8[high]), let l = hexValue(utf8[low]) else {
                    return nil
                }
                bytes.append(h << 4 | l)
                index = low
            default:
                bytes.append(byte)
            }
            index = utf8.index(after: index)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func encodeForm(_ fields: [String: String]) -> String {
        fields.keys.sorted().map { name in
            percentEncoded(name) + "=" + percentEncoded(fields[name] ?? "")
        }.joined(separator: "&")
    }

    /// `text` with every byte but ASCII letters, digits and `-._~` percent-encoded, uppercase hex:
    /// what `addingPercentEncoding(withAllowedCharacters:)` with `.alphanumerics` plus `-._~` gives
    /// (it encodes every non-ASCII character, letters included).
    static func percentEncoded(_ text: String) -> String {
        if text.utf8.allSatisfy(isUnreservedASCII) { return text }
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3)
        for byte in text.utf8 {
            if isUnreservedASCII(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isUnreservedASCII(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
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
                guard let data = SandboxJSON.data(value) else { return nil }
                fields[name] = String(decoding: data, as: UTF8.self)
            }
        }
        return fields
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = SandboxJSON.data(object) ?? Array("{}".utf8)
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
        SandboxRandom.text(count, from: "0123456789")
    }

    /// 32 random lowercase hex digits.
    static func hex32() -> String {
        SandboxRandom.text(32, from: "0123456789abcdef")
    }

    /// Vendor time text in GMT+8.
    static func chinaTime(_ date: Date, _ pattern: String) -> String {
        ChinaTime.format(date, pattern)
    }

    static func parseChinaTime(_ text: String, _ pattern: String) -> Date? {
        ChinaTime.parse(text, pattern)
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
