import Foundation
import Payments
import Yams

/// Reads the merchants file (YAML):
///
/// ```yaml
/// notify_base_url: https://pay.example.com
/// merchants:
///   shop-wechat:
///     channel: wechat-v2
///     settings: { appid: wx2421b1c4370ec43b, mch_id: "10000100" }
///     secrets:
///       api_key: { file: /run/secrets/shop-wechat/api_key }   # or { env: SHOP_WECHAT_API_KEY }
/// ```
///
/// Secrets are never inline: each is `{file: PATH}` (relative paths are relative to the merchants
/// file; one trailing newline is dropped) or `{env: NAME}`. Every error names the setting and
/// never its value. Channel-specific settings are checked later by the channel's initializer.
public struct MerchantsFileLoader: Sendable {
    /// Environment variables for `{env: …}` secrets.
    public var environment: [String: String]
    /// Overrides the file's `notify_base_url` (`PAYFLEET_NOTIFY_BASE_URL`).
    public var notifyBaseURLOverride: String?

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, notifyBaseURLOverride: String? = nil
    ) {
        self.environment = environment
        self.notifyBaseURLOverride = notifyBaseURLOverride
    }

    /// Loads the file at `path`.
    public func load(path: String) throws(ConfigurationError) -> MerchantDirectory {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(
                setting: "PAYFLEET_MERCHANTS", message: "the merchants file \(path) cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(setting: "PAYFLEET_MERCHANTS", message: "the merchants file \(path) is not UTF-8")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(text, baseDirectory: directory)
    }

    /// Parses merchants-file YAML; relative secret file paths are resolved against `baseDirectory`.
    public func parse(
        _ yaml: String, baseDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(ConfigurationError) -> MerchantDirectory {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw ConfigurationError(setting: "merchants file", message: "is empty")
            }
            root = node
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(
                setting: "merchants file", message: "is not valid YAML (\(Self.yamlProblem(error)))")
        }
        guard let top = root.mapping else {
            throw ConfigurationError(
                setting: "merchants file", message: "must be a mapping with notify_base_url and merchants")
        }
        let fileBase = top["notify_base_url"]?.scalar?.string
        guard let base = notifyBaseURLOverride.flatMap({ $0.isEmpty ? nil : $0 }) ?? fileBase, !base.isEmpty else {
            throw ConfigurationError(
                setting: "notify_base_url", message: "is required (or set PAYFLEET_NOTIFY_BASE_URL)")
        }
        guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            url.host != nil
        else {
            throw ConfigurationError(setting: "notify_base_url", message: "must be an absolute http(s) URL")
        }
        guard let merchantsNode = top["merchants"] else {
            throw ConfigurationError(setting: "merchants", message: "is required (a mapping of merchant aliases)")
        }
        guard let merchants = merchantsNode.mapping else {
            throw ConfigurationError(setting: "merchants", message: "must be a mapping of merchant aliases")
        }
        var accounts: [String: MerchantAccount] = [:]
        for (keyNode, value) in merchants {
            guard let alias = keyNode.scalar?.string, Self.isValidAlias(alias) else {
                throw ConfigurationError(
                    setting: "merchants", message: "merchant aliases must be 1-64 characters of A-Z a-z 0-9 . _ -")
            }
            guard accounts[alias] == nil else {
                throw ConfigurationError(setting: "merchants.\(alias)", message: "is defined twice")
            }
            accounts[alias] = try account(alias, value, baseDirectory: baseDirectory)
        }
        return MerchantDirectory(notifyBaseURL: base, accounts: accounts)
    }

    private func account(
        _ alias: String, _ node: Node, baseDirectory: String
    ) throws(ConfigurationError) -> MerchantAccount {
        let path = "merchants.\(alias)"
        guard let mapping = node.mapping else {
            throw ConfigurationError(setting: path, message: "must be a mapping with channel, settings and secrets")
        }
        for (key, _) in mapping {
            let name = key.scalar?.string ?? ""
            guard ["channel", "settings", "secrets"].contains(name) else {
                throw ConfigurationError(
                    setting: "\(path).\(name)", message: "is not a known key (channel, settings, secrets)")
            }
        }
        guard let channelText = mapping["channel"]?.scalar?.string else {
            throw ConfigurationError(setting: "\(path).channel", message: "is required")
        }
        guard let channel = ChannelID(rawValue: channelText) else {
            throw ConfigurationError(
                setting: "\(path).channel",
                message: "must be one of \(ChannelID.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var settings: [String: String] = [:]
        if let node = mapping["settings"], !Self.isNull(node) {
            guard let entries = node.mapping else {
                throw ConfigurationError(setting: "\(path).settings", message: "must be a mapping of names to strings")
            }
            for (key, value) in entries {
                guard let name = key.scalar?.string, !name.isEmpty else {
                    throw ConfigurationError(setting: "\(path).settings", message: "has an entry without a name")
                }
                guard let text = value.scalar?.string else {
                    throw ConfigurationError(setting: "\(path).settings.\(name)", message: "must be a plain string")
                }
                settings[name] = text
            }
        }
        var secrets: [String: Secret] = [:]
        if let node = mapping["secrets"], !Self.isNull(node) {
            guard let entries = node.mapping else {
                throw ConfigurationError(
                    setting: "\(path).secrets", message: "must be a mapping of names to {file:} or {env:}")
            }
            for (key, value) in entries {
                guard let name = key.scalar?.string, !name.isEmpty else {
                    throw ConfigurationError(setting: "\(path).secrets", message: "has an entry without a name")
                }
                secrets[name] = try secret(value, setting: "\(path).secrets.\(name)", baseDirectory: baseDirectory)
            }
        }
        return MerchantAccount(alias: alias, channel: channel, settings: settings, secrets: secrets)
    }

    private func secret(_ node: Node, setting: String, baseDirectory: String) throws(ConfigurationError) -> Secret {
        guard let source = node.mapping, source.count == 1 else {
            // Never echo the node: it may be an inline secret.
            throw ConfigurationError(
                setting: setting, message: "must be {file: PATH} or {env: NAME}; secrets are never written inline")
        }
        if let fileNode = source["file"] {
            guard let file = fileNode.scalar?.string, !file.isEmpty else {
                throw ConfigurationError(setting: setting, message: "file must be a path")
            }
            let resolved =
                file.hasPrefix("/") ? file : URL(fileURLWithPath: baseDirectory).appendingPathComponent(file).path
            guard let data = FileManager.default.contents(atPath: resolved) else {
                throw ConfigurationError(setting: setting, message: "secret file \(resolved) cannot be read")
            }
            guard var text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError(setting: setting, message: "secret file \(resolved) is not UTF-8 text")
            }
            if text.hasSuffix("\r\n") { text.removeLast(2) } else if text.hasSuffix("\n") { text.removeLast() }
            guard !text.isEmpty else {
                throw ConfigurationError(setting: setting, message: "secret file \(resolved) is empty")
            }
            return Secret(text)
        }
        if let envNode = source["env"] {
            guard let name = envNode.scalar?.string, !name.isEmpty else {
                throw ConfigurationError(setting: setting, message: "env must name an environment variable")
            }
            guard let value = environment[name] else {
                throw ConfigurationError(setting: setting, message: "environment variable \(name) is not set")
            }
            guard !value.isEmpty else {
                throw ConfigurationError(setting: setting, message: "environment variable \(name) is empty")
            }
            return Secret(value)
        }
        throw ConfigurationError(setting: setting, message: "must be {file: PATH} or {env: NAME}")
    }

    /// An empty YAML value (`settings:` with nothing after it, `~`, `null`).
    static func isNull(_ node: Node) -> Bool {
        guard let scalar = node.scalar else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    static func isValidAlias(_ alias: String) -> Bool {
        !alias.isEmpty && alias.utf8.count <= 64
            && alias.unicodeScalars.allSatisfy {
                ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "."
                    || $0 == "_" || $0 == "-"
            }
    }

    /// A YAML error without the offending text (it may contain a secret someone inlined).
    static func yamlProblem(_ error: any Error) -> String {
        if let error = error as? YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
                return "\(problem) at line \(mark.line), column \(mark.column)"
            default:
                return "syntax error"
            }
        }
        return "syntax error"
    }
}
