import ArgumentParser
import Fleet
import Foundation
import Kafka
import Payments

/// `payfleet reconcile`: a merchant's vendor bill of one day against PayFleet's events.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Reconcile a merchant's vendor bill of one day (GMT+8) against payfleet.payment-events.",
        discussion: """
            Downloads the merchant's bill of --date from its vendor, reads the day's payfleet.payment.succeeded \
            (and payfleet.refund.succeeded) events of the merchant from payfleet.payment-events, matches them by \
            out_trade_no (refunds by out_refund_no) and publishes payfleet.reconciliation.completed with the counts. \
            The last line is `reconciled <merchant> <date>: matched=N vendor_only=N payfleet_only=N amount_mismatch=N`. \
            Exit 0: everything matched; 1: any discrepancy; 2: cannot reconcile (bill not available yet, vendor \
            error, a channel without a bill), with the reason.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, csv
    }

    @OptionGroup var kafkaOptions: KafkaOptions
    @OptionGroup var merchantsOptions: MerchantsOptions

    @Option(help: "The merchant alias in the merchants file.")
    var merchant: String

    @Option(help: "The day to reconcile: yyyy-MM-dd, or yesterday / today, in China time (GMT+8).")
    var date: String

    @Option(help: "How to write the discrepancies: text (default), json or csv.")
    var format: Format = .text

    @Option(help: "Write the json/csv discrepancies to this file instead of standard output.")
    var output: String?

    @Flag(help: "Do not publish payfleet.reconciliation.completed.")
    var noPublish = false

    @Option(help: "Seconds allowed for reading payfleet.payment-events.")
    var timeout = 60

    /// `--date` as a day: `yesterday` and `today` are China-time days relative to `now`.
    static func day(_ text: String, now: Date = Date()) -> BillDate? {
        switch text {
        case "today": BillDate(containing: now)
        case "yesterday": BillDate(containing: now).previous
        default: BillDate(text)
        }
    }

    func validate() throws {
        guard Self.day(date) != nil else { throw ValidationError("--date must be yyyy-MM-dd, yesterday or today") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var logging = try LoggingSettings(environment: environment)
        if environment["PAYFLEET_LOG_FORMAT"] == nil { logging.format = .text }
        if environment["PAYFLEET_LOG_LEVEL"] == nil { logging.level = .warning }
        FleetLogging.bootstrap(logging)
        let logger = FleetLogging.logger(role: "reconcile")
        let kafka = try kafkaOptions.configuration(environment)
        let directory = try MerchantsFileLoader(environment: environment).load(path: merchantsOptions.path(environment))
        guard let day = Self.day(date) else { throw ValidationError("--date must be yyyy-MM-dd, yesterday or today") }
        let httpClient = VendorHTTP.makeClient()
        let outcome: Reconciliation.Outcome
        do {
            outcome = try await Reconciliation.run(
                merchant: merchant, date: day, directory: directory, kafka: kafka,
                http: VendorHTTP(client: httpClient, timeout: .seconds(30)), logger: logger,
                publish: !noPublish, timeout: .seconds(timeout))
        } catch {
            try? await httpClient.shutdown()
            print("cannot reconcile \(merchant) \(day): \(error)")
            throw ExitCode(2)
        }
        try await httpClient.shutdown()
        switch outcome {
        case .cannotReconcile(let reason):
            print("cannot reconcile \(merchant) \(day): \(reason)")
            throw ExitCode(2)
        case .reconciled(let report):
            try write(report)
            if !report.isClean { throw ExitCode(1) }
        }
    }

    func write(_ report: ReconciliationReport) throws {
        switch format {
        case .text:
            for item in report.discrepancies { print(ReconciliationFormat.line(item)) }
            print(report.summaryLine)
        case .json, .csv:
            let document = format == .json ? ReconciliationFormat.json(report) : ReconciliationFormat.csv(report)
            if let output {
                try Data(document.utf8).write(to: URL(fileURLWithPath: output))
                print(report.summaryLine)
            } else {
                // The document alone on standard output (for pipes); the summary on standard error.
                FileHandle.standardOutput.write(Data(document.utf8))
                FileHandle.standardError.write(Data((report.summaryLine + "\n").utf8))
            }
        }
    }
}
