import ArgumentParser
import Fleet
import Foundation
import Kafka
import Logging
import Payments

/// `payfleet bench restore`: how fast a worker gets its orders back from `payfleet.order-state`
/// (embedded broker), how much memory a retained order costs, and how long resuming a partition
/// kept across a rebalance takes — with the worker's own restore code.
struct RestoreBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Order-state restore: records/s, RSS per retained order, resume after a rebalance (embedded broker).",
        discussion: """
            Writes --orders terminal orders to payfleet.order-state (12 partitions) on an in-process \
            embedded broker, restores every partition as a newly assigned worker does, then revokes them \
            keeping the state, lets another owner write --tail-records records, and resumes. Before that it \
            compares record encodings on the same orders: the full JSON state (format 1, what terminal orders \
            were written as before), a lean JSON summary, and the binary summary (format 2). \
            --record-format full writes terminal orders in format 1 instead (the figures before the summary). \
            The mock broker keeps about 5 MB per partition: the restore reports how many records it held. \
            With --bootstrap-servers it only writes --orders terminal orders to that cluster's \
            payfleet.order-state (which must exist) and exits: a running fleet then starts a worker on them \
            (scripts/measure-start.sh).
            """
    )

    enum RecordFormat: String, ExpressibleByArgument {
        case summary
        case full
    }

    @Option(help: "Terminal orders written to payfleet.order-state.")
    var orders: Int = 150_000

    @Option(help: "Records another owner writes while the partitions are kept (resume reads only these).")
    var tailRecords: Int = 1_000

    @Option(help: "How terminal orders are written: summary (format 2) or full (format 1 JSON, as before).")
    var recordFormat: RecordFormat = .summary

    @Option(help: "Orders used for the encoding comparison.")
    var codecSamples: Int = 20_000

    @Option(
        help:
            "Seed only: write --orders terminal orders to payfleet.order-state of this running cluster and exit (no embedded broker, no measurement)."
    )
    var bootstrapServers: String?

    func run() async throws {
        guard orders > 0, tailRecords >= 0, codecSamples > 0 else { throw ValidationError("counts must be positive") }
        var logger = KafkaCLI.logger("payfleet.bench")
        logger.logLevel = .warning
        #if DEBUG
        print("build: DEBUG (figures are not representative; use swift build -c release)")
        #else
        print("build: release")
        #endif

        if let bootstrapServers {
            try await seed(bootstrapServers, logger: logger)
            return
        }

        compareEncodings()

        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        let partitions = 12
        try cluster.createTopic(FleetTopic.orderState, partitions: partitions)
        let kafka = cluster.configuration()
        let written = try await write(
            RestoreBenchmark.sampleTerminalOrders(count: orders), kafka: kafka, logger: logger)
        print(
            "\nwrote \(orders) terminal orders (\(recordFormat.rawValue) records, \(written / orders) bytes/record) to \(FleetTopic.orderState), \(partitions) partitions, embedded broker"
        )

        let worker = try RestoreBenchmark.Worker(
            kafka: kafka, partitions: (0..<Int32(partitions)).map { $0 }, logger: logger)
        let full = try await worker.assignAndRestore()
        let retained = full.liveOrders + full.terminalOrders
        let seconds = Self.seconds(full.duration)
        print(
            "full restore: \(full.records) records in \(String(format: "%.3f", seconds)) s = \(String(format: "%.0f", Double(full.records) / max(seconds, 1e-9))) records/s"
        )
        print(
            "retained: \(full.terminalOrders) terminal, \(full.liveOrders) live (the broker held \(full.records) of \(orders) records)"
        )
        let grown = full.residentAfter - full.residentBefore
        print(
            "RSS: \(full.residentBefore / 1_048_576) MB before, \(full.residentAfter / 1_048_576) MB after = \(retained > 0 ? grown / retained : 0) bytes per retained order"
        )

        await worker.revokeKeeping()
        let kept = await worker.dormantPartitions
        print("\nrebalance: revoked with all work finished; kept \(kept.count) of \(partitions) partitions")
        if tailRecords > 0 {
            _ = try await write(
                RestoreBenchmark.sampleTerminalOrders(count: tailRecords, seed: 1), kafka: kafka, logger: logger)
        }
        let resumed = try await worker.assignAndRestore()
        let resumeSeconds = Self.seconds(resumed.duration)
        print(
            "resume of \(partitions) kept partitions: \(resumed.records) tail records in \(String(format: "%.3f", resumeSeconds)) s (full restore took \(String(format: "%.3f", seconds)) s); retained now \(resumed.terminalOrders + resumed.liveOrders)"
        )
        await worker.close()
    }

    /// Writes `--orders` terminal orders to a running cluster's `payfleet.order-state` and prints
    /// what was written per partition (the partitions' high watermarks afterwards), so a broker that
    /// keeps only part of them shows it.
    private func seed(_ servers: String, logger: Logger) async throws {
        let kafka = KafkaConfiguration.fromEnvironment(
            ProcessInfo.processInfo.environment, bootstrapServers: servers)
        guard !kafka.bootstrapServers.isEmpty else { throw ValidationError("--bootstrap-servers is empty") }
        let clock = ContinuousClock()
        let started = clock.now
        let written = try await write(
            RestoreBenchmark.sampleTerminalOrders(count: orders), kafka: kafka, logger: logger)
        let seconds = Self.seconds(clock.now - started)
        print(
            "seeded \(orders) terminal orders (\(recordFormat.rawValue) records, \(written / orders) bytes/record, \(written) bytes) to \(FleetTopic.orderState) at \(servers) in \(String(format: "%.2f", seconds)) s"
        )
        let reader = try KafkaPartitionReader(configuration: kafka, logger: logger)
        let partitions = try TopicCatalog.builtIn()[FleetTopic.orderState]?.partitions ?? 0
        var held: Int64 = 0
        for partition in 0..<Int32(partitions) {
            let marks = try await reader.watermarks(topic: FleetTopic.orderState, partition: partition)
            held += marks.high - marks.low
            print(
                "  partition \(partition): offsets \(marks.low)..<\(marks.high) (\(marks.high - marks.low) records held)"
            )
        }
        await reader.close()
        print("the broker holds \(held) records of \(FleetTopic.orderState) over \(partitions) partitions")
    }

    /// Writes the orders' records; returns the bytes of the values written.
    private func write(_ states: [OrderState], kafka: KafkaConfiguration, logger: Logger) async throws -> Int {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        var bytes = 0
        var index = 0
        while index < states.count {
            let chunk = states[index..<min(index + 20_000, states.count)]
            let messages = chunk.map { state in
                let value = recordFormat == .full ? state.encodedJSON() : state.encoded()
                bytes += value.count
                return KafkaProducerMessage(topic: FleetTopic.orderState, key: state.outTradeNo, value: value)
            }
            _ = try await producer.sendAll(messages)
            index += chunk.count
        }
        await producer.close(timeout: .seconds(30))
        return bytes
    }

    // MARK: Encodings

    /// A lean JSON summary: the same fields as the binary summary under one- or two-letter keys,
    /// times as Unix ms, absent fields left out.
    static func leanJSON(_ summary: TerminalSummary) -> JSONValue {
        func ms(_ date: Date) -> JSONValue { .integer(Int64((date.timeIntervalSince1970 * 1000).rounded(.down))) }
        var object: [String: JSONValue] = [
            "v": .integer(2), "o": .string(summary.outTradeNo), "m": .string(summary.merchant),
            "c": .string(summary.channel.rawValue), "a": .integer(summary.amountFen),
            "s": .string(summary.status.rawValue),
            "d": .string(summary.requestDigest), "ca": ms(summary.createdAt), "ea": ms(summary.expiresAt),
            "r": .integer(Int64(summary.revision)),
        ]
        var optional: [String: JSONValue?] = [
            "ta": summary.terminalAt.map(ms), "at": summary.attach.map(JSONValue.string),
            "fc": summary.failure.map { .string($0.code) }, "fm": summary.failure.map { .string($0.message) },
            "cl": summary.closedAt.map(ms), "cr": summary.closeReason.map(JSONValue.string),
            "cv": summary.closedAtVendor.map(JSONValue.bool),
        ]
        if let payment = summary.payment {
            optional["tx"] = .string(payment.transactionID)
            optional["pa"] = .integer(payment.amountFen)
            optional["pt"] = payment.paidAt.map(ms)
            optional["vm"] = payment.vendorMerchantID.map(JSONValue.string)
            let subs = payment.subPayments.map { sub -> JSONValue in
                .object([
                    "o": .string(sub.outTradeNo), "m": .string(sub.vendorMerchantID),
                    "t": sub.transactionID.map(JSONValue.string) ?? .null, "a": .integer(sub.amountFen),
                    "s": .string(sub.tradeState),
                ])
            }
            optional["sp"] = subs.isEmpty ? nil : .array(subs)
        }
        if !summary.subOrders.isEmpty {
            optional["so"] = .array(
                summary.subOrders.map {
                    .object([
                        "o": .string($0.outTradeNo), "a": $0.amountFen.map(JSONValue.integer) ?? .null,
                        "m": $0.vendorMerchantID.map(JSONValue.string) ?? .null,
                    ])
                })
        }
        for case (let key, let value?) in optional { object[key] = value }
        return .object(object)
    }

    private func compareEncodings() {
        let states = RestoreBenchmark.sampleTerminalOrders(count: codecSamples, seed: 2)
        let summaries = states.compactMap(TerminalSummary.init)
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        print("\nencoding of \(states.count) terminal orders        bytes/record   encode records/s   decode records/s")
        row("full state JSON (format 1, before)", encode: { states.map { $0.encodedJSON() } }) {
            _ = try? OrderState.decodeJSON($0)
        }
        row(
            "lean JSON summary (generic decode)",
            encode: { summaries.map { (try? encoder.encode(Self.leanJSON($0))) ?? Data() } }
        ) {
            _ = try? decoder.decode(JSONValue.self, from: $0)
        }
        row("binary summary (format 2, chosen)", encode: { summaries.map { $0.encoded() } }) {
            _ = try? TerminalSummary.decode($0)
        }
        print(
            "swift-protobuf: not in Package.swift (adding packages is avoided); its varint/length-delimited wire format is the binary summary's, so its size would be within a few bytes of it"
        )
    }

    /// One encoding: its records' mean size, and encode and decode rates (each the best of three
    /// passes over all records, so a pass slowed by the machine does not count).
    private func row<Record: Collection>(_ name: String, encode: () -> [Record], decode: (Record) -> Void) {
        let clock = ContinuousClock()
        var records: [Record] = []
        var encodeSeconds = Double.infinity
        var decodeSeconds = Double.infinity
        for _ in 0..<3 {
            let started = clock.now
            records = encode()
            encodeSeconds = min(encodeSeconds, Self.seconds(clock.now - started))
        }
        for _ in 0..<3 {
            let started = clock.now
            for record in records { decode(record) }
            decodeSeconds = min(decodeSeconds, Self.seconds(clock.now - started))
        }
        let bytes = records.reduce(0) { $0 + $1.count }
        print(
            name.padding(toLength: 40, withPad: " ", startingAt: 0)
                + String(
                    format: "%12.0f   %16.0f   %16.0f", Double(bytes) / Double(max(records.count, 1)),
                    Double(records.count) / max(encodeSeconds, 1e-9), Double(records.count) / max(decodeSeconds, 1e-9)))
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }
}
