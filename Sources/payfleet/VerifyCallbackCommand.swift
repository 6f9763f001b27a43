import ArgumentParser
import Foundation
import Payments
import WeChatPay

/// `payfleet verify-callback`: checks a captured vendor callback offline and prints what it says.
struct VerifyCallbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-callback",
        abstract: "Verify a captured vendor callback and print its content.",
        discussion: """
            wechat-v3-combine: --headers FILE --body FILE --apiv3-key KEY (--platform-cert PEM | --public-key PEM) [--now UNIX_SECONDS]
              prints the decrypted resource JSON when the callback is genuine.
            wechat-v2: --body FILE --key KEY
              prints the notification's fields when its sign verifies.
            yungouos | leshouying | storepos: --body FILE --key KEY
              (yungouos: the key of the paid channel; leshouying: the 机构密钥; storepos: the 商户密钥)
              prints the order, status, amount and fields when the sign verifies.
            Exits 1 with the reason (bad signature, stale timestamp, unknown serial, decryption failure) otherwise.
            HEADERS FILE holds `Name: value` lines.
            """
    )

    @Option(help: "The channel the callback came from (wechat-v2, wechat-v3-combine).")
    var channel: String

    @Option(help: "File with the request headers, one `Name: value` per line.")
    var headers: String?

    @Option(help: "File with the raw request body.")
    var body: String

    @Option(help: "WeChat v2 API key.")
    var key: String?

    @Option(name: .customLong("apiv3-key"), help: "WeChat APIv3 key (32 bytes).")
    var apiV3Key: String?

    @Option(name: .customLong("platform-cert"), help: "PEM file of the WeChat Pay platform certificate.")
    var platformCertificate: String?

    @Option(name: .customLong("public-key"), help: "PEM file of the WeChat Pay public key.")
    var publicKey: String?

    @Option(name: .customLong("public-key-id"), help: "The PUB_KEY_ID_… of --public-key (default: any PUB_KEY_ID_ serial).")
    var publicKeyID: String?

    @Option(help: "Check the timestamp against this time (Unix seconds) instead of now, to replay an old callback.")
    var now: Int64?

    func run() throws {
        guard let channel = ChannelID(rawValue: channel) else {
            throw ValidationError("unknown channel '\(channel)'; one of: \(ChannelID.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let bodyBytes = try Self.read(body, what: "--body")
        switch channel {
        case .wechatV2:
            try verifyWeChatV2(body: bodyBytes)
        case .wechatV3Combine:
            try verifyWeChatCombine(body: bodyBytes)
        case .yungouos, .leshouying, .storepos:
            try AggregatorOperatorTools.verifyCallback(channel: channel, body: bodyBytes, key: key)
        }
    }

    static func read(_ path: String, what: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(what): cannot read \(path)")
        }
        return Array(data)
    }

    /// `Name: value` lines; blank lines and an HTTP request line are skipped.
    static func parseHeaders(_ text: String) -> [String: String] {
        var headers: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, !name.contains(" ") else { continue }
            headers[name.lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return headers
    }

    static func reject(_ error: CallbackError) throws -> Never {
        FileHandle.standardError.write(Data("callback rejected: \(error)\n".utf8))
        throw ExitCode(1)
    }

    func verifyWeChatV2(body: [UInt8]) throws {
        guard let key else { throw ValidationError("wechat-v2 needs --key") }
        do {
            let fields = try WeChatOperatorTools.verifyV2Callback(body: body, key: Secret(key))
            for (name, value) in fields.sorted(by: { $0.key < $1.key }) { print("\(name)=\(value)") }
        } catch {
            try Self.reject(error)
        }
    }

    func verifyWeChatCombine(body: [UInt8]) throws {
        guard let headers else { throw ValidationError("wechat-v3-combine needs --headers") }
        guard let apiV3Key else { throw ValidationError("wechat-v3-combine needs --apiv3-key") }
        guard platformCertificate != nil || publicKey != nil else {
            throw ValidationError("wechat-v3-combine needs --platform-cert or --public-key")
        }
        let headerText = String(decoding: try Self.read(headers, what: "--headers"), as: UTF8.self)
        let certificatePEM = try platformCertificate.map { String(decoding: try Self.read($0, what: "--platform-cert"), as: UTF8.self) }
        let publicKeyPEM = try publicKey.map { String(decoding: try Self.read($0, what: "--public-key"), as: UTF8.self) }
        let instant = now.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date()
        do {
            let resource = try WeChatOperatorTools.verifyV3Callback(
                headers: Self.parseHeaders(headerText), body: body, apiV3Key: Secret(apiV3Key),
                platformCertificatePEM: certificatePEM, publicKeyPEM: publicKeyPEM, publicKeyID: publicKeyID, now: instant
            )
            print(String(decoding: resource, as: UTF8.self))
        } catch {
            try Self.reject(error)
        }
    }
}
