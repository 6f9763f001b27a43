import Crypto
import Foundation

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
        var names: [(name: String, folded: String)] = []
        names.reserveCapacity(fields.count)
        for (name, value) in fields {
            if name == "sign" { continue }
            if let only, !only.contains(name) { continue }
            if !keepEmpty && Self.isBlank(value) { continue }
            names.append((name, ignoreCase ? name.lowercased() : name))
        }
        names.sort { a, b in
            if ignoreCase, a.folded != b.folded {
                return a.folded.unicodeScalars.lexicographicallyPrecedes(b.folded.unicodeScalars)
            }
            return a.name.unicodeScalars.lexicographicallyPrecedes(b.name.unicodeScalars)
        }
        var text = ""
        text.reserveCapacity(fields.count * 24 + key.utf8.count + 5)
        for (index, entry) in names.enumerated() {
            if index > 0 { text += "&" }
            text += entry.name
            text += "="
            text += fields[entry.name] ?? ""
        }
        text += "&key="
        text += key
        return text
    }

    /// Empty or only whitespace as `trimmingCharacters(in: .whitespaces)` sees it (tab and the
    /// Unicode space separators).
    static func isBlank(_ value: String) -> Bool {
        value.unicodeScalars.allSatisfy { $0 == "\t" || $0.properties.generalCategory == .spaceSeparator }
    }

    func sign(_ fields: [String: String], only: [String]? = nil, key: String) -> String {
        let digest = Insecure.MD5.hash(data: Array(plain(fields, only: only, key: key).utf8))
        let hex = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    func matches(_ fields: [String: String], only: [String]? = nil, key: String, ignoringCase: Bool = false) -> Bool {
        guard let given = fields["sign"] else { return false }
        let expected = sign(fields, only: only, key: key)
        return ignoringCase ? given.lowercased() == expected.lowercased() : given == expected
    }
}
