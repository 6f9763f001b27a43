import ArgumentParser
import AsyncHTTPClient
import Fleet
import FleetDev
import Foundation
import Kafka
import Logging
import NIOCore
import Payments
import StorePOS

#if canImport(Glibc)
import Glibc
#endif

/// `payfleet bench ingress`: how fast the callback ingress acknowledges genuine callbacks, alone
/// and while a flood of forged ones arrives, with the broker and the ingress as separate processes.
struct IngressBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingress",
        abstract: "Acknowledged callbacks/s and latency of the ingress, with and without a forged flood.",
        discussion: """
            Starts `payfleet broker` and `payfleet ingress` as child processes of this binary (one storepos \
            merchant, its key in a temporary file), then runs two phases: N genuine storepos callbacks \
            (signed with the merchant's key, random out_trade_no), and the same N genuine callbacks again \
            while M forged ones (wrong key, random out_trade_no) are sent at the same time. Each phase \
            keeps --concurrency requests in flight per kind. Prints acknowledged/s and p50/p99/max latency \
            per phase, the answers forged callbacks got, and the records that ended up in \
            payfleet.callbacks and payfleet.dead-letters. Extra environment for the ingress (e.g. \
            KAFKA_LINGER_MS) is passed through.
            """
    )

    @Option(help: "Genuine callbacks per phase.")
    var genuine: Int = 2_000

    @Option(help: "Forged callbacks sent during the second phase.")
    var forged: Int = 2_000

    @Option(help: "Requests in flight per kind (genuine, forged).")
    var concurrency: Int = 64

    static let merchant = "bench-storepos"
    static let merchantID = "00000001"
    static let key = "BENCH0STOREPOS0MERCHANT0KEY00000"

    func run() async throws {
        guard genuine >= 0, forged >= 0, concurrency > 0 else {
            throw ValidationError("counts must be >= 0, concurrency > 0")
        }
        var logger = KafkaCLI.logger("payfleet.bench")
        logger.logLevel = .warning
        let fleet = try await BenchFleet.start(logger: logger)
        defer { fleet.stop() }
        print(
            "broker \(fleet.servers), ingress \(fleet.notifyURL), librdkafka \(KafkaLibrary.versionString), concurrency \(concurrency) per kind"
        )

        let run = String(UInt32(Date().timeIntervalSince1970) % 1_000_000)
        let alone = await Self.phase(
            url: fleet.notifyURL,
            genuine: (0..<genuine).map { Self.callback(outTradeNo: "BG\(run)A\($0)", genuine: true) },
            forged: [], concurrency: concurrency)
        print(alone.describe("genuine alone"))
        let flood = await Self.phase(
            url: fleet.notifyURL,
            genuine: (0..<genuine).map { Self.callback(outTradeNo: "BG\(run)B\($0)", genuine: true) },
            forged: (0..<forged).map { _ in
                Self.callback(outTradeNo: "BF\(UInt64.random(in: 1...UInt64.max))", genuine: false)
            },
            concurrency: concurrency)
        print(flood.describe("genuine during forged flood"))

        let records = try await TopicSnapshot.read(
            topics: [FleetTopic.callbacks, "payfleet.dead-letters"], kafka: fleet.kafka, logger: logger)
        let callbacks = records[FleetTopic.callbacks] ?? []
        let forgedRecords = callbacks.filter {
            ($0.key.map { String(decoding: $0, as: UTF8.self) } ?? "").hasPrefix("BF")
        }.count
        print(
            "payfleet.callbacks: \(callbacks.count) records (\(forgedRecords) of them forged); payfleet.dead-letters: \((records["payfleet.dead-letters"] ?? []).count) records"
        )
    }

    /// A storepos paid callback; genuine ones are signed with the merchant's key, forged ones with another.
    static func callback(outTradeNo: String, genuine: Bool) -> [UInt8] {
        var fields = [
            "state": "SUCCESS", "result_code": "SUCCESS", "pay_result": "0", "mch_id": merchantID,
            "out_trade_no": outTradeNo, "transaction_id": "B" + String(UInt64.random(in: 1...UInt64.max)),
            "out_transaction_id": "4200" + String(UInt64.random(in: 1...UInt64.max)), "total_fee": "1200",
            "fee_type": "CNY",
            "time_end": "20261201120000", "trade_type": "pay.weixin.native", "bank_type": "CFT",
            "nonce_str": UUID().uuidString.replacingOccurrences(of: "-", with: ""),
        ]
        fields["sign"] = StorePOSSigning.sign(fields, key: Secret(genuine ? key : "forged-" + UUID().uuidString))
        return Array(FormEncoding.encode(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).utf8)
    }

    struct Phase {
        var wall: Duration
        var genuine: [Answer]
        var forged: [Answer]

        func describe(_ name: String) -> String {
            let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
            let acknowledged = genuine.filter(\.success)
            let latencies = genuine.map(\.latency).sorted()
            var line =
                "\(name): \(acknowledged.count)/\(genuine.count) genuine acknowledged in \(String(format: "%.2f", seconds)) s = "
                + String(format: "%.0f", Double(acknowledged.count) / max(seconds, 1e-9)) + " acknowledged/s; latency "
                + "p50 \(Self.ms(Self.percentile(latencies, 0.50))) p99 \(Self.ms(Self.percentile(latencies, 0.99))) max \(Self.ms(latencies.last))"
            let others = Dictionary(grouping: genuine.filter { !$0.success }, by: \.status).mapValues(\.count)
            if !others.isEmpty { line += "; genuine not acknowledged by status \(others.sorted { $0.key < $1.key })" }
            if !forged.isEmpty {
                let byStatus = Dictionary(grouping: forged, by: \.status).mapValues(\.count).sorted { $0.key < $1.key }
                line +=
                    "\n  forged: \(forged.count) sent, \(forged.filter(\.success).count) answered success, by status \(byStatus)"
            }
            return line
        }

        static func percentile(_ sorted: [Duration], _ fraction: Double) -> Duration? {
            guard !sorted.isEmpty else { return nil }
            let index = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
            return sorted[max(0, index)]
        }

        static func ms(_ duration: Duration?) -> String {
            guard let duration else { return "-" }
            let value = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
            return String(format: "%.1f ms", value)
        }
    }

    struct Answer: Sendable {
        /// HTTP status, 0 when the request failed.
        var status: Int
        var success: Bool
        var latency: Duration
    }

    /// Sends both lists at the same time, `concurrency` requests in flight for each.
    static func phase(url: String, genuine: [[UInt8]], forged: [[UInt8]], concurrency: Int) async -> Phase {
        let started = ContinuousClock.now
        async let genuineAnswers = send(genuine, to: url, concurrency: concurrency)
        async let forgedAnswers = send(forged, to: url, concurrency: concurrency)
        let (g, f) = await (genuineAnswers, forgedAnswers)
        return Phase(wall: ContinuousClock.now - started, genuine: g, forged: f)
    }

    static func send(_ bodies: [[UInt8]], to url: String, concurrency: Int) async -> [Answer] {
        await withTaskGroup(of: Answer.self) { group in
            var answers: [Answer] = []
            answers.reserveCapacity(bodies.count)
            var next = 0
            func add(_ group: inout TaskGroup<Answer>) {
                let body = bodies[next]
                next += 1
                group.addTask { await post(body, to: url) }
            }
            while next < min(concurrency, bodies.count) { add(&group) }
            for await answer in group {
                answers.append(answer)
                if next < bodies.count { add(&group) }
            }
            return answers
        }
    }

    static func post(_ body: [UInt8], to url: String) async -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(bytes: body))
        let started = ContinuousClock.now
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let text = try await response.body.collect(upTo: 1 << 16)
            let answer = String(buffer: text)
            return Answer(
                status: Int(response.status.code), success: response.status.code == 200 && answer == "success",
                latency: ContinuousClock.now - started)
        } catch {
            return Answer(status: 0, success: false, latency: ContinuousClock.now - started)
        }
    }
}

/// `payfleet broker` and `payfleet ingress` as child processes of this binary.
struct BenchFleet {
    let servers: String
    let notifyURL: String
    let processes: BenchProcesses

    var kafka: KafkaConfiguration { KafkaConfiguration(bootstrapServers: KafkaConfiguration.splitServers(servers)) }

    static func start(logger: Logger) async throws -> BenchFleet {
        let processes = try BenchProcesses()
        let directory = processes.directory
        do {
            let servers = try await processes.startBroker()
            try Data(IngressBenchCommand.key.utf8).write(to: directory.appendingPathComponent("storepos-key"))
            let merchants = """
                notify_base_url: http://127.0.0.1:1
                merchants:
                  \(IngressBenchCommand.merchant):
                    channel: storepos
                    settings:
                      mch_id: "\(IngressBenchCommand.merchantID)"
                      agent_id: "13000000000000000"
                      pid: payfleet
                      version: "1.0"
                      gateway_url: http://127.0.0.1:1/v2/UnifiedPay/Gateway
                      default_pay_type: wechat
                      default_trade_type: NATIVE
                    secrets:
                      merchant_key: {file: \(directory.appendingPathComponent("storepos-key").path)}

                """
            try Data(merchants.utf8).write(to: directory.appendingPathComponent("merchants.yaml"))
            let httpPort = try LocalPort.free()
            let ingressPort = try LocalPort.free()
            let ingress = try processes.spawn(
                ["ingress"],
                environment: [
                    "KAFKA_BOOTSTRAP_SERVERS": servers,
                    "PAYFLEET_MERCHANTS": directory.appendingPathComponent("merchants.yaml").path,
                    "PAYFLEET_HTTP_HOST": "127.0.0.1",
                    "PAYFLEET_HTTP_PORT": "\(httpPort)",
                    "PAYFLEET_INGRESS_PORT": "\(ingressPort)",
                    "PAYFLEET_LOG_LEVEL": ProcessInfo.processInfo.environment["PAYFLEET_LOG_LEVEL"] ?? "warning",
                ], log: "ingress.log")
            let fleet = BenchFleet(
                servers: servers,
                notifyURL: "http://127.0.0.1:\(ingressPort)/notify/storepos/\(IngressBenchCommand.merchant)",
                processes: processes)
            var ready = false
            for _ in 0..<900 where !ready {
                guard ingress.isRunning else {
                    throw ValidationError("the ingress exited: see \(directory.path)/ingress.log")
                }
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(httpPort)/readyz")
                request.method = .GET
                if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(1)),
                    response.status == .ok
                {
                    ready = true
                } else {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            guard ready else {
                throw ValidationError("the ingress was not ready within 90 s: see \(directory.path)/ingress.log")
            }
            return fleet
        } catch {
            processes.stop()
            throw error
        }
    }

    func stop() { processes.stop() }
}
