import ArgumentParser
import Fleet
import Foundation
import Payments

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

    @Option(help: "The channel the callback came from (wechat-v2, wechat-v3-combine, yungouos, leshouying, storepos).")
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

    @Option(
        name: .customLong("public-key-id"), help: "The PUB_KEY_ID_… of --public-key (default: any PUB_KEY_ID_ serial).")
    var publicKeyID: String?

    @Option(help: "Check the timestamp against this time (Unix seconds) instead of now, to replay an old callback.")
    var now: Int64?

    func run() throws {
        let tools = try SignCommand.descriptor(channel).operatorTools
        let bodyBytes = try Self.read(body, what: "--body")
        let headerText = try headers.map { String(decoding: try Self.read($0, what: "--headers"), as: UTF8.self) }
        let request = ChannelDescriptor.OperatorTools.CallbackRequest(
            body: bodyBytes,
            headers: headerText.map(Self.parseHeaders),
            key: key.flatMap { $0.isEmpty ? nil : Secret($0) },
            apiV3Key: apiV3Key.map { Secret($0) },
            platformCertificatePEM: try platformCertificate.map {
                String(decoding: try Self.read($0, what: "--platform-cert"), as: UTF8.self)
            },
            publicKeyPEM: try publicKey.map {
                String(decoding: try Self.read($0, what: "--public-key"), as: UTF8.self)
            },
            publicKeyID: publicKeyID,
            now: now.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date())
        let report: [String]
        do {
            report = try tools.verifyCallback(request)
        } catch {
            switch error {
            case .usage(let message): throw ValidationError(message)
            case .rejected:
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        for line in report { print(line) }
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
}
