import ArgumentParser
import AsyncHTTPClient
import Fleet
import FleetDev
import Foundation
import Logging
import Payments
import Sandbox
import ServiceLifecycle

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

    @Option(
        name: .customLong("time-scale"),
        help: "Multiplier for vendor delays such as callback retries (env PAYFLEET_SANDBOX_TIME_SCALE, default 1).")
    var timeScale: Double?

    @Option(
        name: .customLong("autopay-ms"),
        help:
            "Pay every order this many milliseconds after creation (env PAYFLEET_SANDBOX_AUTOPAY_MS; default: only /_sandbox/pay pays)."
    )
    var autopayMilliseconds: Int?

    @Option(help: "Merchants file (env PAYFLEET_MERCHANTS).")
    var merchants: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var logger = Logger(label: "payfleet.sandbox")
        logger.logLevel = Logger.Level(rawValue: environment["PAYFLEET_LOG_LEVEL"] ?? "info") ?? .info

        var configuration = SandboxConfiguration()
        configuration.host = host ?? environment["PAYFLEET_SANDBOX_HOST"] ?? "127.0.0.1"
        configuration.port = try port ?? EnvironmentNumber.integer(environment, "PAYFLEET_SANDBOX_PORT") ?? 8090
        guard (0...65535).contains(configuration.port) else { throw ValidationError("port must be 0-65535") }
        let timing = try EnvironmentNumber.sandboxTiming(
            timeScale: timeScale, autopayMilliseconds: autopayMilliseconds, environment)
        if let scale = timing.timeScale { configuration.timeScale = scale }
        configuration.autopayAfter = timing.autopay
        let baseURL =
            "http://\(configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host):\(configuration.port)"
        let accounts: [MerchantAccount]
        if let path = merchants ?? environment["PAYFLEET_MERCHANTS"] {
            accounts = Array(try MerchantsFileLoader(environment: environment).load(path: path).accounts.values)
        } else {
            accounts = ChannelCatalog.demoAccounts(sandboxBaseURL: baseURL)
            logger.notice("sandbox: no merchants file, serving the generated demo merchants")
        }

        let sandbox = DevSandbox.make(
            configuration: configuration, accounts: accounts, client: HTTPClient.shared, logger: logger)
        let group = ServiceGroup(services: [sandbox], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        let announcer = Task {
            let bound = await sandbox.boundPort()
            logger.notice(
                "sandbox listening",
                metadata: [
                    "host": "\(configuration.host)", "port": "\(bound)", "merchants": "\(accounts.count)",
                ])
        }
        defer { announcer.cancel() }
        try await group.run()
    }
}
