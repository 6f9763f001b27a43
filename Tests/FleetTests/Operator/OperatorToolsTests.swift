import Foundation
import Kafka
import Logging
import Payments
import Testing

@testable import Fleet

/// `payfleet order show` (timeline assembly) and `payfleet dlq list/replay` (selection, replay
/// records, dry run, ingress re-post), the Kafka parts against the embedded broker.
@Suite("Operator tools: order show and dead-letter replay", .serialized)
struct OperatorToolsTests {
    static let t0 = Date(timeIntervalSince1970: 1_790_000_000)

    /// A produced record as a consumer reads it back.
    static func consumed(
        _ message: KafkaProducerMessage, partition: Int32 = 0, offset: Int64, at seconds: Double
    ) -> KafkaConsumerMessage {
        KafkaConsumerMessage(
            topic: message.topic, partition: partition, offset: offset, key: message.key, value: message.value,
            headers: message.headers, timestamp: t0 + seconds)
    }

    static func createJSON(_ outTradeNo: String, merchant: String = "demo-storepos", amount: Int64 = 990) -> Data {
        Data(
            #"{"action":"create","out_trade_no":"\#(outTradeNo)","merchant":"\#(merchant)","channel":"storepos","amount_fen":\#(amount),"description":"tea"}"#
                .utf8)
    }

    static func state(_ outTradeNo: String, status: OrderState.Status) -> OrderState {
        var state = OrderState(
            outTradeNo: outTradeNo, merchant: "demo-storepos", channel: .storepos, amount: Money(fen: 990),
            description: "tea", attach: nil, clientIP: nil, options: [:], createdAt: t0, expiresAt: t0 + 900,
            requestDigest: String(repeating: "ab", count: 32))
        state.status = status
        state.revision = status.isTerminal ? 3 : 1
        if status == .succeeded {
            state.payment = OrderState.PaymentRecord(
                transactionID: "T-4200", amountFen: 990, paidAt: t0 + 20, vendorMerchantID: "m1", subPayments: [])
            state.terminalAt = t0 + 21
        }
        return state
    }

    // MARK: order show

    @Test("the timeline puts the order's records in time order, reads both state formats and lists pending timers")
    func timelineAssembly() throws {
        let order = "OS-1001"
        let fired = TimerJob(
            job: .query, outTradeNo: order, merchant: "demo-storepos", channel: "storepos", dueAt: Self.t0 + 10,
            reason: .fallback, attempt: 1)
        let pending = TimerJob(
            job: .close, outTradeNo: order, merchant: "demo-storepos", channel: "storepos", dueAt: Self.t0 + 900,
            reason: .expiry, attempt: 1)
        let succeeded = PaymentEvent(
            kind: .succeeded, outTradeNo: order, discriminator: "T-4200", time: Self.t0 + 21,
            data: ["amount_fen": .integer(990), "transaction_id": .string("T-4200")])
        let prepared = PaymentEvent(
            kind: .prepared, outTradeNo: order, discriminator: "", time: Self.t0 + 2,
            data: ["amount_fen": .integer(990)])
        let callback = CallbackRecord(
            channel: "storepos", merchant: "demo-storepos", outTradeNo: order,
            raw: RawCallback(
                body: Array("paid".utf8), headers: ["content-type": "text/plain"], receivedAt: Self.t0 + 20))
        let letter = DeadLetter(
            reason: .malformedJSON, detail: "the request is not JSON", sourceTopic: FleetTopic.orderRequests,
            sourcePartition: 4, sourceOffset: 17, role: "worker", key: Data(order.utf8), value: Data("{oops".utf8))
        let liveState = Self.state(order, status: .prepared)
        let finalState = Self.state(order, status: .succeeded)
        // Listed out of order on purpose, with another order's records mixed in.
        let records: [String: [KafkaConsumerMessage]] = [
            FleetTopic.orderState: [
                Self.consumed(
                    KafkaProducerMessage(topic: FleetTopic.orderState, key: order, value: liveState.encodedJSON()),
                    offset: 5, at: 2),
                Self.consumed(
                    KafkaProducerMessage(topic: FleetTopic.orderState, key: order, value: finalState.encoded()),
                    offset: 9, at: 21),
                Self.consumed(
                    KafkaProducerMessage(topic: FleetTopic.orderState, key: "OTHER", value: nil), offset: 10, at: 30),
            ],
            FleetTopic.paymentEvents: [
                Self.consumed(succeeded.message(), offset: 8, at: 21),
                Self.consumed(prepared.message(), offset: 3, at: 2),
            ],
            FleetTopic.orderRequests: [
                Self.consumed(
                    KafkaProducerMessage(topic: FleetTopic.orderRequests, key: order, value: Self.createJSON(order)),
                    offset: 1, at: 1),
                Self.consumed(
                    KafkaProducerMessage(
                        topic: FleetTopic.orderRequests, key: "OTHER", value: Self.createJSON("OTHER")), offset: 2,
                    at: 1.5),
            ],
            FleetTopic.callbacks: [Self.consumed(callback.message(), offset: 0, at: 20)],
            DelayTier.fiveSeconds.topic: [
                Self.consumed(fired.message(topic: DelayTier.fiveSeconds.topic), offset: 0, at: 3)
            ],
            DelayTier.fourHours.topic: [
                Self.consumed(pending.message(topic: DelayTier.fourHours.topic), offset: 0, at: 2.5)
            ],
            FleetTopic.queryJobs: [Self.consumed(fired.message(topic: FleetTopic.queryJobs), offset: 0, at: 10)],
            FleetTopic.deadLetters: [Self.consumed(letter.message(), offset: 0, at: 1.2)],
        ]
        let timeline = OrderTimeline(outTradeNo: order, records: records)

        let current = try #require(timeline.current)
        #expect(current.format == "terminal_summary")
        #expect(current.state?.status == .succeeded)
        #expect(current.state?.payment?.transactionID == "T-4200")
        #expect(
            timeline.entries.map(\.kind) == [
                .request, .deadLetter, .event, .timerScheduled, .timerScheduled, .timerFired, .callback, .event,
            ])
        #expect(
            timeline.entries.map(\.time)
                == timeline.entries.map(\.time).sorted { ($0 ?? .distantPast) < ($1 ?? .distantPast) })
        #expect(!timeline.entries.contains { $0.summary.contains("OTHER") })
        #expect(timeline.entries.last?.summary.hasPrefix("succeeded") == true)
        #expect(timeline.entries[1].summary.contains("malformed_json"))
        #expect(timeline.entries[1].summary.contains("payfleet.order-requests/4/17"))
        #expect(timeline.pendingTimers.map(\.timerID) == [pending.timerID])

        let text = timeline.text()
        #expect(text.contains("state: succeeded (terminal_summary"))
        #expect(text.contains("transaction T-4200"))
        #expect(text.contains("pending timers: 1"))

        let json = try JSONDecoder().decode(JSONValue.self, from: timeline.json())
        guard case .object(let object) = json, case .object(let state)? = object["current"],
            case .array(let entries)? = object["timeline"], case .array(let timers)? = object["pending_timers"]
        else {
            Issue.record("unexpected JSON shape")
            return
        }
        #expect(state["format"] == .string("terminal_summary"))
        if case .object(let decoded)? = state["state"] {
            #expect(decoded["description"] == nil, "a terminal summary has no description")
            #expect(decoded["payment"] != nil)
            #expect(decoded["status"] == .string("succeeded"))
        } else {
            Issue.record("no decoded state")
        }
        #expect(entries.count == 8)
        #expect(timers.count == 1)
    }

    @Test("a live order's JSON state, a forgotten order's tombstone and an unknown order")
    func stateFormats() {
        let live = Self.state("OS-LIVE", status: .pending)
        let liveTimeline = OrderTimeline(
            outTradeNo: "OS-LIVE",
            records: [
                FleetTopic.orderState: [
                    Self.consumed(
                        KafkaProducerMessage(topic: FleetTopic.orderState, key: "OS-LIVE", value: live.encoded()),
                        offset: 0, at: 1)
                ]
            ])
        #expect(liveTimeline.current?.format == "json")
        #expect(liveTimeline.current?.state?.status == .pending)
        let gone = OrderTimeline(
            outTradeNo: "OS-GONE",
            records: [
                FleetTopic.orderState: [
                    Self.consumed(
                        KafkaProducerMessage(
                            topic: FleetTopic.orderState, key: "OS-GONE",
                            value: Self.state("OS-GONE", status: .closed).encoded()), offset: 0, at: 1),
                    Self.consumed(
                        KafkaProducerMessage(topic: FleetTopic.orderState, key: "OS-GONE", value: nil), offset: 1,
                        at: 2),
                ]
            ])
        #expect(gone.current?.format == "tombstone")
        #expect(gone.text().contains("forgotten"))
        let unknown = OrderTimeline(outTradeNo: "OS-NONE", records: [:])
        #expect(unknown.isEmpty)
    }

    // MARK: dlq list

    @Test("dead letters are selected by reason, time range and source coordinates")
    func deadLetterFilter() {
        func letter(_ reason: RejectionReason, topic: String, offset: Int64, at seconds: Double) -> KafkaConsumerMessage
        {
            Self.consumed(
                DeadLetter(
                    reason: reason, detail: "d", sourceTopic: topic, sourcePartition: 1, sourceOffset: offset,
                    role: "worker", key: Data("K\(offset)".utf8), value: Data("v".utf8)
                ).message(), offset: offset, at: seconds)
        }
        let messages = [
            letter(.malformedJSON, topic: FleetTopic.orderRequests, offset: 1, at: 100),
            letter(.unknownMerchant, topic: FleetTopic.orderRequests, offset: 2, at: 50),
            letter(.malformedJSON, topic: FleetTopic.callbacks, offset: 3, at: 10),
            letter(.badSignature, topic: "http:/notify/storepos/demo-storepos", offset: -1, at: 70),
            KafkaConsumerMessage(topic: FleetTopic.deadLetters, partition: 0, offset: 9, key: nil, value: Data()),
        ]
        #expect(DeadLetterFilter().select(messages).map(\.sourceOffset) == [3, 2, -1, 1])
        #expect(DeadLetterFilter(reason: "malformed_json").select(messages).map(\.sourceOffset) == [3, 1])
        #expect(
            DeadLetterFilter(reason: "malformed_json", since: Self.t0 + 50).select(messages).map(\.sourceOffset) == [1])
        #expect(
            DeadLetterFilter(since: Self.t0 + 20, until: Self.t0 + 80).select(messages).map(\.sourceOffset) == [2, -1])
        #expect(
            DeadLetterFilter(sourceTopic: FleetTopic.orderRequests, sourceOffset: 2).select(messages).map(\.reason) == [
                "unknown_merchant"
            ])
        #expect(DeadLetterFilter(sourceTopic: "http:").select(messages).map(\.reason) == ["bad_signature"])
    }

    // MARK: reconciliation metric

    static let reconciliationHeaders = [
        KafkaHeader(key: "ce_id", string: "reconcile-demo-storepos-2026-11-30"),
        KafkaHeader(key: "ce_type", string: ReconciliationWatcher.eventType),
        KafkaHeader(key: "ce_subject", string: "demo-storepos/2026-11-30"),
        KafkaHeader(key: "ce_source", string: "/payfleet/reconcile"),
        KafkaHeader(key: "ce_specversion", string: PaymentEvent.specVersion),
    ]

    @Test("reconciliation results are read from their event; payment events and other records are not")
    func reconciliationEvents() {
        let value = Data(
            #"{"merchant":"demo-storepos","date":"2026-11-30","matched":7,"vendor_only":2,"payfleet_only":1,"amount_mismatch":0}"#
                .utf8)
        #expect(
            ReconciliationWatcher.discrepancies(headers: Self.reconciliationHeaders, value: value) == [
                "vendor_only": 2, "payfleet_only": 1, "amount_mismatch": 0,
            ])
        let succeeded = PaymentEvent(
            kind: .succeeded, outTradeNo: "A1", discriminator: "T", time: Self.t0, data: ["vendor_only": .integer(5)])
        #expect(ReconciliationWatcher.discrepancies(headers: succeeded.headers, value: succeeded.value) == nil)
        #expect(ReconciliationWatcher.discrepancies(headers: Self.reconciliationHeaders, value: Data("{x".utf8)) == nil)
        #expect(
            ReconciliationWatcher.discrepancies(
                headers: Self.reconciliationHeaders, value: Data(#"{"vendor_only":-3}"#.utf8))
                == ["vendor_only": 0, "payfleet_only": 0, "amount_mismatch": 0])
    }

    // MARK: dlq replay

    static func cluster(_ logger: Logger) throws -> EmbeddedKafkaCluster {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        try cluster.createTopic(FleetTopic.orderRequests, partitions: 6)
        try cluster.createTopic(FleetTopic.callbacks, partitions: 6)
        try cluster.createTopic(FleetTopic.deadLetters, partitions: 2)
        return cluster
    }

    static func readAll(
        _ topic: String, kafka: KafkaConfiguration, logger: Logger
    ) async throws -> [KafkaConsumerMessage] {
        try await withKafkaPartitionReader(configuration: kafka, logger: logger) { reader in
            let count = try await reader.partitionCount(topic: topic)
            var messages: [KafkaConsumerMessage] = []
            for try await message in reader.readToEnd(topic: topic, partitions: (0..<Int32(count)).map { $0 }) {
                messages.append(message)
            }
            return messages
        }
    }

    @Test(
        "replay writes the original key, value and headers back with payfleet-replayed-from; a dry run writes nothing",
        .timeLimit(.minutes(2)))
    func replayToSourceTopic() async throws {
        let logger = Logger(label: "operator-tools-test")
        let cluster = try Self.cluster(logger)
        defer { cluster.shutdown() }
        let kafka = cluster.configuration()
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        let order = "DLQ-\(UUID().uuidString.prefix(8))"
        let original = KafkaConsumerMessage(
            topic: FleetTopic.orderRequests, partition: 2, offset: 41, key: Data(order.utf8),
            value: Self.createJSON(order, merchant: "shop-later"),
            headers: [KafkaHeader(key: "client.id", string: "upstream-7"), KafkaHeader(key: "trace", string: "t-1")])
        let tombstone = KafkaConsumerMessage(
            topic: FleetTopic.orderRequests, partition: 2, offset: 42, key: Data(order.utf8), value: nil)
        _ = try await producer.sendAll([
            DeadLetter(
                reason: .unknownMerchant, detail: "merchant 'shop-later' is not configured", message: original,
                role: "worker"
            )
            .message(),
            DeadLetter(reason: .nullValue, detail: "the record has no value", message: tombstone, role: "worker")
                .message(),
        ])

        let all = try await DeadLetterReader.read(filter: DeadLetterFilter(), kafka: kafka, logger: logger)
        #expect(all.count == 2)
        let selected = try await DeadLetterReader.read(
            filter: DeadLetterFilter(sourceTopic: FleetTopic.orderRequests, sourceOffset: 41), kafka: kafka,
            logger: logger)
        let entry = try #require(selected.first)
        #expect(selected.count == 1)
        #expect(entry.reason == "unknown_merchant")
        #expect(entry.source == "\(FleetTopic.orderRequests)/2/41")

        let replayer = DeadLetterReplayer(publisher: producer, ingress: nil)
        let dry = await replayer.replay(all, dryRun: true)
        #expect(dry.allSatisfy { $0.succeeded && $0.result == "dry-run" })
        #expect(try await Self.readAll(FleetTopic.orderRequests, kafka: kafka, logger: logger).isEmpty)

        let outcomes = await replayer.replay(all, dryRun: false)
        #expect(outcomes.map(\.result) == ["written", "written"])
        let replayed = try await Self.readAll(FleetTopic.orderRequests, kafka: kafka, logger: logger)
        #expect(replayed.count == 2)
        let owner = KafkaPartitioner.partition(forKey: order, partitionCount: 6)
        let copy = try #require(replayed.first { $0.value != nil })
        #expect(copy.partition == owner)
        #expect(copy.keyString == order)
        #expect(copy.value == original.value)
        #expect(copy.headers.string("client.id") == "upstream-7")
        #expect(copy.headers.string("trace") == "t-1")
        #expect(copy.headers.string(DeadLetterReplayer.replayedFromHeader) == entry.coordinates)
        #expect(!copy.headers.contains { $0.key.hasPrefix("payfleet-dlq-") })
        let restoredTombstone = try #require(replayed.first { $0.value == nil })
        #expect(restoredTombstone.keyString == order)
        await producer.close(timeout: .seconds(5))
    }

    @Test(
        "a refused callback is re-posted through the ingress logic: written to callbacks once its merchant verifies",
        .timeLimit(.minutes(2)))
    func repostThroughIngress() async throws {
        let logger = Logger(label: "operator-tools-test")
        let cluster = try Self.cluster(logger)
        defer { cluster.shutdown() }
        let kafka = cluster.configuration()
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        let order = "CB-\(UUID().uuidString.prefix(8))"
        let request = IngressRequest(
            channel: "storepos", merchant: "shop-new", path: "/notify/storepos/shop-new",
            headers: ["x-sig": "abc", "content-type": "text/plain", "authorization": "Bearer never-copied"],
            body: Array("key=\(order)".utf8), receivedAt: Date())
        // The merchant is not configured yet: the ingress refuses the callback and samples it.
        let before = CallbackIngress(settings: IngressSettings(), publisher: producer, logger: logger) { _ in nil }
        #expect(await before.handle(request).outcome == .unroutable)
        let entries = try await DeadLetterReader.read(
            filter: DeadLetterFilter(reason: "unknown_merchant"), kafka: kafka, logger: logger)
        let entry = try #require(entries.first)
        #expect(entry.isIngressSourced)
        #expect(DeadLetterReplayer.action(for: entry) == .repost(path: "/notify/storepos/shop-new"))
        let rebuilt = try #require(DeadLetterReplayer.ingressRequest(for: entry, receivedAt: Date()))
        #expect(rebuilt.channel == "storepos" && rebuilt.merchant == "shop-new")
        #expect(rebuilt.headers["x-sig"] == "abc")
        #expect(rebuilt.headers["authorization"] == nil)
        #expect(rebuilt.body == request.body)

        // Without the merchants file a refused callback is skipped, not written anywhere.
        let skipped = await DeadLetterReplayer(publisher: producer, ingress: nil).replay(entries, dryRun: false)
        #expect(skipped.map(\.succeeded) == [false])
        // Now configured: the re-post verifies and lands on payfleet.callbacks keyed by the order.
        let channel = IngressFakeChannel(channel: .storepos, merchant: "shop-new")
        let after = CallbackIngress(settings: IngressSettings(), publisher: producer, logger: logger) {
            merchant -> (any PaymentChannel)? in merchant == "shop-new" ? channel : nil
        }
        let replayer = DeadLetterReplayer(publisher: producer, ingress: after)
        #expect(await replayer.replay(entries, dryRun: true).map(\.result) == ["dry-run"])
        #expect(try await Self.readAll(FleetTopic.callbacks, kafka: kafka, logger: logger).isEmpty)
        let outcomes = await replayer.replay(entries, dryRun: false)
        #expect(outcomes.map(\.result) == ["accepted"])
        let callbacks = try await Self.readAll(FleetTopic.callbacks, kafka: kafka, logger: logger)
        let record = try #require(callbacks.first)
        #expect(callbacks.count == 1)
        #expect(record.keyString == order)
        #expect(record.partition == KafkaPartitioner.partition(forKey: order, partitionCount: 6))
        #expect(record.headers.string("payfleet-http-x-sig") == "abc")
        #expect(record.headers.string(CallbackRecord.merchantHeader) == "shop-new")
        await producer.close(timeout: .seconds(5))
    }
}
