/// The flat `<xml>` documents WeChat Pay v2 speaks: one root element `<xml>` whose children are
/// leaf elements holding text or CDATA.
///
/// The decoder is deliberately small and strict. It refuses document type declarations and entity
/// declarations outright (WeChat's XXE advisory: a `<!DOCTYPE` with an external entity in a
/// forged callback must never be expanded), nested elements, attributes on fields, and anything
/// after the root element. Only the five predefined entities and numeric character references
/// are expanded.
public enum WeChatXML {
    /// Why a document is not a WeChat v2 XML document.
    public struct DecodingError: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { "malformed WeChat XML: \(reason)" }
    }

    /// Encodes fields as `<xml><name><![CDATA[value]]></name>…</xml>`; integers are written bare.
    ///
    /// Fields are written in byte order of their names, `sign` last, so the output is deterministic.
    public static func encode(_ fields: [String: String]) -> String {
        var names: [String] = []
        names.reserveCapacity(fields.count)
        var length = 11
        for (name, value) in fields {
            length += 2 * name.utf8.count + value.utf8.count + 17
            if name != "sign" { names.append(name) }
        }
        names.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        if fields["sign"] != nil { names.append("sign") }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        out.append(contentsOf: "<xml>".utf8)
        for name in names {
            guard let value = fields[name] else { continue }
            out.append(UInt8(ascii: "<"))
            out.append(contentsOf: name.utf8)
            out.append(UInt8(ascii: ">"))
            if !value.isEmpty, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                out.append(contentsOf: value.utf8)
            } else {
                out.append(contentsOf: "<![CDATA[".utf8)
                appendCDATA(value, to: &out)
                out.append(contentsOf: "]]>".utf8)
            }
            out.append(contentsOf: "</".utf8)
            out.append(contentsOf: name.utf8)
            out.append(UInt8(ascii: ">"))
        }
        out.append(contentsOf: "</xml>".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `value` as CDATA content. A CDATA section cannot contain `]]>`, so each one is split
    /// across two sections: `]]]]><![CDATA[>`.
    private static func appendCDATA(_ value: String, to out: inout [UInt8]) {
        var closing = 0  // how many `]` precede the current byte (at most 2 counted)
        for byte in value.utf8 {
            if byte == UInt8(ascii: ">") && closing == 2 {
                out.append(contentsOf: "]]><![CDATA[>".utf8)
                closing = 0
                continue
            }
            out.append(byte)
            closing = byte == UInt8(ascii: "]") ? min(closing + 1, 2) : 0
        }
    }

    /// Decodes a flat `<xml>` document into its fields. A field that appears twice is an error.
    public static func decode(_ bytes: [UInt8]) throws(DecodingError) -> [String: String] {
        var parser = Parser(bytes: bytes, root: Array("xml".utf8))
        return try parser.document()
    }

    /// Decodes a flat document whose root element is `root` (the decrypted `req_info` of a refund
    /// notification is a `<root>` document), with the same rules as ``decode(_:)-([UInt8])``.
    public static func decode(_ bytes: [UInt8], root: String) throws(DecodingError) -> [String: String] {
        var parser = Parser(bytes: bytes, root: Array(root.utf8))
        return try parser.document()
    }

    /// Decodes a flat `<xml>` document from text.
    public static func decode(_ text: String) throws(DecodingError) -> [String: String] {
        try decode(Array(text.utf8))
    }
}

extension WeChatXML {
    fileprivate struct Parser {
        let bytes: [UInt8]
        let root: [UInt8]
        var index = 0
        static let maximumFields = 256

        init(bytes: [UInt8], root: [UInt8]) {
            self.root = root
            // Skip a UTF-8 byte order mark.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                self.bytes = Array(bytes.dropFirst(3))
            } else {
                self.bytes = bytes
            }
        }

        func fail(_ reason: String) -> DecodingError { DecodingError(reason: reason) }

        mutating func document() throws(DecodingError) -> [String: String] {
            try skipProlog()
            try expect("<")
            try expectRoot()
            skipWhitespace()
            try expect(">")
            var fields: [String: String] = [:]
            while true {
                try skipMisc()
                guard index < bytes.count else { throw fail("document ends inside <xml>") }
                if starts(with: "</") {
                    try expect("</")
                    try expectRoot()
                    skipWhitespace()
                    try expect(">")
                    break
                }
                let (name, value) = try field()
                guard fields[name] == nil else { throw fail("field <\(name)> appears twice") }
                guard fields.count < Self.maximumFields else { throw fail("too many fields") }
                fields[name] = value
            }
            try skipMisc()
            guard index == bytes.count else { throw fail("content after </xml>") }
            return fields
        }

        /// `<name>text-or-cdata</name>` or `<name/>`.
        mutating func field() throws(DecodingError) -> (String, String) {
            try expect("<")
            let name = try self.name()
            skipWhitespace()
            if starts(with: "/>") {
                index += 2
                return (name, "")
            }
            guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else {
                throw fail("element <\(name)> has attributes or is not closed")
            }
            index += 1
            // The value is usually one CDATA section or one run of text: it is then decoded from
            // the document's bytes in place (`run`); only a value of several pieces is collected.
            var run: Range<Int>?
            var pieces: [UInt8]?
            func add(_ range: Range<Int>) {
                if pieces != nil {
                    pieces!.append(contentsOf: bytes[range])
                } else if let first = run {
                    pieces = Array(bytes[first]) + bytes[range]
                    run = nil
                } else {
                    run = range
                }
            }
            while true {
                guard index < bytes.count else { throw fail("document ends inside <\(name)>") }
                if starts(with: "<![CDATA[") {
                    index += 9
                    guard let end = find("]]>") else { throw fail("unterminated CDATA in <\(name)>") }
                    add(index..<end)
                    index = end + 3
                } else if starts(with: "</") {
                    index += 2
                    let closing = try self.name()
                    guard closing == name else { throw fail("<\(name)> closed by </\(closing)>") }
                    skipWhitespace()
                    try expect(">")
                    break
                } else if starts(with: "<!--") {
                    try skipComment()
                } else if bytes[index] == UInt8(ascii: "<") {
                    throw fail("nested element inside <\(name)>")
                } else if bytes[index] == UInt8(ascii: "&") {
                    let expanded = try reference()
                    if pieces == nil { pieces = run.map { Array(bytes[$0]) } ?? [] }
                    run = nil
                    pieces!.append(contentsOf: expanded)
                } else {
                    // A run of plain text up to the next markup or reference.
                    var end = index + 1
                    while end < bytes.count, bytes[end] != UInt8(ascii: "<"), bytes[end] != UInt8(ascii: "&") {
                        end += 1
                    }
                    add(index..<end)
                    index = end
                }
            }
            let decoded: String? =
                if let pieces {
                    String(validating: pieces, as: UTF8.self)
                } else if let run {
                    String(validating: bytes[run], as: UTF8.self)
                } else {
                    ""
                }
            guard let text = decoded else {
                throw fail("<\(name)> is not valid UTF-8")
            }
            return (name, text)
        }

        mutating func name() throws(DecodingError) -> String {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                let isNameByte =
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                guard isNameByte else { break }
                index += 1
            }
            guard index > start, index - start <= 64 else { throw fail("bad element name") }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        /// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#NN;` `&#xNN;`; nothing else (no custom entities).
        mutating func reference() throws(DecodingError) -> [UInt8] {
            guard let end = find(";"), end - index <= 12 else { throw fail("bad character reference") }
            let body = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
            index = end + 1
            switch body {
            case "lt": return [UInt8(ascii: "<")]
            case "gt": return [UInt8(ascii: ">")]
            case "amp": return [UInt8(ascii: "&")]
            case "quot": return [UInt8(ascii: "\"")]
            case "apos": return [UInt8(ascii: "'")]
            default:
                var scalarValue: UInt32?
                if body.hasPrefix("#x") || body.hasPrefix("#X") {
                    scalarValue = UInt32(body.dropFirst(2), radix: 16)
                } else if body.hasPrefix("#") {
                    scalarValue = UInt32(body.dropFirst(1), radix: 10)
                }
                guard let scalarValue, let scalar = Unicode.Scalar(scalarValue), scalarValue != 0 else {
                    throw fail("unknown entity &\(body.prefix(16));")
                }
                return Array(String(Character(scalar)).utf8)
            }
        }

        mutating func skipProlog() throws(DecodingError) {
            skipWhitespace()
            if starts(with: "<?xml") {
                guard let end = find("?>") else { throw fail("unterminated XML declaration") }
                index = end + 2
            }
            try skipMisc()
        }

        /// Whitespace and comments; a DOCTYPE or any other declaration is refused.
        mutating func skipMisc() throws(DecodingError) {
            while true {
                skipWhitespace()
                if starts(with: "<!--") {
                    try skipComment()
                } else if starts(with: "<!") {
                    throw fail("DOCTYPE and ENTITY declarations are not accepted")
                } else if starts(with: "<?") {
                    throw fail("processing instructions are not accepted")
                } else {
                    return
                }
            }
        }

        mutating func skipComment() throws(DecodingError) {
            guard let end = find("-->") else { throw fail("unterminated comment") }
            index = end + 3
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: StaticString) throws(DecodingError) {
            guard starts(with: literal) else { throw fail("expected \(literal)") }
            index += literal.utf8CodeUnitCount
        }

        /// The root element's name (`xml`, or `root` for a decrypted `req_info`).
        mutating func expectRoot() throws(DecodingError) {
            guard index + root.count <= bytes.count, Array(bytes[index..<(index + root.count)]) == root else {
                throw fail("expected <\(String(decoding: root, as: UTF8.self))>")
            }
            index += root.count
        }

        func starts(with literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            return literal.withUTF8Buffer { buffer in
                for offset in 0..<count where bytes[index + offset] != buffer[offset] { return false }
                return true
            }
        }

        func find(_ literal: StaticString) -> Int? {
            literal.withUTF8Buffer { needle -> Int? in
                guard !needle.isEmpty, bytes.count >= needle.count else { return nil }
                var position = index
                while position + needle.count <= bytes.count {
                    var matches = true
                    for offset in 0..<needle.count where bytes[position + offset] != needle[offset] {
                        matches = false
                        break
                    }
                    if matches { return position }
                    position += 1
                }
                return nil
            }
        }
    }
}
