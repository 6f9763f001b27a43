import ArgumentParser
import Fleet
import Payments

/// `payfleet sign`: prints a vendor signature of the given parameters, for operators debugging 签名错误.
struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Print the signature a vendor expects for the given parameters.",
        discussion: """
            Example: payfleet sign --channel wechat-v2 --key KEY --sign-type HMAC-SHA256 \\
                       appid=wxd930ea5d5a258f4f mch_id=10000100 nonce_str=ibuaiVcKdpRxkhJA body=test
            With --explain the string that was signed is printed first, with the key masked.
            """
    )

    @Option(help: "The channel whose signing rule to use (wechat-v2, yungouos, leshouying, storepos).")
    var channel: String

    @Option(
        help:
            "The vendor API the parameters are for; decides which fields are signed (yungouos: native-pay|query|close|notify; leshouying: minipay|query|close|notify|response; storepos: preorder|orderquery|cancel|notify|response)."
    )
    var api: String?

    @Option(help: "The signing key (WeChat v2: the 32-character API key).")
    var key: String

    @Option(
        name: .customLong("sign-type"),
        help: "WeChat v2 sign_type: MD5 or HMAC-SHA256 (default: the sign_type parameter, else MD5).")
    var signType: String?

    @Flag(help: "Also print the string that was signed (key masked).")
    var explain = false

    @Argument(help: "Parameters as name=value.")
    var parameters: [String] = []

    func run() throws {
        let parsed = try Self.parse(parameters)
        let tools = try Self.descriptor(channel).operatorTools
        let report: ChannelDescriptor.OperatorTools.SignReport
        do {
            report = try tools.sign(.init(api: api, parameters: parsed, key: Secret(key), signType: signType))
        } catch {
            throw ValidationError(error.description)
        }
        for warning in report.warnings { print(warning) }
        if explain { for line in report.explanation { print(line) } }
        print(report.signature)
    }

    /// The registered channel named `name`.
    static func descriptor(_ name: String) throws -> ChannelDescriptor {
        guard let channel = ChannelID(rawValue: name), let descriptor = ChannelCatalog.descriptor(channel) else {
            throw ValidationError(
                "unknown channel '\(name)'; one of: \(ChannelCatalog.all.map(\.id.rawValue).joined(separator: ", "))")
        }
        return descriptor
    }

    static func parse(_ arguments: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
                throw ValidationError("parameter '\(argument.prefix(40))' is not name=value")
            }
            result[String(argument[..<equals])] = String(argument[argument.index(after: equals)...])
        }
        return result
    }
}
