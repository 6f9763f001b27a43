import ArgumentParser
import Fleet
import FleetDev
import Foundation
import Histogram
import Kafka
import Payments

/// `payfleet demo`: the demo orders against a running fleet (e.g. `payfleet dev`).
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Submit one order per demo merchant (and one never paid) and print the events as they arrive."
    )

    @OptionGroup var kafkaOptions: KafkaOptions

    @Option(help: "Sandbox URL to pay orders at (omit when the sandbox autopays).")
    var sandbox: String?

    @Option(help: "Seconds until the never-paid order expires.")
    var closeAfter = 15

    @Option(help: "Seconds to wait for every order to reach a terminal event.")
    var timeout = 120

    @Option(
        help:
            "Rate benchmark: submit this many paid orders (round-robin over the channels) and print orders/s from request to succeeded."
    )
    var bench: Int?

    @Option(
        help:
            "Rate benchmark pacing: submit this many orders per second (default: all at once). Measure the latency at a given load, e.g. at half of the maximum rate."
    )
    var rate: Double?

    @Option(
        help:
            "Channels the benchmark uses, comma-separated (default: all five; their demo-<channel> merchants must be configured)."
    )
    var channels: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var logging = try LoggingSettings(environment: environment)
        if environment["PAYFLEET_LOG_FORMAT"] == nil { logging.format = .text }
        FleetLogging.bootstrap(logging)
        let logger = FleetLogging.logger(role: "demo")
        let kafka = try kafkaOptions.configuration(environment)
        let client = try DemoClient(kafka: kafka, sandboxURL: sandbox, logger: logger)
        let runID = String(UInt32(Date().timeIntervalSince1970) % 100_000_000, radix: 16).uppercased()
        if let bench {
            guard bench > 0 else { throw ValidationError("--bench must be positive") }
            var channels = ChannelID.allCases
            if let list = self.channels {
                channels = try list.split(separator: ",").map { name in
                    guard let channel = ChannelID(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError(
                            "unknown channel \(name); channels: \(ChannelID.allCases.map(\.rawValue).joined(separator: ", "))"
                        )
                    }
                    return channel
                }
                guard !channels.isEmpty else { throw ValidationError("--channels lists no channel") }
            }
            let orders = (0..<bench).map { index in
                DemoOrder.sample(
                    channel: channels[index % channels.count], outTradeNo: "B\(runID)N\(index)",
                    amountFen: 1000 + Int64(index % 50) * 100, description: "PayFleet rate benchmark")
            }
            if let rate, !(rate > 0) { throw ValidationError("--rate must be positive") }
            let result = try await client.bench(
                orders, rate: rate, payPrepared: sandbox != nil, timeout: .seconds(timeout))
            await client.close()
            let seconds = Self.seconds(result.elapsed)
            let succeeded = result.succeeded
            print(
                "e2e rate: \(succeeded)/\(bench) orders succeeded in \(String(format: "%.2f", seconds)) s = \(String(format: "%.1f", Double(succeeded) / seconds)) orders/s (request to succeeded)"
            )
            let submission = Self.seconds(result.submission)
            print(
                "submitted \(bench) orders in \(String(format: "%.2f", submission)) s (\(rate.map { String(format: "paced at %.0f", $0) } ?? "all at once"); \(String(format: "%.1f", Double(bench) / max(submission, 1e-9))) orders/s offered); the demo's consumer joined its group before the first request"
            )
            print("latency, request record → event record (ms)   count      p50      p99    p99.9      max")
            print(Self.latencyLine("request → prepared", result.requestToPrepared))
            print(Self.latencyLine("request → succeeded", result.requestToSucceeded))
            return
        }
        let orders = DemoClient.demoOrders(runID: runID, closeAfter: .seconds(closeAfter))
        try await client.submit(orders)
        print("submitted \(orders.count) orders")
        let terminal = try await client.follow(orders, payPrepared: sandbox != nil, timeout: .seconds(timeout)) {
            order, event in
            print(DemoClient.describe(event, order: order))
            fflush(nil)
        }
        await client.close()
        let missing = orders.filter { terminal[$0.outTradeNo] == nil }
        guard missing.isEmpty else {
            throw ValidationError(
                "no terminal event within \(timeout)s for \(missing.map(\.outTradeNo).joined(separator: ", "))")
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// One row of the latency table: an HdrHistogram (microseconds, 3 significant digits) of the samples.
    static func latencyLine(_ name: String, _ samples: [Duration]) -> String {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        for sample in samples {
            let microseconds = max(
                0, sample.components.seconds * 1_000_000 + sample.components.attoseconds / 1_000_000_000_000)
            _ = histogram.record(UInt64(microseconds))
        }
        func ms(_ microseconds: UInt64) -> String { String(format: "%8.1f", Double(microseconds) / 1000) }
        guard histogram.totalCount > 0 else {
            return name.padding(toLength: 45, withPad: " ", startingAt: 0) + String(format: "%6d", 0)
        }
        return name.padding(toLength: 45, withPad: " ", startingAt: 0)
            + String(format: "%6d", samples.count) + " " + ms(histogram.valueAtPercentile(50)) + " "
            + ms(histogram.valueAtPercentile(99)) + " " + ms(histogram.valueAtPercentile(99.9)) + " "
            + ms(histogram.max)
    }
}
