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
        var names: [String] = []
        for (name, value) in fields {
            if name == "sign" { continue }
            if let only, !only.contains(name) { continue }
            if !keepEmpty && value.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            names.append(name)
        }
        names.sort { a, b in
            if ignoreCase {
                let la = a.lowercased()
                let lb = b.lowercased()
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

    func matches(_ fields: [String: String], only: [String]? = nil, key: String, ignoringCase: Bool = false) -> Bool {
        guard let given = fields["sign"] else { return false }
        let expected = sign(fields, only: only, key: key)
        return ignoringCase ? given.lowercased() == expected.lowercased() : given == expected
    }
}
