import ArgumentParser
import Fleet
import FleetDev
import Foundation
import Kafka
import Logging

/// `payfleet dev`: the whole fleet on the embedded default, in one process.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run broker, topics, vendor sandbox, ingress, worker and scheduler in one process.",
        discussion: """
            Starts librdkafka's mock cluster on loopback with the PayFleet topics (built into the binary; \
            --topics-dir or PAYFLEET_TOPICS_DIR reads a directory instead), the vendor sandbox with one \
            demo merchant per channel (demo-wechat-v2, demo-wechat-v3-combine, demo-yungouos, demo-leshouying, \
            demo-storepos), the callback ingress, a worker and the scheduler. Prints bootstrap.servers=…, \
            sandbox=…, ingress=… (the public URL vendors call: POST <ingress>/notify/<channel>/<merchant>) and \
            http=… (probes and /metrics) first. With --demo it then submits one order per channel plus one that is \
            never paid and prints the events as they arrive. Stop with Ctrl-C (SIGINT) or SIGTERM.
            """
    )

    @Option(help: "Mock brokers.")
    var brokers = 1

    @Option(
        help:
            "Directory of topic definitions (env PAYFLEET_TOPICS_DIR; default: the definitions built into the binary).")
    var topicsDir: String?

    @Option(help: "Probes and metrics port (env PAYFLEET_HTTP_PORT, default 8080; 0 picks a free one).")
    var httpPort: Int?

    @Option(help: "The ingress's public callback port (env PAYFLEET_INGRESS_PORT, default 8081; 0 picks a free one).")
    var ingressPort: Int?

    @Option(help: "Sandbox port (env PAYFLEET_SANDBOX_PORT, default 8090; 0 picks a free one).")
    var sandboxPort: Int?

    @Option(
        name: .customLong("sandbox-autopay-ms"),
        help: "Pay every order this many ms after it is created (env PAYFLEET_SANDBOX_AUTOPAY_MS).")
    var sandboxAutopayMilliseconds: Int?

    @Option(
        name: .customLong("sandbox-time-scale"),
        help: "Multiplier for vendor delays such as callback retries (env PAYFLEET_SANDBOX_TIME_SCALE, default 1).")
    var sandboxTimeScale: Double?

    @Option(
        name: .customLong("order-ttl"),
        help: "Expiry of orders without expires_at (env PAYFLEET_ORDER_TTL, default 2h).")
    var orderTTL: String?

    @Flag(help: "Submit one order per channel (and one never paid) and print the events.")
    var demo = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var logging = try LoggingSettings(environment: environment)
        if environment["PAYFLEET_LOG_FORMAT"] == nil { logging.format = .text }
        if environment["PAYFLEET_LOG_LEVEL"] == nil { logging.level = .notice }
        let logger = try RoleStartup.begin(role: "dev", logging: logging)

        var options = DevStack.Options()
        options.brokers = brokers
        options.topicsDirectory = topicsDir ?? environment["PAYFLEET_TOPICS_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let http = try HTTPSettings(environment: environment)
        options.httpHost = environment["PAYFLEET_HTTP_HOST"] ?? "127.0.0.1"
        let requestedHTTP = httpPort ?? (environment["PAYFLEET_HTTP_PORT"] != nil ? http.port : 8080)
        options.httpPort = requestedHTTP == 0 ? nil : requestedHTTP
        let requestedSandbox =
            try sandboxPort ?? EnvironmentNumber.integer(environment, "PAYFLEET_SANDBOX_PORT") ?? 8090
        options.sandboxPort = requestedSandbox == 0 ? nil : requestedSandbox
        let timing = try EnvironmentNumber.sandboxTiming(
            timeScale: sandboxTimeScale, autopayMilliseconds: sandboxAutopayMilliseconds, environment)
        if let scale = timing.timeScale { options.sandboxTimeScale = scale }
        options.sandboxAutopay = timing.autopay
        var workerEnvironment = environment
        if let orderTTL { workerEnvironment["PAYFLEET_ORDER_TTL"] = orderTTL }
        options.worker = try WorkerSettings(environment: workerEnvironment)
        options.scheduler = try SchedulerSettings(environment: environment)
        options.ingress = try IngressSettings(environment: environment)
        let requestedIngress =
            ingressPort ?? (environment["PAYFLEET_INGRESS_PORT"] != nil ? options.ingress.port : 8081)
        options.ingressPort = requestedIngress == 0 ? nil : requestedIngress

        let stack = try DevStack(options: options, logger: logger)
        print("bootstrap.servers=\(stack.cluster.bootstrapServers)")
        print("sandbox=\(stack.sandboxURL)")
        print("ingress=\(stack.ingressURL)")
        print("http=\(stack.httpURL)")
        print("merchants=\(DevStack.demoMerchants.map(\.alias).joined(separator: ","))")
        fflush(nil)

        let group = stack.runner.serviceGroup()
        let demoTask: Task<Void, Never>? =
            demo
            ? Task {
                await Self.runDemo(stack: stack, payPrepared: options.sandboxAutopay == nil, logger: logger)
            } : nil
        do {
            try await group.run()
        } catch {
            demoTask?.cancel()
            await stack.shutdown()
            throw error
        }
        demoTask?.cancel()
        await stack.shutdown()
    }

    /// Waits for the stack to be ready, then runs the demo and prints the events.
    static func runDemo(stack: DevStack, payPrepared: Bool, logger: Logger) async {
        while !stack.health.readiness().ok {
            do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
        }
        do {
            let client = try DemoClient(kafka: stack.kafka, sandboxURL: stack.sandboxURL, logger: logger)
            let runID = String(UInt32(Date().timeIntervalSince1970) % 100_000_000, radix: 16).uppercased()
            let orders = DemoClient.demoOrders(runID: runID, closeAfter: .seconds(15))
            print(
                "demo: submitting \(orders.count) orders (one per channel, and \(orders.last?.outTradeNo ?? "") that is never paid and closes at expiry)"
            )
            fflush(nil)
            try await client.submit(orders)
            let terminal = try await client.follow(orders, payPrepared: payPrepared, timeout: .seconds(120)) {
                order, event in
                print(DemoClient.describe(event, order: order))
                fflush(nil)
            }
            let summary = orders.map { "\($0.outTradeNo)=\(terminal[$0.outTradeNo] ?? "no terminal event yet")" }
            print("demo: done: \(summary.joined(separator: " "))")
            print("demo: the fleet keeps running; Ctrl-C to stop")
            fflush(nil)
            await client.close()
        } catch {
            print("demo: failed: \(error)")
            fflush(nil)
        }
    }
}
