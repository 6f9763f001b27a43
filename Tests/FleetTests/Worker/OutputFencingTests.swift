import Foundation
import Kafka
import Logging
import MetricsTestKit
import Observability
import Payments
import Synchronization
import Testing

@testable import Fleet

/// No write from a revoked owner: the output sender's fence, its transactions, and a worker whose
/// vendor call outlives the revocation deadline.
@Suite("Output fencing", .serialized)
struct OutputFencingTests {
    static let topic = "fencing-out"

    static func records(_ values: [String]) -> [KafkaProducerMessage] {
        values.map { KafkaProducerMessage(topic: topic, key: "k", value: Data($0.utf8)) }
    }

    static func written(_ cluster: EmbeddedKafkaCluster, logger: Logger) async throws -> [String] {
        try await withKafkaPartitionReader(configuration: cluster.configuration(), logger: logger) { reader in
            var values: [String] = []
            for try await message in reader.readToEnd(topic: topic, partitions: [0]) {
                values.append(String(decoding: message.value ?? Data(), as: UTF8.self))
            }
            return values
        }
    }

    @Test("after fence, an assignment's writes are refused and reach no topic; the next assignment writes")
    func fenceRefusesRevokedWrites() async throws {
        let logger = FleetWorkerEndToEndTests.logger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic(Self.topic, partitions: 1)
        let metrics = TestMetrics()
        let instruments = WorkerInstruments(group: "g", factory: metrics)
        try await withKafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: cluster.configuration()), logger: logger
        ) { producer in
            let sender = OutputSender(producer: producer, mode: .plain, metrics: instruments, logger: logger)
            let first = OutputSender.Scope(partition: 0, epoch: 1)
            let results = try await sender.send(Self.records(["before"]), scope: first)
            #expect(results.allSatisfy { if case .success = $0 { true } else { false } })

            await sender.fence([0: 1])
            await #expect(throws: WriteFenced.self) { try await sender.send(Self.records(["late"]), scope: first) }
            // Another partition and a later assignment of the same one are not fenced.
            _ = try await sender.send(Self.records(["other"]), scope: .init(partition: 1, epoch: 1))
            _ = try await sender.send(Self.records(["after"]), scope: .init(partition: 0, epoch: 2))
        }
        #expect(try await Self.written(cluster, logger: logger) == ["before", "other", "after"])
        #expect(try metrics.expectCounter(MetricName.workerFencedWrites).totalValue == 1)
    }

    @Test("a group of writes is one transaction that carries the input offsets; a refused offset commit aborts it")
    func transactionsCarryOffsetsAndAbortOnAStaleGeneration() async throws {
        let logger = FleetWorkerEndToEndTests.logger()
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic(Self.topic, partitions: 1)
        try cluster.createTopic("fencing-in", partitions: 1)
        let metrics = TestMetrics()
        let instruments = WorkerInstruments(group: "g", factory: metrics)
        let offsetRequests = Atomic<Int>(0)
        let configuration = KafkaConsumerConfiguration(
            kafka: cluster.configuration(properties: FleetWorkerEndToEndTests.fastGroup),
            groupID: "fencing-\(UUID().uuidString)")
        try await withKafkaConsumer(configuration: configuration, logger: logger) { consumer in
            try consumer.subscribe(topics: ["fencing-in"])
            let producerConfiguration = KafkaProducerConfiguration(
                kafka: cluster.configuration(), transactionalID: "fencing-\(UUID().uuidString)")
            try await withKafkaProducer(configuration: producerConfiguration, logger: logger) { producer in
                try await producer.initTransactions()
                let sender = OutputSender(
                    producer: producer,
                    mode: .transactional(
                        groupMetadata: { try consumer.groupMetadata() },
                        offsets: { _ in
                            offsetRequests.add(1, ordering: .relaxed)
                            return [KafkaTopicPartitionOffset(topic: "fencing-in", partition: 0, offset: 0)]
                        }),
                    metrics: instruments, logger: logger)
                let writer = OutputWriter(sender: sender, metrics: instruments)
                let scope = OutputSender.Scope(partition: 0, epoch: 1)

                try await OutputSender.$scope.withValue(scope) {
                    try await writer.forward(Self.records(["a", "b"]), logger: logger)
                }
                #expect(
                    try metrics.expectCounter(MetricName.workerTransactions, [("outcome", "committed")]).totalValue == 1
                )
                #expect(offsetRequests.load(ordering: .relaxed) == 1)

                // What a group coordinator answers a member of an older generation: the transaction
                // is aborted and the writer writes its records again in the next one.
                try cluster.pushRequestErrors(
                    apiKey: KafkaAPIKey.txnOffsetCommit, errors: [KafkaErrorCodes.illegalGeneration])
                try await OutputSender.$scope.withValue(scope) {
                    try await writer.forward(Self.records(["c"]), logger: logger)
                }
                #expect(
                    try metrics.expectCounter(MetricName.workerTransactions, [("outcome", "aborted")]).totalValue == 1)
                #expect(
                    try metrics.expectCounter(MetricName.workerTransactions, [("outcome", "committed")]).totalValue == 2
                )
            }
        }
        // (The 2.0.2 embedded broker writes no transaction markers, so its readers also see the
        // aborted copy of "c"; a real broker's read_committed readers see "a", "b", "c".)
        let written = try await Self.written(cluster, logger: logger)
        #expect(Array(written.prefix(2)) == ["a", "b"])
        #expect(written.last == "c")
    }

    @Test(
        "a vendor call that outlives the revocation deadline cannot write after the partition moved on",
        .timeLimit(.minutes(3)))
    func lateWriteOfRevokedWorkIsFenced() async throws {
        let stack = try await EndToEndStack(partitions: 1, autopay: nil, logger: FleetWorkerEndToEndTests.logger())
        let logger = stack.logger
        let late = "LATE\(Int.random(in: 100_000...999_999))"
        let warm = "WARM\(Int.random(in: 100_000...999_999))"
        let alias = try #require(EndToEndStack.demoAliases[.wechatV2])
        let gated = GatedChannel(base: try #require(stack.registry.channel(for: alias)), held: late)
        let merchants = stack.registry.merchants.compactMap { $0 == alias ? nil : stack.registry.channel(for: $0) }
        let registry = ChannelRegistry(directory: stack.registry.directory, channels: merchants + [gated])

        var settings = stack.workerSettings(group: "fencing-\(UUID().uuidString)")
        settings.shutdownTimeout = .seconds(1)
        let firstMetrics = TestMetrics()
        let first = FleetWorker(settings: settings, channels: registry, logger: logger, metrics: firstMetrics)
        let firstTask = Task { try await first.run() }

        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: stack.cluster.configuration()), logger: logger)
        // The first worker owns the partition once it prepared an order.
        try await upstream.send(EndToEndStack.create(.wechatV2, outTradeNo: warm, amount: 1100))
        _ = try await FleetWorkerEndToEndTests.collectEvents(stack.cluster, logger: logger, timeout: .seconds(60)) {
            $0.contains { $0.subject == warm && $0.type == PaymentEvent.Kind.prepared.rawValue }
        }
        try await upstream.send(EndToEndStack.create(.wechatV2, outTradeNo: late, amount: 1200))
        #expect(try await eventuallyTrue { gated.entered >= 1 })

        // A second member joins: the first revokes, its vendor call outlives the 1 s deadline, and
        // the partition's next owner (either member) processes the order again.
        let secondMetrics = TestMetrics()
        let second = FleetWorker(settings: settings, channels: registry, logger: logger, metrics: secondMetrics)
        let secondTask = Task { try await second.run() }
        _ = try await FleetWorkerEndToEndTests.collectEvents(
            stack.cluster, logger: logger, timeout: .seconds(90)
        ) {
            $0.contains { $0.subject == late && $0.type == PaymentEvent.Kind.prepared.rawValue }
        }
        // Now the abandoned call answers: its write must be refused.
        gated.open()
        #expect(
            try await eventuallyTrue {
                (firstMetrics.counters(label: MetricName.workerFencedWrites).first?.totalValue ?? 0) >= 1
            })
        try await Task.sleep(for: .seconds(1))
        let after = try await withKafkaPartitionReader(configuration: stack.cluster.configuration(), logger: logger) {
            reader in
            var events: [ReceivedPaymentEvent] = []
            for try await message in reader.readToEnd(topic: FleetTopic.paymentEvents, partitions: [0]) {
                if let event = ReceivedPaymentEvent(headers: message.headers, value: message.value) {
                    events.append(event)
                }
            }
            return events
        }
        let mine = after.filter { $0.subject == late }
        #expect(mine.filter { $0.type == PaymentEvent.Kind.prepared.rawValue }.count == 1, "\(mine.map(\.type))")
        #expect(!mine.contains { $0.data["code_url"]?.stringValue == GatedChannel.lateCodeURL })

        first.triggerGracefulShutdown()
        second.triggerGracefulShutdown()
        _ = try? await firstTask.value
        _ = try? await secondTask.value
        await upstream.close(timeout: .seconds(5))
        await stack.stop()
    }

    private func eventuallyTrue(
        timeout: Duration = .seconds(60), _ condition: @Sendable () async throws -> Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }
}

/// A channel whose first create of one order waits for the test, deaf to cancellation, then answers
/// a vendor answer of its own: a vendor call that outlives the revocation deadline. Everything
/// else goes to the real channel.
final class GatedChannel: PaymentChannel, Sendable {
    static let lateCodeURL = "weixin://wxpay/bizpayurl?pr=late-answer"

    private struct Gate {
        var entered = 0
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let base: any PaymentChannel
    private let held: String
    private let gate = Mutex(Gate())

    init(base: any PaymentChannel, held: String) {
        self.base = base
        self.held = held
    }

    var channel: ChannelID { base.channel }
    var merchant: String { base.merchant }
    var policy: ChannelPolicy { base.policy }
    var acknowledgement: CallbackAcknowledgement { base.acknowledgement }
    var entered: Int { gate.withLock { $0.entered } }

    func open() {
        let waiters = gate.withLock { gate -> [CheckedContinuation<Void, Never>] in
            gate.open = true
            defer { gate.waiters = [] }
            return gate.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func validate(_ order: PaymentOrder) throws(ChannelError) { try base.validate(order) }

    func create(_ order: PaymentOrder) async throws(ChannelError) -> CreateOutcome {
        guard order.outTradeNo == held else { return try await base.create(order) }
        let first = gate.withLock { gate -> Bool in
            gate.entered += 1
            return gate.entered == 1
        }
        guard first else { return try await base.create(order) }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = gate.withLock { gate -> Bool in
                if gate.open { return true }
                gate.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
        return .prepared(Prepared(codeURL: Self.lateCodeURL))
    }

    func query(_ order: OrderReference) async throws(ChannelError) -> TradeStatus { try await base.query(order) }
    func close(_ order: OrderReference) async throws(ChannelError) -> CloseOutcome { try await base.close(order) }
    func verifyCallback(_ callback: RawCallback) async throws(CallbackError) -> VerifiedCallback {
        try await base.verifyCallback(callback)
    }
    func callbackOrderKey(_ callback: RawCallback) throws(CallbackError) -> String {
        try base.callbackOrderKey(callback)
    }
}
