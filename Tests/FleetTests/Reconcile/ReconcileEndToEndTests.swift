import FleetDev
import Foundation
import Kafka
import Logging
import Payments
import Testing

@testable import Fleet

/// `payfleet reconcile`'s run on the embedded stack: paid demo orders reconcile clean against the
/// sandbox's bills, a `succeeded` event for an order the vendor never saw is `payfleet_only`, a
/// channel without a bill cannot be reconciled, and the published result leaves `payfleet check` clean.
@Suite("Reconciliation on the embedded stack", .serialized)
struct ReconcileEndToEndTests {
    static let channels: [ChannelID] = [.storepos, .wechatV2, .yungouos]

    @Test(.timeLimit(.minutes(4)))
    func demoMerchantsReconcile() async throws {
        var logger = Logger(label: "reconcile-e2e")
        logger.logLevel = .warning
        let (stack, group, running) = try await EndToEndTests.startStack(logger: logger)
        let httpClient = VendorHTTP.makeClient()
        let http = VendorHTTP(client: httpClient, timeout: .seconds(10))
        do {
            let client = try DemoClient(kafka: stack.kafka, sandboxURL: stack.sandboxURL, logger: logger)
            let run = EndToEndTests.runID()
            let orders = DemoClient.demoOrders(runID: run).filter { order in
                Self.channels.contains(order.channel) && order.amountFen % 100 != 4
            }
            try await client.submit(orders)
            let terminal = try await client.follow(orders, payPrepared: true, timeout: .seconds(120)) { _, _ in }
            #expect(terminal.values.allSatisfy { $0 == "succeeded" } && terminal.count == orders.count)

            let directory = stack.registry.directory
            let today = BillDate(containing: Date())
            for channel in Self.channels {
                let merchant = "demo-\(channel.rawValue)"
                let outcome = try await Reconciliation.run(
                    merchant: merchant, date: today, directory: directory, kafka: stack.kafka, http: http,
                    logger: logger)
                guard case .reconciled(let report) = outcome else {
                    Issue.record("\(merchant) not reconciled: \(outcome)")
                    continue
                }
                #expect(report.isClean, "\(merchant): \(report.discrepancies)")
                #expect(report.matched == orders.filter { $0.channel == channel }.count)
                #expect(report.summaryLine.hasSuffix("vendor_only=0 payfleet_only=0 amount_mismatch=0"))
            }

            // A succeeded event the vendor never saw (as if written with kcat).
            let ghost = "GHOST\(run)"
            let event = PaymentEvent(
                kind: .succeeded, outTradeNo: ghost, discriminator: "ghost", time: Date(),
                data: [
                    "out_trade_no": .string(ghost), "merchant": .string("demo-storepos"),
                    "channel": .string("storepos"),
                    "amount_fen": .integer(3300), "paid_amount_fen": .integer(3300),
                    "transaction_id": .string("4200ghost"),
                    "paid_at": .string(RFC3339.format(Date())),
                ])
            try await withKafkaProducer(configuration: KafkaProducerConfiguration(kafka: stack.kafka), logger: logger) {
                _ = try await $0.send(event.message())
            }
            let outcome = try await Reconciliation.run(
                merchant: "demo-storepos", date: today, directory: directory, kafka: stack.kafka, http: http,
                logger: logger)
            guard case .reconciled(let report) = outcome else {
                Issue.record("not reconciled: \(outcome)")
                throw CancellationError()
            }
            #expect(report.count(.payfleetOnly) == 1)
            #expect(report.discrepancies.first?.outTradeNo == ghost)
            #expect(report.summaryLine.contains("payfleet_only=1"))

            // 乐收赢 documents no bill; an unknown merchant and a future day cannot be reconciled either.
            for (merchant, date) in [
                ("demo-leshouying", today), ("nobody", today),
                ("demo-storepos", BillDate(containing: Date().addingTimeInterval(3 * 86_400))),
            ] {
                let outcome = try await Reconciliation.run(
                    merchant: merchant, date: date, directory: directory, kafka: stack.kafka, http: http, logger: logger
                )
                guard case .cannotReconcile = outcome else {
                    Issue.record("\(merchant) \(date) reconciled")
                    continue
                }
            }

            // The published results are on the topic and payfleet check ignores them.
            let records = try await TopicSnapshot.read(
                topics: [FleetTopic.paymentEvents, FleetTopic.orderRequests], kafka: stack.kafka, logger: logger)
            let events = (records[FleetTopic.paymentEvents] ?? []).compactMap {
                ReceivedPaymentEvent(headers: $0.headers, value: $0.value)
            }
            let results = events.filter { $0.type == ReconciliationEvent.type }
            #expect(results.count == Self.channels.count + 1)
            // Results live on several partitions: find the storepos run after the ghost event.
            #expect(
                results.contains {
                    $0.subject == ReconciliationEvent.subject(merchant: "demo-storepos", date: today)
                        && $0.data["payfleet_only"] == .integer(1)
                })
            let check = InvariantChecker(requireTerminal: false).check(
                requests: records[FleetTopic.orderRequests] ?? [], events: records[FleetTopic.paymentEvents] ?? [],
                callbacks: [], acknowledged: [], queryJobs: [], partitionCounts: [:])
            #expect(!check.violations.contains { $0.outTradeNo.hasPrefix("reconciliation/") })
            await client.close()
        } catch {
            try? await httpClient.shutdown()
            await EndToEndTests.stop(stack, group, running)
            throw error
        }
        try await httpClient.shutdown()
        await EndToEndTests.stop(stack, group, running)
    }
}
