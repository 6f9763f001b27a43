import ArgumentParser
import AsyncHTTPClient
import Fleet
import FleetDev
import Foundation
import Kafka

/// `payfleet check`: reports violations of PayFleet's guarantees found in the topics.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the topics for broken guarantees; exits non-zero on any violation.",
        discussion: """
            Reads payfleet.order-requests, payfleet.payment-events, payfleet.callbacks and payfleet.query-jobs from the \
            beginning up to their current ends and reports: records on a partition that does not own their key \
            (murmur2; forwarded ones are listed, unforwarded ones are violations with --require-terminal), accepted orders without exactly one terminal event (with \
            --require-terminal), conflicting terminal events, regressions, events out of causal order, create \
            requests that were never answered, and (with --sandbox) callbacks the sandbox saw acknowledged that \
            are missing from payfleet.callbacks.
            """
    )

    @OptionGroup var kafkaOptions: KafkaOptions

    @Flag(help: "Treat accepted orders without a terminal event as violations (a settled system).")
    var requireTerminal = false

    @Option(help: "Sandbox URL whose callback history lists the acknowledged callbacks.")
    var sandbox: String?

    @Option(help: "Seconds allowed for reading the topics.")
    var timeout = 60

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var logging = try LoggingSettings(environment: environment)
        if environment["PAYFLEET_LOG_FORMAT"] == nil { logging.format = .text }
        if environment["PAYFLEET_LOG_LEVEL"] == nil { logging.level = .warning }
        FleetLogging.bootstrap(logging)
        let logger = FleetLogging.logger(role: "check")
        let kafka = try kafkaOptions.configuration(environment)
        let topics = [FleetTopic.orderRequests, FleetTopic.paymentEvents, FleetTopic.callbacks, FleetTopic.queryJobs]
        let snapshot = try await TopicSnapshot.snapshot(
            topics: topics, kafka: kafka, logger: logger, timeout: .seconds(timeout))
        let records = snapshot.records
        var acknowledged: [InvariantChecker.AcknowledgedCallback] = []
        if let sandbox {
            acknowledged = try await SandboxCallbackHistory.acknowledged(sandboxURL: sandbox)
        }
        let report = InvariantChecker(requireTerminal: requireTerminal).check(
            requests: records[FleetTopic.orderRequests] ?? [], events: records[FleetTopic.paymentEvents] ?? [],
            callbacks: records[FleetTopic.callbacks] ?? [], acknowledged: acknowledged,
            queryJobs: records[FleetTopic.queryJobs] ?? [], partitionCounts: snapshot.partitionCounts)
        print(
            "orders accepted=\(report.acceptedOrders) creates=\(report.createRequests) rejected=\(report.rejected) callbacks=\(report.callbackRecords) acknowledged_callbacks=\(acknowledged.count)"
        )
        print(
            "terminal "
                + report.terminalCounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: " "))
        if !report.refundTerminalCounts.isEmpty {
            print(
                "refunds "
                    + report.refundTerminalCounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                        separator: " "))
        }
        let forwarded = report.misplaced.filter(\.forwarded)
        if !report.misplaced.isEmpty {
            print(
                "mis-partitioned records=\(report.misplaced.count) forwarded=\(forwarded.count) (their producer does not partition by murmur2)"
            )
            for item in report.misplaced.prefix(20) { print("MISPLACED \(item)") }
            if report.misplaced.count > 20 { print("… \(report.misplaced.count - 20) more") }
        }
        for violation in report.violations { print("VIOLATION \(violation)") }
        if report.isClean {
            print("ok: no violations")
        } else {
            print("\(report.violations.count) violations")
            throw ExitCode(1)
        }
    }
}
