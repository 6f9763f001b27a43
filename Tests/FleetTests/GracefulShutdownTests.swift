import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Graceful shutdown of a worker under load, as Kubernetes does it: the real `payfleet` binary for
/// every role (embedded broker, sandbox, ingress, scheduler, two workers of one group), SIGTERM to
/// one worker while orders are flowing and some vendor calls are in flight.
///
/// It must: stop being ready at once, finish or hand back its in-flight orders, commit, leave the
/// group (the other member takes its partitions over long before `session.timeout.ms`), and exit 0
/// well inside the grace period — and no order may be lost or duplicated across the hand-over.
@Suite("Graceful shutdown of a worker (payfleet binary)", .serialized)
struct GracefulShutdownTests {
    /// Orders submitted in total; half before the SIGTERM, half while the worker shuts down.
    static let orderCount = 80
    /// Every fifth order makes the sandbox answer the create only after the worker's vendor timeout,
    /// so vendor calls are in flight at the SIGTERM (they end pending → timer → query → succeeded).
    static let slowEvery = 5
    /// The worker's in-flight wait bound (PAYFLEET_SHUTDOWN_TIMEOUT); the process caps its graceful
    /// shutdown at 25 s + 5 s, the manifests give it 45 s (compose `stop_grace_period`, Kubernetes
    /// `terminationGracePeriodSeconds`).
    static let shutdownTimeout = 10
    static let gracePeriod: Duration = .seconds(30)
    /// `session.timeout.ms` of the workers. The embedded (mock) broker holds any rebalance that
    /// follows a member's departure for `session.timeout.ms` − 1 s before it answers the remaining
    /// members' JoinGroup (librdkafka 2.0.2 `rdkafka_mock_cgrp.c`, `rd_kafka_mock_cgrp_rebalance`;
    /// a real broker answers as soon as every remaining member has rejoined). So here the survivor
    /// takes over about 19 s after a LeaveGroup, and about 20 + 19 s after a member that vanished
    /// without one. The survivor adds its own part: it learns of the rebalance at its next heartbeat
    /// (up to 3 s) and, before rejoining, finishes its in-flight work for up to
    /// `PAYFLEET_SHUTDOWN_TIMEOUT` (10 s here, and every fifth order has a slow vendor call in
    /// flight). So a takeover after a LeaveGroup ends within 19 + 3 + 10 s, one after a vanished
    /// member not before 20 + 19 s: the bound below (35 s) tells the two apart.
    static let sessionTimeoutMilliseconds = 20_000
    static let takeoverBound: Duration = .milliseconds(
        sessionTimeoutMilliseconds - 1_000 + 3_000 + shutdownTimeout * 1_000 + 3_000)

    @Test(
        "SIGTERM under load: not ready at once, in-flight orders finished or handed back, commit, leave, exit 0 in time; every order succeeds exactly once",
        .timeLimit(.minutes(5)))
    func sigtermUnderLoad() async throws {
        let binary = try #require(
            FleetProcess.payfleetBinary(), "the payfleet executable was not built next to the tests")
        let workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "payfleet-shutdown-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: workDirectory) }
        var processes: [FleetProcess] = []
        defer { for process in processes { process.kill() } }

        // Embedded broker with every topic of topics/ (12 partitions for the co-partitioned four).
        let bootstrapFile = workDirectory.appendingPathComponent("bootstrap")
        let broker = try FleetProcess(
            name: "broker", binary: binary,
            arguments: [
                "broker", "--brokers", "1", "--topics-dir", FleetProcess.repositoryTopicsDirectory, "--bootstrap-file",
                bootstrapFile.path,
            ])
        processes.append(broker)
        let line = try #require(
            try await broker.firstStdoutLine(timeout: .seconds(30)), "broker printed nothing: \(broker.stderr)")
        #expect(line.hasPrefix("bootstrap.servers="))
        let servers = String(line.dropFirst("bootstrap.servers=".count))

        // One merchants file for the sandbox and the fleet; the key comes from a file, as in production.
        let sandboxPort = try FleetProcess.freePort()
        let ingressPort = try FleetProcess.freePort()
        let callbackPort = try FleetProcess.freePort()
        let keyFile = workDirectory.appendingPathComponent("api_key")
        try Data("sandboxDemoApiKeyNotARealKey0000".utf8).write(to: keyFile)
        let merchantsFile = workDirectory.appendingPathComponent("merchants.yaml")
        try Data(
            """
            notify_base_url: http://127.0.0.1:\(callbackPort)
            merchants:
              shutdown-wechat:
                channel: wechat-v2
                settings:
                  appid: wx00000000sandbox
                  mch_id: "1900000109"
                  api_base_url: http://127.0.0.1:\(sandboxPort)
                  backup_api_base_url: http://127.0.0.1:\(sandboxPort)
                  sign_type: HMAC-SHA256
                  trade_type: NATIVE
                secrets:
                  api_key: {file: \(keyFile.path)}

            """.utf8
        ).write(to: merchantsFile)

        let groupID = "shutdown-workers-\(UUID().uuidString.prefix(8))"
        let common = [
            "KAFKA_BOOTSTRAP_SERVERS": servers,
            "PAYFLEET_MERCHANTS": merchantsFile.path,
            "PAYFLEET_TOPICS_DIR": FleetProcess.repositoryTopicsDirectory,
            "PAYFLEET_HTTP_HOST": "127.0.0.1",
            "PAYFLEET_LOG_FORMAT": "json",
            "PAYFLEET_LOG_LEVEL": "info",
        ]
        let sandbox = try FleetProcess(
            name: "sandbox", binary: binary,
            arguments: [
                "sandbox", "--host", "127.0.0.1", "--port", "\(sandboxPort)", "--autopay-ms", "300", "--merchants",
                merchantsFile.path,
            ], environment: common)
        processes.append(sandbox)
        let ingress = try FleetProcess(
            name: "ingress", binary: binary, arguments: ["ingress"],
            environment: common.merging([
                "PAYFLEET_HTTP_PORT": "\(ingressPort)", "PAYFLEET_INGRESS_PORT": "\(callbackPort)",
            ]) { $1 })
        processes.append(ingress)
        let schedulerPort = try FleetProcess.freePort()
        let scheduler = try FleetProcess(
            name: "scheduler", binary: binary, arguments: ["scheduler"],
            environment: common.merging([
                "PAYFLEET_HTTP_PORT": "\(schedulerPort)", "PAYFLEET_SCHEDULER_GROUP_ID": "\(groupID)-scheduler",
            ]) { $1 })
        processes.append(scheduler)
        func worker(_ name: String, port: Int) throws -> FleetProcess {
            try FleetProcess(
                name: name, binary: binary, arguments: ["worker"],
                environment: common.merging([
                    "PAYFLEET_HTTP_PORT": "\(port)",
                    "PAYFLEET_GROUP_ID": groupID,
                    "PAYFLEET_MAX_IN_FLIGHT": "16",
                    "PAYFLEET_VENDOR_TIMEOUT": "2s",
                    "PAYFLEET_SHUTDOWN_TIMEOUT": "\(Self.shutdownTimeout)s",
                    "KAFKA_SESSION_TIMEOUT_MS": "\(Self.sessionTimeoutMilliseconds)",
                    "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
                ]) { $1 })
        }
        let portA = try FleetProcess.freePort()
        let portB = try FleetProcess.freePort()
        let workerA = try worker("worker-a", port: portA)
        processes.append(workerA)
        let workerB = try worker("worker-b", port: portB)
        processes.append(workerB)

        try await FleetProcess.waitForHTTP200(
            "http://127.0.0.1:\(sandboxPort)/livez", process: sandbox, timeout: .seconds(60))
        for (process, port) in [(ingress, ingressPort), (scheduler, schedulerPort), (workerA, portA), (workerB, portB)]
        {
            try await FleetProcess.waitForHTTP200(
                "http://127.0.0.1:\(port)/readyz", process: process, timeout: .seconds(90))
        }

        // Read every payment event from now on.
        let logger = Logger(label: "graceful-shutdown-test")
        let kafka = KafkaConfiguration(bootstrapServers: KafkaConfiguration.splitServers(servers))
        let collector = try EventCollector(kafka: kafka, logger: logger)
        let collecting = Task { try await collector.run() }
        defer { collecting.cancel() }

        let upstream = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        let run = UUID().uuidString.prefix(6).uppercased()
        let orders = (0..<Self.orderCount).map { "GS\(run)\(String(format: "%04d", $0))" }
        func create(_ index: Int) -> KafkaProducerMessage {
            // …03 fen selects the sandbox's "timeout" scenario (answer after the vendor timeout).
            let amount = index % Self.slowEvery == 0 ? 1203 : 1200
            let json =
                #"{"action":"create","out_trade_no":"\#(orders[index])","merchant":"shutdown-wechat","channel":"wechat-v2","amount_fen":\#(amount),"description":"graceful shutdown"}"#
            return KafkaProducerMessage(topic: FleetTopic.orderRequests, key: orders[index], value: Data(json.utf8))
        }
        let half = Self.orderCount / 2
        _ = try await upstream.sendAll((0..<half).map(create))

        // SIGTERM worker A once it is busy (some orders answered, slow vendor calls still running).
        try await collector.waitUntil(timeout: .seconds(60)) { events in
            Set(events.map(\.subject)).count >= half / 3
        }
        let terminatedAt = ContinuousClock.now
        let terminatedDate = Date()
        workerA.terminate()
        // Readiness goes false the moment SIGTERM arrives (or the process is already gone).
        let notReadyWithin = await FleetProcess.waitUntilNotReady(
            "http://127.0.0.1:\(portA)/readyz", timeout: .seconds(1))
        #expect(notReadyWithin != nil, "worker A still ready 1 s after SIGTERM")

        // Load continues during the shutdown.
        _ = try await upstream.sendAll((half..<Self.orderCount).map(create))

        let statusA = try await workerA.waitForExit(timeout: Self.gracePeriod)
        let exitedAfter = ContinuousClock.now - terminatedAt
        #expect(
            statusA == 0,
            "worker A exit status \(String(describing: statusA)) after \(exitedAfter); stderr tail: \(workerA.stderrTail)"
        )
        #expect(exitedAfter < .seconds(Self.shutdownTimeout + 10), "worker A took \(exitedAfter) to shut down")
        let exitedDate = Date()
        #expect(
            workerA.logRecords().contains { $0["msg"] as? String == "consumer closed and left the group" },
            "worker A did not leave the group: \(workerA.stderrTail)")

        // Every order reaches succeeded; worker B took A's partitions over without waiting for A's
        // session to time out (A left the group).
        let events = try await collector.waitUntil(timeout: .seconds(180)) { events in
            Set(events.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject)).isSuperset(of: orders)
        }
        // Worker B owns every partition (3 topics × 12) within the takeover bound after A exited.
        let partitionCount = 3 * 12
        let takeover = try await FleetProcess.waitFor(timeout: .seconds(90), "worker B to take every partition over") {
            workerB.logRecords().first { record in
                guard record["msg"] as? String == "partitions assigned", let time = FleetProcess.logTime(record),
                    time > terminatedDate,
                    let partitions = record["partitions"] as? String
                else { return false }
                return partitions.split(separator: ",").count == partitionCount
            }.flatMap(FleetProcess.logTime)
        }
        let takeoverAfterExit = takeover.timeIntervalSince(exitedDate)
        #expect(
            takeoverAfterExit < Double(Self.takeoverBound.components.seconds),
            "worker B took the partitions over \(takeoverAfterExit) s after worker A exited: A's partitions waited for its session to time out"
        )

        // No order lost (each succeeded) and none duplicated: exactly one succeeded record per order,
        // one prepared-or-pending start, never failed/anomaly/rejected, no record repeated.
        let mine = events.filter { orders.contains($0.subject) }
        for order in orders {
            let records = mine.filter { $0.subject == order }
            let types = records.map(\.type)
            #expect(types.filter { $0 == PaymentEvent.Kind.succeeded.rawValue }.count == 1, "\(order): \(types)")
            #expect(
                types.first == PaymentEvent.Kind.prepared.rawValue || types.first == PaymentEvent.Kind.pending.rawValue,
                "\(order): \(types)")
            let unexpected = [PaymentEvent.Kind.failed, .anomaly, .rejected].map(\.rawValue)
            #expect(
                !types.contains { unexpected.contains($0) },
                "\(order): \(types)")
            #expect(Set(records.map(\.id)).count == records.count, "\(order): an event was published twice: \(types)")
        }

        // Stop the producers of new input, then worker B; afterwards the group has committed every
        // order request and every callback it consumed (graceful shutdown commits before leaving).
        for process in [scheduler, sandbox, ingress] {
            process.terminate()
            _ = try await process.waitForExit(timeout: .seconds(30))
        }
        workerB.terminate()
        let statusB = try await workerB.waitForExit(timeout: Self.gracePeriod)
        #expect(statusB == 0, "worker B exit status \(String(describing: statusB)); stderr tail: \(workerB.stderrTail)")
        let checker = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(kafka: kafka, groupID: groupID), logger: logger)
        for topic in [FleetTopic.orderRequests, FleetTopic.callbacks] {
            let partitions = try await checker.metadata().topic(topic)?.partitionCount ?? 0
            #expect(partitions > 0, "\(topic) has no partitions")
            let list = (0..<partitions).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
            let committed = try await checker.committedOffsets(list)
            for entry in list {
                let high = try await checker.watermarks(topic: topic, partition: entry.partition).high
                let offset = committed.first { $0.topicPartition == entry }?.offset ?? -1
                #expect(high == 0 || offset == high, "\(entry): committed \(offset), end \(high)")
            }
        }
        await checker.close(timeout: .seconds(5))
        await collector.close()
        await upstream.close(timeout: .seconds(5))
    }
}
