import ArgumentParser
import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Payments

/// `payfleet dlq list` and `payfleet dlq replay`: what is in `payfleet.dead-letters`, and sending it
/// back once the cause is fixed.
struct DlqCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List and replay dead letters (payfleet.dead-letters).",
        subcommands: [List.self, Replay.self]
    )

    /// The selection options both subcommands share.
    struct Selection: ParsableArguments {
        @Option(help: "Only this reason (payfleet-dlq-reason), e.g. malformed_json or bad_signature.")
        var reason: String?

        @Option(help: "Only dead letters written at or after this time: RFC 3339, or a duration ago (15m, 2h, 7d).")
        var since: String?

        @Option(help: "Only dead letters written before this time: RFC 3339, or a duration ago.")
        var until: String?

        @Option(
            help:
                "Only originals from this source topic (e.g. payfleet.order-requests); `http:` selects refused callbacks."
        )
        var source: String?

        @Option(help: "Only the original at this partition of --source.")
        var partition: Int32?

        @Option(help: "Only the original at this offset of --source.")
        var offset: Int64?

        func filter() throws -> DeadLetterFilter {
            if (partition != nil || offset != nil) && source == nil {
                throw ValidationError("--partition and --offset need --source <topic>")
            }
            return DeadLetterFilter(
                reason: reason, since: try since.map { try OperatorCLI.time($0) },
                until: try until.map { try OperatorCLI.time($0) }, sourceTopic: source, sourcePartition: partition,
                sourceOffset: offset)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List dead letters with their reason, source and detail.",
            discussion: """
                Reads every partition of payfleet.dead-letters up to its current end. One line per dead letter \
                (time, reason, role, source <topic>/<partition>/<offset> or http:<path>, key, detail, and where it \
                sits), then a count per reason; --format json prints one JSON array with the original value \
                (UTF-8 text, or base64 when it is not) and headers.
                """
        )

        @OptionGroup var kafkaOptions: KafkaOptions
        @OptionGroup var selection: Selection

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let logger = OperatorCLI.logger(role: "dlq", environment)
            let kafka = try kafkaOptions.configuration(environment)
            let entries = try await DeadLetterReader.read(filter: try selection.filter(), kafka: kafka, logger: logger)
            switch format {
            case .json:
                KafkaCLI.printLine(String(decoding: DeadLetterListing.json(entries), as: UTF8.self))
            case .text:
                for entry in entries { KafkaCLI.printLine(DeadLetterListing.line(entry)) }
                KafkaCLI.printLine(DeadLetterListing.summary(entries))
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Send dead letters back to where they came from.",
            discussion: """
                Select by source (--source <topic> --offset <o> [--partition <p>]) or by reason and time range \
                (--reason R [--since T] [--until T]). An original read from a topic is written back to it with \
                its key, value and headers plus `payfleet-replayed-from: payfleet.dead-letters/<p>/<o>`. A \
                callback the ingress refused (source http:/notify/<channel>/<merchant>) is posted again \
                through the ingress logic with the merchants file's current keys: written to payfleet.callbacks \
                if it verifies now, sampled to dead-letters again if not. Replaying twice is harmless (the \
                worker treats repeats as duplicates). --dry-run prints what would happen and writes nothing. \
                Exits 1 when any selected dead letter was not replayed (or a re-posted callback was refused).
                """
        )

        @OptionGroup var kafkaOptions: KafkaOptions
        @OptionGroup var selection: Selection

        @Option(help: "The merchants file, needed to re-post refused callbacks (overrides PAYFLEET_MERCHANTS).")
        var merchants: String?

        @Flag(help: "Print what would be replayed; write nothing.")
        var dryRun = false

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        func validate() throws {
            if selection.offset == nil && selection.reason == nil {
                throw ValidationError(
                    "select what to replay: --source <topic> --offset <offset>, or --reason <reason> [--since] [--until]"
                )
            }
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let logger = OperatorCLI.logger(role: "dlq", environment)
            var kafka = try kafkaOptions.configuration(environment)
            if kafka.clientID == "payfleet" { kafka.clientID = "payfleet-dlq-replay" }
            let entries = try await DeadLetterReader.read(filter: try selection.filter(), kafka: kafka, logger: logger)
            let needsIngress = entries.contains(where: \.isIngressSourced) && !dryRun
            let merchantsPath = merchants ?? environment["PAYFLEET_MERCHANTS"]
            let httpClient = VendorHTTP.makeClient()
            let outcomes: [DeadLetterReplayer.Outcome]
            do {
                outcomes = try await withKafkaProducer(
                    configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger
                ) { producer in
                    var ingress: CallbackIngress?
                    if needsIngress, let merchantsPath, !merchantsPath.isEmpty {
                        let directory = try MerchantsFileLoader(
                            environment: environment, notifyBaseURLOverride: environment["PAYFLEET_NOTIFY_BASE_URL"]
                        ).load(path: merchantsPath)
                        let registry = try ChannelRegistry(
                            directory: directory, http: VendorHTTP(client: httpClient, timeout: .seconds(5)),
                            logger: logger)
                        ingress = CallbackIngress(
                            settings: try IngressSettings(environment: environment), publisher: producer,
                            logger: logger
                        ) { registry.channel(for: $0) }
                    }
                    return await DeadLetterReplayer(publisher: producer, ingress: ingress).replay(
                        entries, dryRun: dryRun)
                }
            } catch {
                try? await httpClient.shutdown()
                throw error
            }
            try await httpClient.shutdown()
            switch format {
            case .json:
                KafkaCLI.printLine(String(decoding: DeadLetterListing.json(outcomes), as: UTF8.self))
            case .text:
                for outcome in outcomes {
                    KafkaCLI.printLine(
                        "\(DeadLetterListing.describe(outcome.action)): \(outcome.result)  \(DeadLetterListing.line(outcome.entry))"
                    )
                }
                let done = outcomes.filter(\.succeeded).count
                KafkaCLI.printLine(
                    "\(dryRun ? "would replay" : "replayed") \(done) of \(outcomes.count) dead letters"
                        + (outcomes.count - done > 0 ? ", \(outcomes.count - done) not" : ""))
            }
            if outcomes.contains(where: { !$0.succeeded }) { throw ExitCode(1) }
        }
    }
}

/// How `payfleet dlq` prints dead letters.
enum DeadLetterListing {
    static func time(_ date: Date?) -> String {
        date.map { RFC3339.formatMilliseconds(Int64(($0.timeIntervalSince1970 * 1000).rounded())) } ?? "-"
    }

    static func line(_ entry: DeadLetterEntry) -> String {
        let key = entry.keyString.map { "key=\($0)" } ?? "no key"
        return
            "\(time(entry.time))  \(entry.reason)  \(entry.role)  \(entry.source)  \(key)  \(entry.detail)  [\(entry.coordinates)]"
    }

    static func summary(_ entries: [DeadLetterEntry]) -> String {
        var counts: [String: Int] = [:]
        for entry in entries { counts[entry.reason, default: 0] += 1 }
        let perReason = counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(entries.count) dead letters" + (perReason.isEmpty ? "" : ": \(perReason)")
    }

    static func describe(_ action: DeadLetterReplayer.Action) -> String {
        switch action {
        case .republish(let topic): "republish to \(topic)"
        case .repost(let path): "re-post \(path)"
        case .skip: "skip"
        }
    }

    static func object(_ entry: DeadLetterEntry) -> JSONValue {
        var object: [String: JSONValue] = [
            "time": entry.time.map { .string(time($0)) } ?? .null, "reason": .string(entry.reason),
            "detail": .string(entry.detail), "role": .string(entry.role), "source_topic": .string(entry.sourceTopic),
            "source_partition": .integer(Int64(entry.sourcePartition)), "source_offset": .integer(entry.sourceOffset),
            "partition": .integer(Int64(entry.partition)), "offset": .integer(entry.offset),
            "key": entry.keyString.map(JSONValue.string) ?? .null,
        ]
        object["value"] =
            entry.value.map { value in
                String(data: value, encoding: .utf8).map(JSONValue.string) ?? .string(value.base64EncodedString())
            } ?? .null
        if let value = entry.value, String(data: value, encoding: .utf8) == nil {
            object["value_encoding"] = .string("base64")
        }
        object["headers"] = .object(
            Dictionary(
                entry.originalHeaders.map {
                    ($0.key, JSONValue.string($0.value.flatMap { String(data: $0, encoding: .utf8) } ?? ""))
                },
                uniquingKeysWith: { _, last in last }))
        return .object(object)
    }

    static func json(_ entries: [DeadLetterEntry]) -> Data {
        encode(.array(entries.map(object)))
    }

    static func json(_ outcomes: [DeadLetterReplayer.Outcome]) -> Data {
        encode(
            .array(
                outcomes.map { outcome in
                    .object([
                        "dead_letter": .string(outcome.entry.coordinates), "source": .string(outcome.entry.source),
                        "reason": .string(outcome.entry.reason), "action": .string(describe(outcome.action)),
                        "result": .string(outcome.result), "succeeded": .bool(outcome.succeeded),
                    ])
                }))
    }

    private static func encode(_ value: JSONValue) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data()
    }
}
