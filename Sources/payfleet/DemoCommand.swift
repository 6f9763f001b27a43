import ArgumentParser
import Fleet
import Foundation
import Kafka

/// `payfleet demo`: the demo orders against a running fleet (e.g. `payfleet dev`).
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Submit one order per demo merchant (and one never paid) and print the events as they arrive."
    )

    @Option(help: "Kafka bootstrap servers (overrides KAFKA_BOOTSTRAP_SERVERS).")
    var bootstrapServers: String?

    @Option(help: "Sandbox URL to pay orders at (omit when the sandbox autopays).")
    var sandbox: String?

    @Option(help: "Seconds until the never-paid order expires.")
    var closeAfter = 15

    @Option(help: "Seconds to wait for every order to reach a terminal event.")
    var timeout = 120

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var logging = try LoggingSettings(environment: environment)
        if environment["PAYFLEET_LOG_FORMAT"] == nil { logging.format = .text }
        FleetLogging.bootstrap(logging)
        let logger = FleetLogging.logger(role: "demo")
        let kafka = KafkaConfiguration.fromEnvironment(environment, bootstrapServers: bootstrapServers)
        guard !kafka.bootstrapServers.isEmpty else {
            throw ValidationError("no Kafka bootstrap servers: set KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers")
        }
        let client = try DemoClient(kafka: kafka, sandboxURL: sandbox, logger: logger)
        let runID = String(UInt32(Date().timeIntervalSince1970) % 100_000_000, radix: 16).uppercased()
        let orders = DemoClient.demoOrders(runID: runID, closeAfter: .seconds(closeAfter))
        try await client.submit(orders)
        print("submitted \(orders.count) orders")
        let terminal = try await client.follow(orders, payPrepared: sandbox != nil, timeout: .seconds(timeout)) { order, event in
            print(DemoClient.describe(event, order: order))
            fflush(nil)
        }
        await client.close()
        let missing = orders.filter { terminal[$0.outTradeNo] == nil }
        guard missing.isEmpty else {
            throw ValidationError("no terminal event within \(timeout)s for \(missing.map(\.outTradeNo).joined(separator: ", "))")
        }
    }
}
