import ArgumentParser
import AsyncHTTPClient
import Fleet
import Foundation
import Leshouying
import Logging
import Payments
import Sandbox
import ServiceLifecycle
import StorePOS
import WeChatPay
import YunGouOS

/// `payfleet sandbox`: the vendor simulator with every standard simulator, on one HTTP port.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run the vendor sandbox (simulated WeChat Pay, YunGouOS, 乐收赢 and storepos servers).",
        discussion: """
            Merchants come from --merchants FILE (the same merchants file the fleet reads; the sandbox
            verifies requests with the same keys). Without it, the demo merchants (demo-wechat-v2,
            demo-wechat-v3-combine, …) are generated with the channels' sandbox demo accounts.
            Environment: PAYFLEET_SANDBOX_HOST, PAYFLEET_SANDBOX_PORT, PAYFLEET_SANDBOX_TIME_SCALE,
            PAYFLEET_SANDBOX_AUTOPAY_MS, PAYFLEET_MERCHANTS.
            """
    )

    @Option(help: "Address to listen on (env PAYFLEET_SANDBOX_HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (env PAYFLEET_SANDBOX_PORT, default 8090).")
    var port: Int?

    @Option(name: .customLong("time-scale"), help: "Multiplier for vendor delays such as callback retries (env PAYFLEET_SANDBOX_TIME_SCALE, default 1).")
    var timeScale: Double?

    @Option(name: .customLong("autopay-ms"), help: "Pay every order this many milliseconds after creation (env PAYFLEET_SANDBOX_AUTOPAY_MS; default: only /_sandbox/pay pays).")
    var autopayMilliseconds: Int?

    @Option(help: "Merchants file (env PAYFLEET_MERCHANTS).")
    var merchants: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var logger = Logger(label: "payfleet.sandbox")
        logger.logLevel = Logger.Level(rawValue: environment["PAYFLEET_LOG_LEVEL"] ?? "info") ?? .info

        var configuration = SandboxConfiguration()
        configuration.host = host ?? environment["PAYFLEET_SANDBOX_HOST"] ?? "127.0.0.1"
        configuration.port = try port ?? Self.number(environment["PAYFLEET_SANDBOX_PORT"], name: "PAYFLEET_SANDBOX_PORT") ?? 8090
        guard (0...65535).contains(configuration.port) else { throw ValidationError("port must be 0-65535") }
        if let scale = try timeScale ?? Self.double(environment["PAYFLEET_SANDBOX_TIME_SCALE"], name: "PAYFLEET_SANDBOX_TIME_SCALE") {
            guard scale > 0, scale.isFinite else { throw ValidationError("time scale must be positive") }
            configuration.timeScale = scale
        }
        if let autopay = try autopayMilliseconds ?? Self.number(environment["PAYFLEET_SANDBOX_AUTOPAY_MS"], name: "PAYFLEET_SANDBOX_AUTOPAY_MS") {
            guard autopay >= 0 else { throw ValidationError("autopay must be >= 0 ms") }
            configuration.autopayAfter = .milliseconds(autopay)
        }
        let baseURL = "http://\(configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host):\(configuration.port)"
        if let path = merchants ?? environment["PAYFLEET_MERCHANTS"] {
            let directory = try MerchantsFileLoader(environment: environment).load(path: path)
            configuration.merchants = directory.accounts.values.map(Self.sandboxMerchant)
        } else {
            configuration.merchants = Self.demoAccounts(sandboxBaseURL: baseURL).map(Self.sandboxMerchant)
            logger.notice("sandbox: no merchants file, serving the generated demo merchants")
        }

        let dispatcher = CallbackDispatcher(client: HTTPClient.shared, configuration: configuration, logger: logger)
        let context = SandboxContext(configuration: configuration, dispatcher: dispatcher, logger: logger)
        let sandbox = VendorSandbox(context: context, simulators: VendorSandbox.standardSimulators(context: context))
        let group = ServiceGroup(services: [sandbox], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        let announcer = Task {
            let bound = await sandbox.boundPort()
            logger.notice("sandbox listening", metadata: [
                "host": "\(configuration.host)", "port": "\(bound)", "merchants": "\(configuration.merchants.count)",
            ])
        }
        defer { announcer.cancel() }
        try await group.run()
    }

    /// The demo accounts of the channels that provide one. Each vendor folder adds its channel here.
    static func demoAccounts(sandboxBaseURL: String) -> [MerchantAccount] {
        [
            WeChatV2Channel.sandboxDemoAccount(alias: "demo-wechat-v2", sandboxBaseURL: sandboxBaseURL),
            WeChatCombineChannel.sandboxDemoAccount(alias: "demo-wechat-v3-combine", sandboxBaseURL: sandboxBaseURL),
            YunGouOSChannel.sandboxDemoAccount(alias: "demo-yungouos", sandboxBaseURL: sandboxBaseURL),
            LeshouyingChannel.sandboxDemoAccount(alias: "demo-leshouying", sandboxBaseURL: sandboxBaseURL),
            StorePOSChannel.sandboxDemoAccount(alias: "demo-storepos", sandboxBaseURL: sandboxBaseURL),
        ]
    }

    static func sandboxMerchant(_ account: MerchantAccount) -> SandboxMerchant {
        SandboxMerchant(
            channel: account.channel.rawValue, settings: account.settings,
            secrets: account.secrets.mapValues { $0.reveal() }
        )
    }

    static func number(_ text: String?, name: String) throws -> Int? {
        guard let text, !text.isEmpty else { return nil }
        guard let value = Int(text) else { throw ValidationError("\(name) must be an integer") }
        return value
    }

    static func double(_ text: String?, name: String) throws -> Double? {
        guard let text, !text.isEmpty else { return nil }
        guard let value = Double(text) else { throw ValidationError("\(name) must be a number") }
        return value
    }
}
