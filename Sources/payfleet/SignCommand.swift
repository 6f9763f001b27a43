import ArgumentParser
import Payments
import WeChatPay

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

    @Option(help: "The vendor API the parameters are for; decides which fields are signed (yungouos: native-pay|query|close|notify; leshouying: minipay|query|close|notify|response; storepos: preorder|orderquery|cancel|notify|response).")
    var api: String?

    @Option(help: "The signing key (WeChat v2: the 32-character API key).")
    var key: String

    @Option(name: .customLong("sign-type"), help: "WeChat v2 sign_type: MD5 or HMAC-SHA256 (default: the sign_type parameter, else MD5).")
    var signType: String?

    @Flag(help: "Also print the string that was signed (key masked).")
    var explain = false

    @Argument(help: "Parameters as name=value.")
    var parameters: [String] = []

    func run() throws {
        let parsed = try Self.parse(parameters)
        guard let channel = ChannelID(rawValue: channel) else {
            throw ValidationError("unknown channel '\(channel)'; one of: \(ChannelID.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        switch channel {
        case .wechatV2:
            try signWeChatV2(parsed)
        case .wechatV3Combine:
            throw ValidationError("wechat-v3-combine requests are signed with the merchant's RSA key per request (Authorization header), not with a parameter signature")
        case .yungouos, .leshouying, .storepos:
            try AggregatorOperatorTools.printSignature(channel: channel, api: api, parameters: parsed, key: key, explain: explain)
        }
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

    func signWeChatV2(_ parameters: [String: String]) throws {
        let name = signType ?? parameters["sign_type"] ?? "MD5"
        guard let type = WeChatV2SignType(name: name) else {
            throw ValidationError("--sign-type must be MD5 or HMAC-SHA256")
        }
        if let declared = parameters["sign_type"], WeChatV2SignType(name: declared) != type {
            print("warning: the sign_type parameter (\(declared)) differs from --sign-type \(type.rawValue); WeChat uses the parameter")
        }
        let result = WeChatOperatorTools.signV2(parameters, key: Secret(key), signType: type)
        if explain {
            print("sign_type: \(type.rawValue)")
            print("string to sign: \(result.explained)")
        }
        print(result.signature)
    }
}
