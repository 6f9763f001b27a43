import Foundation
import Kafka
import Payments

/// One order's story, assembled from the records of its key (`payfleet order show`): the current
/// state from `payfleet.order-state` (either record format), and its requests, events, callbacks,
/// fired timers, dead letters and scheduled timers in time order, with the timers still pending.
///
/// It only interprets records; ``OrderLookup`` reads them from the order's partition of each topic.
public struct OrderTimeline: Sendable {
    /// What a timeline entry is.
    public enum Kind: String, Sendable, Hashable, Codable {
        case request, event, callback, timerScheduled = "timer_scheduled", timerFired = "timer_fired"
        case deadLetter = "dead_letter", state
    }

    /// One record of the order.
    public struct Entry: Sendable, Hashable {
        /// The record's timestamp.
        public var time: Date?
        public var kind: Kind
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        /// One line for people.
        public var summary: String
        /// The same in fields, for `--format json`.
        public var details: [String: JSONValue]
    }

    /// The order's current state.
    public struct CurrentState: Sendable, Hashable {
        /// `json` (format 1, a live order or an old terminal one), `terminal_summary` (format 2),
        /// `tombstone` (forgotten after retention) or `unreadable`.
        public var format: String
        /// The decoded state; `nil` for a tombstone or an unreadable record.
        public var state: OrderState?
        /// Why the record could not be read.
        public var problem: String?
        public var offset: Int64
        public var time: Date?
    }

    public var outTradeNo: String
    /// `nil` when `payfleet.order-state` has no record of the order.
    public var current: CurrentState?
    /// Every record of the order except order-state, oldest first.
    public var entries: [Entry]
    /// Timer jobs written to a delay tier whose `timer_id` never reached `payfleet.query-jobs`,
    /// soonest first.
    public var pendingTimers: [TimerJob]

    /// Assembles the timeline from the order's records per topic (records of other keys are ignored).
    public init(outTradeNo: String, records: [String: [KafkaConsumerMessage]]) {
        self.outTradeNo = outTradeNo
        func mine(_ topic: String) -> [KafkaConsumerMessage] {
            (records[topic] ?? []).filter { $0.keyString == outTradeNo }
        }
        current = mine(FleetTopic.orderState).max { $0.offset < $1.offset }.map(Self.currentState)

        var entries: [Entry] = []
        for message in mine(FleetTopic.orderRequests) { entries.append(Self.request(message)) }
        for message in mine(FleetTopic.paymentEvents) { entries.append(Self.event(message)) }
        for message in mine(FleetTopic.callbacks) { entries.append(Self.callback(message)) }
        var fired = Set<String>()
        for message in mine(FleetTopic.queryJobs) {
            let entry = Self.timer(message, kind: .timerFired)
            if let id = try? TimerJob.decode(message.value).timerID { fired.insert(id) }
            entries.append(entry)
        }
        var scheduled: [String: TimerJob] = [:]
        for tier in DelayTier.all {
            for message in mine(tier.topic) {
                entries.append(Self.timer(message, kind: .timerScheduled))
                if let job = try? TimerJob.decode(message.value) { scheduled[job.timerID] = job }
            }
        }
        for message in mine(FleetTopic.deadLetters) {
            if let entry = Self.deadLetter(message) { entries.append(entry) }
        }
        self.entries = entries.sorted { left, right in
            let l = left.time ?? .distantPast
            let r = right.time ?? .distantPast
            if l != r { return l < r }
            if left.topic != right.topic { return left.topic < right.topic }
            return left.offset < right.offset
        }
        pendingTimers = scheduled.values.filter { !fired.contains($0.timerID) }.sorted {
            ($0.dueAt, $0.timerID) < ($1.dueAt, $1.timerID)
        }
    }

    /// Whether anything at all was found for the order.
    public var isEmpty: Bool { current == nil && entries.isEmpty }

    // MARK: Records

    static func currentState(_ message: KafkaConsumerMessage) -> CurrentState {
        guard let value = message.value else {
            return CurrentState(
                format: "tombstone", state: nil, problem: nil, offset: message.offset, time: message.timestamp)
        }
        let format = TerminalSummary.isBinaryRecord(value) ? "terminal_summary" : "json"
        do {
            let state = try OrderState.decode(value)
            return CurrentState(
                format: format, state: state, problem: nil, offset: message.offset, time: message.timestamp)
        } catch {
            return CurrentState(
                format: "unreadable", state: nil, problem: error.detail, offset: message.offset,
                time: message.timestamp)
        }
    }

    private static func entry(
        _ message: KafkaConsumerMessage, _ kind: Kind, _ summary: String, _ details: [String: JSONValue]
    ) -> Entry {
        var details = details
        for name in [DeadLetterReplayer.replayedFromHeader, PartitionOwnership.reroutedFromHeader] {
            if let origin = message.headers.string(name) { details[name] = .string(origin) }
        }
        var line = summary
        if let replayed = message.headers.string(DeadLetterReplayer.replayedFromHeader) {
            line += " (replayed from \(replayed))"
        }
        return Entry(
            time: message.timestamp, kind: kind, topic: message.topic, partition: message.partition,
            offset: message.offset, summary: line, details: details)
    }

    static func request(_ message: KafkaConsumerMessage) -> Entry {
        guard let value = message.value,
            case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: value)
        else {
            return entry(
                message, .request, "request (not a JSON object)", ["bytes": .integer(Int64(message.value?.count ?? 0))])
        }
        var details: [String: JSONValue] = [:]
        for name in ["action", "merchant", "channel", "amount_fen", "expires_at"] {
            if let field = object[name] { details[name] = field }
        }
        let action = object["action"]?.stringValue ?? "?"
        var line = "request \(action)"
        if case .integer(let fen)? = object["amount_fen"] { line += " amount_fen=\(fen)" }
        if let merchant = object["merchant"]?.stringValue { line += " merchant=\(merchant)" }
        return entry(message, .request, line, details)
    }

    static func event(_ message: KafkaConsumerMessage) -> Entry {
        guard let event = ReceivedPaymentEvent(headers: message.headers, value: message.value) else {
            return entry(message, .event, "event (not a CloudEvent)", [:])
        }
        var line = event.type.split(separator: ".").last.map(String.init) ?? event.type
        if event.type == PaymentEvent.Kind.rejected.rawValue { line = "rejected" }
        for name in ["amount_fen", "transaction_id", "reason", "anomaly", "vendor_code", "close_reason"] {
            if let field = event.data[name], field != .null { line += " \(name)=\(Self.plain(field))" }
        }
        var details = event.data
        details["type"] = .string(event.type)
        details["ce_id"] = .string(event.id)
        if let time = event.time { details["ce_time"] = .string(RFC3339.formatMilliseconds(Self.millis(time))) }
        return entry(message, .event, line, details)
    }

    static func callback(_ message: KafkaConsumerMessage) -> Entry {
        do {
            let record = try CallbackRecord.decode(
                key: message.keyString, value: message.value, headers: message.headers)
            let details: [String: JSONValue] = [
                "channel": .string(record.channel), "merchant": .string(record.merchant),
                "body_bytes": .integer(Int64(record.raw.body.count)), "body_sha256": .string(record.bodyDigest),
                "received_at": .string(RFC3339.formatMilliseconds(Self.millis(record.raw.receivedAt))),
            ]
            return entry(
                message, .callback,
                "callback \(record.channel) merchant=\(record.merchant) \(record.raw.body.count) bytes sha256=\(record.bodyDigest.prefix(12))",
                details)
        } catch {
            return entry(
                message, .callback, "callback (unreadable: \(error.detail))", ["problem": .string(error.detail)])
        }
    }

    static func timer(_ message: KafkaConsumerMessage, kind: Kind) -> Entry {
        let verb = kind == .timerFired ? "timer fired" : "timer scheduled on \(message.topic)"
        do {
            let job = try TimerJob.decode(message.value)
            let due = RFC3339.formatMilliseconds(job.dueAtMilliseconds)
            let details: [String: JSONValue] = [
                "job": .string(job.job.rawValue), "reason": .string(job.reason.rawValue),
                "attempt": .integer(Int64(job.attempt)), "due_at": .string(due), "timer_id": .string(job.timerID),
            ]
            return entry(
                message, kind,
                "\(verb): \(job.job.rawValue) (\(job.reason.rawValue), attempt \(job.attempt)) due \(due)",
                details)
        } catch {
            return entry(message, kind, "\(verb) (unreadable: \(error.detail))", ["problem": .string(error.detail)])
        }
    }

    static func deadLetter(_ message: KafkaConsumerMessage) -> Entry? {
        guard let letter = DeadLetterEntry(message) else { return nil }
        let details: [String: JSONValue] = [
            "reason": .string(letter.reason), "detail": .string(letter.detail), "source": .string(letter.source),
            "role": .string(letter.role),
        ]
        return entry(
            message, .deadLetter,
            "dead letter \(letter.reason) from \(letter.source) (\(letter.role)): \(letter.detail)",
            details)
    }

    // MARK: Output

    /// The human-readable story.
    public func text() -> String {
        var lines = ["order \(outTradeNo)"]
        if let current {
            if let state = current.state {
                var line = "  state: \(state.status.rawValue) (\(current.format), revision \(state.revision))"
                line += " \(state.channel.rawValue) merchant=\(state.merchant) amount_fen=\(state.amountFen)"
                lines.append(line)
                lines.append("  created \(Self.format(state.createdAt)), expires \(Self.format(state.expiresAt))")
                if let payment = state.payment {
                    lines.append(
                        "  paid \(payment.amountFen) fen, transaction \(payment.transactionID)"
                            + (payment.paidAt.map { " at \(Self.format($0))" } ?? ""))
                }
                if let failure = state.failure { lines.append("  failed: \(failure.code) \(failure.message)") }
                if let reason = state.closeReason { lines.append("  closed: \(reason)") }
                if let reason = state.pendingReason { lines.append("  pending: \(reason)") }
            } else if current.format == "tombstone" {
                lines.append("  state: forgotten (tombstone at offset \(current.offset): retention ended)")
            } else {
                lines.append("  state: unreadable record at offset \(current.offset): \(current.problem ?? "")")
            }
        } else {
            lines.append("  state: no record on \(FleetTopic.orderState)")
        }
        lines.append("  timeline:")
        if entries.isEmpty { lines.append("    (no records)") }
        for entry in entries {
            let time = entry.time.map(Self.format) ?? "-"
            lines.append("    \(time)  \(entry.summary)  [\(entry.topic)/\(entry.partition)/\(entry.offset)]")
        }
        lines.append("  pending timers: \(pendingTimers.count)")
        for job in pendingTimers {
            lines.append(
                "    due \(Self.format(job.dueAt)): \(job.job.rawValue) (\(job.reason.rawValue), attempt \(job.attempt))"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The same as one JSON object (sorted keys).
    public func json() -> Data {
        var object: [String: JSONValue] = ["out_trade_no": .string(outTradeNo)]
        if let current {
            var state: [String: JSONValue] = ["format": .string(current.format), "offset": .integer(current.offset)]
            if let decoded = current.state,
                case .object(var fields)? = try? JSONDecoder().decode(JSONValue.self, from: decoded.encodedJSON())
            {
                // A terminal summary keeps only some fields: show those, not the others' empty defaults.
                if current.format == "terminal_summary" {
                    fields = fields.filter { Self.terminalSummaryFields.contains($0.key) }
                }
                state["state"] = .object(fields)
            }
            if let problem = current.problem { state["problem"] = .string(problem) }
            object["current"] = .object(state)
        } else {
            object["current"] = .null
        }
        object["timeline"] = .array(
            entries.map { entry in
                .object([
                    "time": entry.time.map { JSONValue.string(RFC3339.formatMilliseconds(Self.millis($0))) } ?? .null,
                    "kind": .string(entry.kind.rawValue), "topic": .string(entry.topic),
                    "partition": .integer(Int64(entry.partition)), "offset": .integer(entry.offset),
                    "summary": .string(entry.summary), "details": .object(entry.details),
                ])
            })
        object["pending_timers"] = .array(
            pendingTimers.map { job in
                .object([
                    "job": .string(job.job.rawValue), "reason": .string(job.reason.rawValue),
                    "attempt": .integer(Int64(job.attempt)),
                    "due_at": .string(RFC3339.formatMilliseconds(job.dueAtMilliseconds)),
                    "timer_id": .string(job.timerID),
                ])
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? encoder.encode(JSONValue.object(object))) ?? Data()
    }

    /// The JSON state fields a terminal summary (record format 2) carries (docs/contracts.md).
    static let terminalSummaryFields: Set<String> = [
        "schema", "out_trade_no", "merchant", "channel", "amount_fen", "attach", "options", "created_at", "expires_at",
        "request_digest", "status", "payment", "failure", "closed_at", "close_reason", "closed_at_vendor",
        "terminal_at", "revision",
    ]

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    static func format(_ date: Date) -> String { RFC3339.formatMilliseconds(millis(date)) }

    static func plain(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        case .integer(let number): String(number)
        default: value.description
        }
    }
}
