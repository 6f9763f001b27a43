import ArgumentParser
import Fleet
import Foundation
import Kafka
import Logging

/// `payfleet order show <out_trade_no>`: one order's state and story.
struct OrderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order",
        abstract: "Look up orders.",
        subcommands: [Show.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show an order's current state and its records in time order.",
            discussion: """
                Reads only the partition that owns the order's key (murmur2 of out_trade_no) of \
                payfleet.order-state (the current state: the live order's JSON or a finished order's terminal \
                summary), payfleet.order-requests, payfleet.payment-events, payfleet.callbacks, \
                payfleet.query-jobs (timers that fired), payfleet.dead-letters (dead letters of the worker and the \
                scheduler, keyed by the order) and the delay tiers payfleet.delay.* (timers scheduled; those whose \
                timer never reached payfleet.query-jobs are listed as pending). Refused callbacks the ingress \
                sampled to dead-letters carry no key and are not shown: see `payfleet dlq list --source http:`. \
                Exits 1 when nothing is found for the order.
                """
        )

        @OptionGroup var kafkaOptions: KafkaOptions

        @Argument(help: "The order's out_trade_no.")
        var outTradeNo: String

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        @Option(help: "Seconds a partition read may make no progress before it fails.")
        var timeout = 30

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let logger = OperatorCLI.logger(role: "order-show", environment)
            let kafka = try kafkaOptions.configuration(environment)
            let found = try await OrderLookup.read(
                outTradeNo: outTradeNo, kafka: kafka, logger: logger, idleTimeout: .seconds(timeout))
            for topic in found.missingTopics { KafkaCLI.printError("topic \(topic) does not exist (skipped)") }
            let timeline = OrderTimeline(outTradeNo: outTradeNo, records: found.records)
            switch format {
            case .text: KafkaCLI.printLine(timeline.text())
            case .json: KafkaCLI.printLine(String(decoding: timeline.json(), as: UTF8.self))
            }
            if timeline.isEmpty {
                KafkaCLI.printError("no records of order \(outTradeNo)")
                throw ExitCode(1)
            }
        }
    }
}

/// `--format text|json` of the operator commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Shared by the operator commands.
enum OperatorCLI {
    /// Text logs to standard error at warning level unless PAYFLEET_LOG_* say otherwise; standard
    /// output carries the command's answer.
    static func logger(role: String, _ environment: [String: String]) -> Logger {
        var logging = (try? LoggingSettings(environment: environment)) ?? LoggingSettings()
        if environment["PAYFLEET_LOG_FORMAT"] == nil { logging.format = .text }
        if environment["PAYFLEET_LOG_LEVEL"] == nil { logging.level = .warning }
        FleetLogging.bootstrap(logging)
        return FleetLogging.logger(role: role)
    }

    /// An RFC 3339 time, or a duration (`90s`, `15m`, `2h`, `7d`) meaning that long ago.
    static func time(_ text: String, now: Date = Date()) throws -> Date {
        if let date = RFC3339.parse(text) { return date }
        if let duration = DurationParser.parse(text) {
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            return now - seconds
        }
        throw ValidationError("'\(text)' is neither an RFC 3339 time nor a duration such as 15m, 2h or 7d")
    }
}
