import Foundation
import Kafka
import Logging
import Metrics
import MetricsTestKit
import Observability
import Payments
import Prometheus
import Synchronization
import Testing

@testable import Fleet

/// What each role exports, recorded through its instrument set built from an injected factory.
@Suite("Metrics each role exports")
struct MetricsTests {
    static let channels: [String: any PaymentChannel] = [
        "shop-a": IngressFakeChannel(channel: .storepos, merchant: "shop-a")
    ]

    // MARK: Worker

    @Test("a dead-lettered request without an order counts one dead letter with its reason and role, and no event")
    func workerDeadLetter() throws {
        let metrics = TestMetrics()
        let instruments = WorkerInstruments(group: "payfleet-worker", factory: metrics)
        let rejection = try #require(
            Self.rejection(OrderRequestDecoder().decode(value: Data("{not json".utf8), key: nil)))
        #expect(rejection.reason == .malformedJSON)

        instruments.acknowledged(OrderMachine.rejection(rejection, now: Date()))

        let counter = try metrics.expectCounter(
            MetricName.deadLetters, [("reason", "malformed_json"), ("role", "worker")])
        #expect(counter.totalValue == 1)
        #expect(metrics.counters(label: MetricName.deadLetters).count == 1)
        #expect(metrics.counters(label: MetricName.paymentEvents).isEmpty)
    }

    @Test("a rejected request with an order counts its rejected event and its dead letter once each")
    func workerRejectedRequest() throws {
        let metrics = TestMetrics()
        let instruments = WorkerInstruments(group: "payfleet-worker", factory: metrics)
        let json =
            #"{"action":"create","out_trade_no":"T-2","merchant":"shop","channel":"wechat-v2","amount_fen":-5,"description":"tea"}"#
        let rejection = try #require(Self.rejection(OrderRequestDecoder().decode(value: Data(json.utf8), key: "T-2")))

        instruments.acknowledged(OrderMachine.rejection(rejection, now: Date()))

        #expect(try metrics.expectCounter(MetricName.paymentEvents, [("type", "rejected")]).totalValue == 1)
        #expect(
            try metrics.expectCounter(
                MetricName.deadLetters, [("reason", rejection.reason.rawValue), ("role", "worker")]
            ).totalValue == 1)
    }

    @Test("the worker's callback, vendor call and Kafka client metrics carry their one label set")
    func workerLabels() throws {
        let metrics = TestMetrics()
        let instruments = WorkerInstruments(group: "g1", factory: metrics)
        instruments.callback(channel: .storepos, result: .verified)
        instruments.callback(channel: .storepos, result: .verified)
        instruments.callback(channel: nil, result: .refused(.unknownMerchant))
        instruments.vendorCall(channel: .yungouos, operation: .query, error: .unreachable, duration: .milliseconds(3))
        instruments.consumed(topic: FleetTopic.orderRequests)
        instruments.sent(topic: FleetTopic.paymentEvents, count: 3)
        instruments.sent(topic: FleetTopic.paymentEvents, count: 1, errorType: "msg_timed_out")

        #expect(
            try metrics.expectCounter(MetricName.workerCallbacks, [("channel", "storepos"), ("result", "verified")])
                .totalValue == 2)
        #expect(
            try metrics.expectCounter(
                MetricName.workerCallbacks, [("channel", "unknown"), ("result", "unknown_merchant")]
            ).totalValue == 1)
        let call = try metrics.expectTimer(
            MetricName.vendorCallDuration,
            [("channel", "yungouos"), ("operation", "query"), ("outcome", ChannelError.Code.unreachable.rawValue)])
        #expect(call.values == [3_000_000])
        #expect(
            try metrics.expectCounter(
                MetricName.consumedMessages,
                [
                    ("messaging_system", "kafka"), ("messaging_destination_name", FleetTopic.orderRequests),
                    ("messaging_consumer_group_name", "g1"),
                ]
            ).totalValue == 1)
        let sent = [("messaging_system", "kafka"), ("messaging_destination_name", FleetTopic.paymentEvents)]
        #expect(try metrics.expectCounter(MetricName.sentMessages, sent + [("error_type", "")]).totalValue == 3)
        #expect(
            try metrics.expectCounter(MetricName.sentMessages, sent + [("error_type", "msg_timed_out")]).totalValue == 1
        )
    }

    // MARK: Ingress

    func ingress(
        _ metrics: TestMetrics, publisher: IngressRecordingPublisher = IngressRecordingPublisher()
    ) -> CallbackIngress {
        let channels = Self.channels
        return CallbackIngress(
            settings: IngressSettings(), publisher: publisher, logger: Logger(label: "test"),
            instruments: IngressInstruments(factory: metrics)
        ) { channels[$0] }
    }

    func request(channel: String = "storepos", signature: String = "abc") -> IngressRequest {
        IngressRequest(
            channel: channel, merchant: "shop-a", path: "/notify/\(channel)/shop-a", headers: ["X-Sig": signature],
            body: Array("key=T-1".utf8), receivedAt: Date())
    }

    @Test("an accepted callback counts once as accepted, with an empty reason and no dead letter")
    func ingressAccepted() async throws {
        let metrics = TestMetrics()
        let result = await ingress(metrics).handle(request())
        #expect(result.outcome == .accepted)

        let counter = try metrics.expectCounter(
            MetricName.ingressCallbacks, [("channel", "storepos"), ("outcome", "accepted"), ("reason", "")])
        #expect(counter.totalValue == 1)
        #expect(metrics.counters(label: MetricName.ingressCallbacks).count == 1)
        #expect(metrics.counters(label: MetricName.deadLetters).isEmpty)
        #expect(try metrics.expectTimer(MetricName.ingressAckDuration, [("channel", "storepos")]).values.count == 1)
    }

    @Test("a forged callback counts once as rejected with its reason, and its sample as an ingress dead letter")
    func ingressRejected() async throws {
        let metrics = TestMetrics()
        let publisher = IngressRecordingPublisher()
        let result = await ingress(metrics, publisher: publisher).handle(request(signature: "forged"))
        #expect(result.outcome == .rejected)

        #expect(
            try metrics.expectCounter(
                MetricName.ingressCallbacks,
                [("channel", "storepos"), ("outcome", "rejected"), ("reason", "bad_signature")]
            ).totalValue == 1)
        #expect(
            try metrics.expectCounter(MetricName.deadLetters, [("reason", "bad_signature"), ("role", "ingress")])
                .totalValue == 1)
        #expect(publisher.messages.map(\.topic) == [FleetTopic.deadLetters])
    }

    @Test("a callback for an unknown channel counts as unroutable under channel unknown; spent samples are counted")
    func ingressUnroutable() async throws {
        let metrics = TestMetrics()
        let sampler = RejectionSampler(perMinute: 1)
        let channels = Self.channels
        let ingress = CallbackIngress(
            settings: IngressSettings(), publisher: IngressRecordingPublisher(), logger: Logger(label: "test"),
            sampler: sampler,
            instruments: IngressInstruments(factory: metrics)
        ) { channels[$0] }
        for _ in 0..<3 { _ = await ingress.handle(request(channel: "alipay")) }

        #expect(
            try metrics.expectCounter(
                MetricName.ingressCallbacks,
                [("channel", "unknown"), ("outcome", "unroutable"), ("reason", "unknown_channel")]
            ).totalValue == 3)
        #expect(
            try metrics.expectCounter(MetricName.deadLetters, [("reason", "unknown_channel"), ("role", "ingress")])
                .totalValue == 1)
        #expect(
            try metrics.expectCounter(MetricName.ingressSamplesDropped, [("reason", "unknown_channel")]).totalValue == 2
        )
    }

    // MARK: Scheduler

    @Test("the scheduler emitting a due job counts action=emitted for its tier, its lateness and the write")
    func schedulerEmitted() async throws {
        let metrics = TestMetrics()
        let (core, publisher) = Self.scheduler(metrics)
        let source = KafkaTopicPartition(topic: DelayTier.fiveSeconds.topic, partition: 0)
        await core.rebalance(KafkaRebalance(kind: .assigned, partitions: [source]))
        let due = SchedulerCore.nowMilliseconds() - 1000
        await core.handle(
            KafkaConsumerMessage(
                topic: source.topic, partition: 0, offset: 0, key: Data("T-1".utf8), value: Data("{}".utf8),
                headers: [KafkaHeader(key: TimerJob.dueAtHeader, string: String(due))]))

        let emitted = [("tier", "5s"), ("action", "emitted")]
        // The forward is acknowledged by a task of the core; wait for it without a clock.
        for _ in 0..<100_000 where metrics.counters(label: MetricName.schedulerJobs, dimensions: emitted).isEmpty {
            await Task.yield()
        }
        #expect(try metrics.expectCounter(MetricName.schedulerJobs, emitted).totalValue == 1)
        #expect(try metrics.expectTimer(MetricName.schedulerLateness).values.count == 1)
        #expect(
            try metrics.expectCounter(
                MetricName.sentMessages,
                [
                    ("messaging_system", "kafka"), ("messaging_destination_name", FleetTopic.queryJobs),
                    ("error_type", ""),
                ]
            ).totalValue == 1)
        #expect(publisher.messages.map(\.topic) == [FleetTopic.queryJobs])
        #expect(metrics.counters(label: MetricName.deadLetters).isEmpty)
    }

    @Test("a record that is no timer job counts action=invalid and one scheduler dead letter")
    func schedulerInvalid() async throws {
        let metrics = TestMetrics()
        let (core, _) = Self.scheduler(metrics)
        let source = KafkaTopicPartition(topic: DelayTier.thirtySeconds.topic, partition: 1)
        await core.rebalance(KafkaRebalance(kind: .assigned, partitions: [source]))
        await core.handle(
            KafkaConsumerMessage(topic: source.topic, partition: 1, offset: 0, key: nil, value: Data("junk".utf8)))

        #expect(
            try metrics.expectCounter(MetricName.schedulerJobs, [("tier", "30s"), ("action", "invalid")]).totalValue
                == 1)
        #expect(
            try metrics.expectCounter(MetricName.deadLetters, [("reason", "missing_due_at"), ("role", "scheduler")])
                .totalValue == 1)
        #expect(try metrics.expectGauge(MetricName.schedulerPausedPartitions).lastValue == 0)
    }

    // MARK: The table

    @Test("the Prometheus exposition after one of each has exactly the table's names, types and label sets")
    func exposition() async throws {
        let registry = PrometheusCollectorRegistry()
        let factory = FleetMetrics.factory(registry: registry)

        let worker = WorkerInstruments(group: "g", factory: factory)
        worker.consumed(topic: FleetTopic.orderRequests)
        worker.sent(topic: FleetTopic.orderState, count: 1)
        worker.processed(topic: FleetTopic.orderRequests, duration: .milliseconds(2))
        worker.vendorCall(channel: .storepos, operation: .create, error: nil, duration: .milliseconds(20))
        worker.callback(channel: .storepos, result: .verified)
        worker.rerouted(topic: FleetTopic.callbacks)
        worker.acknowledged(
            OrderMachine.rejection(
                RequestRejection(
                    reason: .badAmount, detail: "d", outTradeNo: "T-1", merchant: "m", channel: "storepos",
                    action: "create",
                    contentDigest: "sha256:0"),
                now: Date()))
        worker.restored(records: 10, duration: .milliseconds(1500))
        worker.orders(live: 2, terminal: 1)
        worker.lag(topic: FleetTopic.callbacks, messages: 5)
        worker.transaction(.committed)
        worker.transaction(.aborted)
        worker.fencedWrite()

        let channels = Self.channels
        let exported = CallbackIngress(
            settings: IngressSettings(), publisher: IngressRecordingPublisher(), logger: Logger(label: "test"),
            sampler: RejectionSampler(perMinute: 1), instruments: IngressInstruments(factory: factory)
        ) { channels[$0] }
        _ = await exported.handle(request())
        _ = await exported.handle(request(signature: "forged"))
        _ = await exported.handle(request(signature: "forged"))

        let scheduler = SchedulerInstruments(group: "s", factory: factory)
        scheduler.messaging.consumed(topic: DelayTier.fiveSeconds.topic)
        scheduler.emitted(tier: .fiveSeconds, latenessMilliseconds: 40)
        scheduler.hopped(tier: .fourHours)
        scheduler.invalid(tier: .fiveSeconds, reason: .missingDueAt)
        scheduler.paused(partitions: 1)
        scheduler.pending(tier: .fiveSeconds, count: 7)

        VendorInstruments(factory: factory).unmatchedMessage(channel: .leshouying)
        ReconciliationWatcher(
            kafka: KafkaConfiguration(), groupID: "r", logger: Logger(label: "test"),
            instruments: ReconciliationInstruments(factory: factory)
        ).record(
            headers: OperatorToolsTests.reconciliationHeaders,
            value: Data(
                #"{"merchant":"m","date":"2026-11-30","matched":3,"vendor_only":0,"payfleet_only":1,"amount_mismatch":0}"#
                    .utf8))

        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        let families = Self.families(text)
        #expect(Set(families.keys) == Set(MetricDefinition.all.map(\.name)), "\(text)")
        for definition in MetricDefinition.all {
            let family = try #require(families[definition.name], "\(definition.name) not exported")
            #expect(family.type == definition.kind.rawValue, "\(definition.name)")
            #expect(family.labelSets == [Set(definition.labelNames)], "\(definition.name): \(family.labelSets)")
        }
        // Label values stay bounded words.
        #expect(text.contains(#"payfleet_dead_letters_total{reason="bad_amount",role="worker"} 1"#), "\(text)")
        #expect(text.contains(#"payfleet_dead_letters_total{reason="bad_signature",role="ingress"} 1"#))
        #expect(text.contains(#"payfleet_dead_letters_total{reason="missing_due_at",role="scheduler"} 1"#))
        #expect(!text.contains("T-1"))
    }

    @Test("docs/operations.md lists every metric of the table with its type and labels, and nothing else")
    func documented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs/operations.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        var documented: [String: (kind: String, labels: [String])] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3 else { continue }
            let name = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let labels =
                cells[2] == "—"
                ? []
                : cells[2].split(separator: ",").map {
                    $0.trimmingCharacters(in: CharacterSet(charactersIn: "` "))
                }
            documented[name] = (cells[1], labels)
        }
        #expect(Set(documented.keys) == Set(MetricDefinition.all.map(\.name)))
        for definition in MetricDefinition.all {
            let entry = try #require(documented[definition.name], "\(definition.name) is not in docs/operations.md")
            #expect(entry.kind.hasPrefix(definition.kind.rawValue), "\(definition.name): \(entry.kind)")
            #expect(entry.labels == definition.labelNames, "\(definition.name): \(entry.labels)")
        }
    }

    // MARK: Helpers

    static func rejection(_ result: Result<OrderRequest, RequestRejection>) -> RequestRejection? {
        if case .failure(let rejection) = result { return rejection }
        return nil
    }

    static func scheduler(_ metrics: TestMetrics) -> (SchedulerCore, IngressRecordingPublisher) {
        let publisher = IngressRecordingPublisher()
        let core = SchedulerCore(
            settings: SchedulerSettings(), publisher: publisher, statistics: SchedulerStatistics(),
            instruments: SchedulerInstruments(group: "payfleet-scheduler", factory: metrics), health: HealthState(),
            logger: Logger(label: "test"))
        return (core, publisher)
    }

    struct Family {
        var type = ""
        var labelSets: Set<Set<String>> = []
    }

    /// The families of a Prometheus text exposition: type and the label-name sets of its samples
    /// (histogram `_bucket`/`_sum`/`_count` samples count for their family, without `le`).
    static func families(_ text: String) -> [String: Family] {
        var families: [String: Family] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                families[String(parts[2]), default: Family()].type = String(parts[3])
                continue
            }
            guard !line.hasPrefix("#") else { continue }
            let sample = line.split(separator: " ")[0]
            var name = String(sample.prefix { $0 != "{" })
            if families[name] == nil {
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                    name = String(name.dropLast(suffix.count))
                }
            }
            var labels: Set<String> = []
            if let open = sample.firstIndex(of: "{") {
                let body = sample[sample.index(after: open)..<(sample.lastIndex(of: "}") ?? sample.endIndex)]
                for pair in body.split(separator: ",") {
                    let label = String(pair.prefix { $0 != "=" })
                    if label != "le" { labels.insert(label) }
                }
            }
            families[name, default: Family()].labelSets.insert(labels)
        }
        return families
    }
}
