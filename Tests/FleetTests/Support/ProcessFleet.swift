import Fleet
import FleetDev
import Foundation
import Kafka
import Logging
import Payments

/// A PayFleet deployment made of real `payfleet` processes, one per role, as Docker or Kubernetes
/// runs it: the embedded broker, the vendor sandbox, the callback ingress, schedulers and workers,
/// all reading the same merchants file (`deploy/compose/merchants.yaml` pointed at this sandbox,
/// with its demo key files). Roles can be started, SIGTERMed and SIGKILLed one by one.
final class ProcessFleet: @unchecked Sendable {
    /// The merchants of `deploy/compose/merchants.yaml` (every channel except the combine one,
    /// whose keys and certificates the compose demo does not ship).
    static let channels: [ChannelID] = [.wechatV2, .yungouos, .leshouying, .storepos]

    let binary: URL
    let workDirectory: URL
    let servers: String
    let sandboxURL: String
    /// The ingress's public callback port (`<callbackBaseURL>/notify/<channel>/<merchant>`).
    let callbackBaseURL: String
    /// The ingress's probes and metrics.
    let ingressHTTPURL: String
    let groupID: String
    let schedulerGroupID: String
    let logger: Logger
    /// `session.timeout.ms` of the workers and schedulers: how long the group waits for a member
    /// that vanished without a LeaveGroup.
    let sessionTimeoutMilliseconds: Int
    private(set) var processes: [FleetProcess] = []
    private let common: [String: String]

    var kafka: KafkaConfiguration { KafkaConfiguration(bootstrapServers: KafkaConfiguration.splitServers(servers)) }

    /// Starts the broker, the sandbox (autopay after `autopayMilliseconds`) and the ingress.
    init(name: String, autopayMilliseconds: Int = 300, sessionTimeoutMilliseconds: Int = 6_000) async throws {
        guard let binary = FleetProcess.payfleetBinary() else {
            throw FleetProcessError("the payfleet executable was not built next to the tests")
        }
        self.binary = binary
        self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
        logger = Logger(label: "process-fleet")
        let run = UUID().uuidString.prefix(8).lowercased()
        groupID = "\(name)-workers-\(run)"
        schedulerGroupID = "\(name)-scheduler-\(run)"
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("payfleet-\(name)-\(run)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)

        let bootstrapFile = workDirectory.appendingPathComponent("bootstrap")
        let broker = try FleetProcess(
            name: "broker", binary: binary,
            arguments: [
                "broker", "--brokers", "1", "--bootstrap-file", bootstrapFile.path,
            ])
        processes.append(broker)
        guard let line = try await broker.firstStdoutLine(timeout: .seconds(30)), line.hasPrefix("bootstrap.servers=")
        else {
            broker.kill()
            throw FleetProcessError("the broker printed no bootstrap.servers line: \(broker.stderrTail)")
        }
        servers = String(line.dropFirst("bootstrap.servers=".count))

        let sandboxPort = try FleetProcess.freePort()
        let ingressPort = try FleetProcess.freePort()
        let callbackPort = try FleetProcess.freePort()
        sandboxURL = "http://127.0.0.1:\(sandboxPort)"
        callbackBaseURL = "http://127.0.0.1:\(callbackPort)"
        ingressHTTPURL = "http://127.0.0.1:\(ingressPort)"
        let compose = FleetProcess.repositoryDirectory.appendingPathComponent("deploy/compose")
        var merchants = try String(contentsOf: compose.appendingPathComponent("merchants.yaml"), encoding: .utf8)
        merchants =
            merchants
            .replacingOccurrences(of: "http://sandbox:8090", with: sandboxURL)
            .replacingOccurrences(of: "http://ingress:8080", with: callbackBaseURL)
            .replacingOccurrences(of: "/run/secrets/", with: compose.appendingPathComponent("demo-secrets").path + "/")
        let merchantsFile = workDirectory.appendingPathComponent("merchants.yaml")
        try Data(merchants.utf8).write(to: merchantsFile)

        common = [
            "KAFKA_BOOTSTRAP_SERVERS": servers,
            "PAYFLEET_MERCHANTS": merchantsFile.path,
            "PAYFLEET_HTTP_HOST": "127.0.0.1",
            "PAYFLEET_LOG_FORMAT": "json",
            "PAYFLEET_LOG_LEVEL": ProcessInfo.processInfo.environment["PAYFLEET_TEST_LOG_LEVEL"] ?? "info",
        ]
        let sandbox = try FleetProcess(
            name: "sandbox", binary: binary,
            arguments: [
                "sandbox", "--host", "127.0.0.1", "--port", "\(sandboxPort)", "--autopay-ms", "\(autopayMilliseconds)",
                "--time-scale", "0.05", "--merchants", merchantsFile.path,
            ], environment: common)
        processes.append(sandbox)
        let ingress = try FleetProcess(
            name: "ingress", binary: binary, arguments: ["ingress"],
            environment: common.merging([
                "PAYFLEET_HTTP_PORT": "\(ingressPort)", "PAYFLEET_INGRESS_PORT": "\(callbackPort)",
            ]) { $1 })
        processes.append(ingress)
        try await FleetProcess.waitForHTTP200("\(sandboxURL)/livez", process: sandbox, timeout: .seconds(60))
        try await FleetProcess.waitForHTTP200(
            "http://127.0.0.1:\(ingressPort)/readyz", process: ingress, timeout: .seconds(90))
    }

    /// A started role with its probe port.
    struct Role {
        let process: FleetProcess
        let port: Int
        var readyURL: String { "http://127.0.0.1:\(port)/readyz" }
    }

    /// Starts a worker of the fleet's group (with `environment` on top of the fleet's); returns once
    /// it is ready unless `waitReady` is false.
    func startWorker(_ name: String, waitReady: Bool = true, environment: [String: String] = [:]) async throws -> Role {
        try await start(
            name, role: "worker",
            environment: [
                "PAYFLEET_GROUP_ID": groupID,
                "PAYFLEET_MAX_IN_FLIGHT": "32",
                "PAYFLEET_VENDOR_TIMEOUT": "2s",
                "PAYFLEET_SHUTDOWN_TIMEOUT": "10s",
            ].merging(environment) { $1 }, waitReady: waitReady)
    }

    /// Starts a scheduler of the fleet's scheduler group.
    func startScheduler(_ name: String, waitReady: Bool = true) async throws -> Role {
        try await start(
            name, role: "scheduler", environment: ["PAYFLEET_SCHEDULER_GROUP_ID": schedulerGroupID],
            waitReady: waitReady)
    }

    private func start(
        _ name: String, role: String, environment: [String: String], waitReady: Bool
    ) async throws -> Role {
        let port = try FleetProcess.freePort()
        let process = try FleetProcess(
            name: name, binary: binary, arguments: [role],
            environment: common.merging(environment) { $1 }.merging([
                "PAYFLEET_HTTP_PORT": "\(port)",
                "KAFKA_SESSION_TIMEOUT_MS": "\(sessionTimeoutMilliseconds)",
                "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            ]) { $1 })
        processes.append(process)
        let started = Role(process: process, port: port)
        if waitReady {
            try await FleetProcess.waitForHTTP200(started.readyURL, process: process, timeout: .seconds(90))
        }
        return started
    }

    /// Create requests, as an upstream order system writes them.
    func submit(_ orders: [DemoOrder], producer: KafkaProducer) async throws {
        _ = try await producer.sendAll(
            orders.map {
                KafkaProducerMessage(topic: FleetTopic.orderRequests, key: $0.outTradeNo, value: $0.requestJSON)
            })
    }

    /// Runs the invariant checker over the topics for `orders` (every order must be terminal), with
    /// the sandbox's record of which callbacks it saw acknowledged.
    func check(_ orders: [DemoOrder]) async throws -> InvariantChecker.Report {
        let records = try await TopicSnapshot.read(
            topics: [FleetTopic.orderRequests, FleetTopic.paymentEvents, FleetTopic.callbacks], kafka: kafka,
            logger: logger)
        let acknowledged = try await SandboxCallbackHistory.acknowledged(sandboxURL: sandboxURL)
        return InvariantChecker(requireTerminal: true, only: Set(orders.map(\.outTradeNo))).check(
            requests: records[FleetTopic.orderRequests] ?? [], events: records[FleetTopic.paymentEvents] ?? [],
            callbacks: records[FleetTopic.callbacks] ?? [], acknowledged: acknowledged)
    }

    /// Each order's last state in `payfleet.order-state` (tombstones skipped), as a restore would read it.
    func lastOrderStates() async throws -> [String: OrderState] {
        let records = try await TopicSnapshot.read(topics: [FleetTopic.orderState], kafka: kafka, logger: logger)
        var last: [String: OrderState] = [:]
        for record in records[FleetTopic.orderState] ?? [] {
            guard let key = record.keyString, let value = record.value else { continue }
            last[key] = try? OrderState.decode(value)
        }
        return last
    }

    /// SIGKILLs every process still running (and keeps their logs when `PAYFLEET_TEST_LOG_DIR` is set).
    func stop() {
        for process in processes { process.kill() }
        try? FileManager.default.removeItem(at: workDirectory)
    }

    /// `count` orders spread over the channels; `scenario` picks each one's sandbox scenario (the
    /// last two fen digits of its amount, see SandboxScenario). Never-paid orders (`4`) expire
    /// `expiresIn` seconds from now.
    static func orders(
        prefix: String, count: Int, expiresIn: TimeInterval = 20, scenario: (Int, ChannelID) -> Int64
    ) -> [DemoOrder] {
        (0..<count).map { index in
            let channel = channels[index % channels.count]
            let chosen = scenario(index, channel)
            return DemoOrder.sample(
                channel: channel, outTradeNo: "\(prefix)\(String(format: "%04d", index))", amountFen: 1200 + chosen,
                description: "crash test", expiresAt: chosen == 4 ? Date().addingTimeInterval(expiresIn) : nil)
        }
    }

    /// The terminal event type each order must end with.
    static func expectedTerminal(_ order: DemoOrder) -> String {
        order.amountFen % 100 == 4 ? PaymentEvent.Kind.closed.rawValue : PaymentEvent.Kind.succeeded.rawValue
    }
}
