import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Zlib

/// The vendor-side pieces both WeChat simulators share. Written independently of the WeChatPay
/// client target on purpose: a wrong rule on one side is caught by the other.
enum WeChatSandbox {
    /// The `trade_state_desc` WeChat sends next to a `trade_state` (v2 and APIv3 alike).
    static func tradeStateDescription(_ state: String) -> String {
        switch state {
        case "SUCCESS": "支付成功"
        case "NOTPAY": "订单未支付"
        case "USERPAYING": "用户支付中"
        case "CLOSED": "订单已关闭"
        default: state
        }
    }

    /// WeChat's notification retry schedule (chapter7_3_13 / chapter5_1_13): 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h.
    static let retrySchedule: [Duration] = [
        .seconds(15), .seconds(15), .seconds(30), .seconds(180), .seconds(600), .seconds(1200), .seconds(1800),
        .seconds(1800), .seconds(1800), .seconds(3600), .seconds(10800), .seconds(10800), .seconds(10800),
        .seconds(21600), .seconds(21600),
    ]

    /// WeChat's minimum order age before a close.
    static let closeMinimumAge: Duration = .seconds(300)

    static let chinaTimeZone = TimeZone(secondsFromGMT: 8 * 3600) ?? TimeZone.current

    static func chinaTime(_ date: Date, _ pattern: String) -> String {
        ChinaTime.format(date, pattern)
    }

    static func random(
        _ count: Int, from alphabet: String = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    ) -> String {
        let characters = Array(alphabet)
        var generator = SandboxRandom()
        return String((0..<count).map { _ in characters[Int(generator.next(upperBound: UInt32(characters.count)))] })
    }

    /// A 28-digit WeChat transaction id (`4200…`).
    static func transactionID() -> String { "4200" + random(24, from: "0123456789") }

    /// The answer shape of an order: FNV-1a (64-bit) of its order number. The simulators pick the
    /// optional members WeChat documents from its bits, so one order always gets the same shape and
    /// different orders exercise different ones (present, absent, extra members clients do not know).
    static func shape(of outTradeNo: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in outTradeNo.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    static func hex(_ bytes: some Sequence<UInt8>, upper: Bool) -> String {
        let digits = Array(upper ? "0123456789ABCDEF" : "0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]] })
    }

    // MARK: v2 signature (vendor side)

    /// `k=v&…&key=KEY` over non-empty fields except `sign`, sorted by name; MD5 or HMAC-SHA256, upper hex.
    static func v2Sign(_ fields: [String: String], key: String, hmac: Bool) -> String {
        let text =
            fields
            .filter { $0.key != "sign" && !$0.value.isEmpty }
            .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { "\($0.key)=\($0.value)" }
            .joined(separator: "&") + "&key=" + key
        if hmac {
            let code = HMAC<SHA256>.authenticationCode(
                for: Array(text.utf8), using: SymmetricKey(data: Array(key.utf8)))
            return hex(code, upper: true)
        }
        return hex(Insecure.MD5.hash(data: Array(text.utf8)), upper: true)
    }

    // MARK: v2 XML (vendor side)

    /// `<xml><k><![CDATA[v]]></k>…</xml>`.
    static func xml(_ fields: [String: String]) -> String {
        var out = "<xml>"
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            let text =
                find("]]>", in: Substring(value)) == nil
                ? value : value.replacingOccurrences(of: "]]>", with: "]]]]><![CDATA[>")
            out += "<\(name)><![CDATA[\(text)]]></\(name)>"
        }
        return out + "</xml>"
    }

    /// Parses a flat `<xml>`; refuses DOCTYPE/ENTITY and nested elements. `nil` when malformed.
    static func parseXML(_ bytes: [UInt8]) -> [String: String]? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let whole = Substring(text)
        if find("<!DOCTYPE", in: whole) != nil || find("<!ENTITY", in: whole) != nil
            || find("<!doctype", in: whole) != nil
        {
            return nil
        }
        var scanner = Substring(text)
        func skipSpace() { scanner = scanner.drop(while: { $0.isWhitespace }) }
        skipSpace()
        if scanner.hasPrefix("<?xml") {
            guard let end = find("?>", in: scanner) else { return nil }
            scanner = scanner[end.upperBound...]
            skipSpace()
        }
        guard scanner.hasPrefix("<xml>") else { return nil }
        scanner = scanner.dropFirst(5)
        var fields: [String: String] = [:]
        while true {
            skipSpace()
            if scanner.hasPrefix("</xml>") {
                scanner = scanner.dropFirst(6)
                skipSpace()
                return scanner.isEmpty ? fields : nil
            }
            guard scanner.hasPrefix("<"), let close = scanner.firstIndex(of: ">") else { return nil }
            let name = String(scanner[scanner.index(after: scanner.startIndex)..<close])
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            scanner = scanner[scanner.index(after: close)...]
            guard let end = find("</\(name)>", in: scanner) else { return nil }
            var raw = scanner[..<end.lowerBound]
            scanner = scanner[end.upperBound...]
            var value = ""
            while !raw.isEmpty {
                if raw.hasPrefix("<![CDATA[") {
                    raw = raw.dropFirst(9)
                    guard let cdataEnd = find("]]>", in: raw) else { return nil }
                    value += raw[..<cdataEnd.lowerBound]
                    raw = raw[cdataEnd.upperBound...]
                } else if raw.hasPrefix("<") {
                    return nil
                } else {
                    let next = find("<![CDATA[", in: raw)?.lowerBound ?? raw.endIndex
                    guard let text = unescape(raw[..<next]) else { return nil }
                    value += text
                    raw = raw[next...]
                }
            }
            guard fields[name] == nil else { return nil }
            fields[name] = value
        }
    }

    /// The first occurrence of `needle` in `text`, compared as UTF-8 bytes.
    static func find(_ needle: String, in text: Substring) -> Range<String.Index>? {
        let pattern = Array(needle.utf8)
        guard let first = pattern.first else { return nil }
        let bytes = text.utf8
        var start = bytes.startIndex
        while let candidate = bytes[start...].firstIndex(of: first) {
            var cursor = candidate
            var matched = 0
            while matched < pattern.count, cursor != bytes.endIndex, bytes[cursor] == pattern[matched] {
                matched += 1
                cursor = bytes.index(after: cursor)
            }
            if matched == pattern.count { return candidate..<cursor }
            start = bytes.index(after: candidate)
        }
        return nil
    }

    static func unescape(_ text: Substring) -> String? {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var rest = text
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { return nil }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "lt": out += "<"
            case "gt": out += ">"
            case "amp": out += "&"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number =
                    entity.hasPrefix("#x")
                    ? UInt32(entity.dropFirst(2), radix: 16)
                    : entity.hasPrefix("#") ? UInt32(entity.dropFirst(), radix: 10) : nil
                guard let number, let scalar = Unicode.Scalar(number) else { return nil }
                out.unicodeScalars.append(scalar)
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }

    // MARK: HTTP

    static func response(
        status: HTTPResponse.Status, contentType: String?, body: [UInt8], headers: [(String, String)] = []
    ) -> Response {
        var fields = HTTPFields()
        if let contentType { fields[.contentType] = contentType }
        for (name, value) in headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static var jsonEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func json(_ value: some Encodable) -> [UInt8] {
        (try? Array(jsonEncoder.encode(value))) ?? Array("{}".utf8)
    }

    // MARK: gzip for bills (system zlib)

    static func gzip(_ data: [UInt8]) -> [UInt8] { Gzip.compress(data) }
}
