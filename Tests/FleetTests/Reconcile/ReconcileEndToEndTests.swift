import FleetDev
import Foundation
import Kafka
import Logging
import Payments
import Testing

@testable import Fleet

/// `payfleet reconcile`'s run on the embedded stack: paid demo orders reconcile clean against the
/// sandbox's bills, partial storepos and YunGouOS refunds (requested on `order-requests`) match the
/// bills' refund lines, a `succeeded` event for an order the vendor never saw is `payfleet_only`, a
/// `refund.succeeded` event the vendor never saw is a `payfleet_only` refund, a
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

            // A partial refund of one paid storepos and one paid YunGouOS order (as with kcat).
            var refunded: [ChannelID: (outTradeNo: String, outRefundNo: String)] = [:]
            var refundRequests: [KafkaProducerMessage] = []
            for channel in [ChannelID.storepos, .yungouos] {
                guard let order = orders.first(where: { $0.channel == channel && $0.amountFen > 100 }) else {
                    Issue.record("no \(channel) demo order above 1 yuan")
                    continue
                }
                let outRefundNo = "RC\(channel == .storepos ? "S" : "Y")\(run)"
                refunded[channel] = (order.outTradeNo, outRefundNo)
                let json =
                    #"{"action":"refund","out_trade_no":"\#(order.outTradeNo)","merchant":"demo-\#(channel.rawValue)","channel":"\#(channel.rawValue)","out_refund_no":"\#(outRefundNo)","amount_fen":100}"#
                refundRequests.append(
                    KafkaProducerMessage(topic: FleetTopic.orderRequests, key: order.outTradeNo, value: Data(json.utf8))
                )
            }
            try await withKafkaProducer(configuration: KafkaProducerConfiguration(kafka: stack.kafka), logger: logger) {
                _ = try await $0.sendAll(refundRequests)
            }
            let wanted = Set(refunded.values.map(\.outRefundNo))
            var succeededRefunds: [String: Int64] = [:]
            let refundDeadline = ContinuousClock.now + .seconds(90)
            while Set(succeededRefunds.keys) != wanted, ContinuousClock.now < refundDeadline {
                try await Task.sleep(for: .milliseconds(500))
                let records = try await TopicSnapshot.read(
                    topics: [FleetTopic.paymentEvents], kafka: stack.kafka, logger: logger)
                for record in records[FleetTopic.paymentEvents] ?? [] {
                    guard let event = ReceivedPaymentEvent(headers: record.headers, value: record.value),
                        event.type == PaymentEvent.Kind.refundSucceeded.rawValue,
                        let number = event.data["out_refund_no"]?.stringValue, wanted.contains(number)
                    else { continue }
                    succeededRefunds[number] = event.data["refund_amount_fen"]?.integerValue
                }
            }
            #expect(Set(succeededRefunds.keys) == wanted, "refunds succeeded: \(succeededRefunds)")
            #expect(succeededRefunds.values.allSatisfy { $0 == 100 })

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
                // Every payment, and the partial refund (storepos: the order's return_amount;
                // YunGouOS: its REFUND line by out_refund_no).
                let refunds = refunded[channel] == nil ? 0 : 1
                #expect(report.matched == orders.filter { $0.channel == channel }.count + refunds)
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

            // A refund only PayFleet reports (a refund.succeeded event the vendor never saw) and a
            // YunGouOS refund PayFleet never reported: each is one refund difference.
            if let yun = refunded[.yungouos] {
                let ghostRefund = PaymentEvent(
                    kind: .refundSucceeded, outTradeNo: yun.outTradeNo, discriminator: "GR\(run)", time: Date(),
                    data: [
                        "out_trade_no": .string(yun.outTradeNo), "merchant": .string("demo-yungouos"),
                        "channel": .string("yungouos"), "status": .string("succeeded"),
                        "out_refund_no": .string("GR\(run)"), "refund_amount_fen": .integer(1),
                        "refunded_at": .string(RFC3339.format(Date())),
                    ])
                try await withKafkaProducer(
                    configuration: KafkaProducerConfiguration(kafka: stack.kafka), logger: logger
                ) {
                    _ = try await $0.send(ghostRefund.message())
                }
                let outcome = try await Reconciliation.run(
                    merchant: "demo-yungouos", date: today, directory: directory, kafka: stack.kafka, http: http,
                    logger: logger)
                guard case .reconciled(let report) = outcome else {
                    Issue.record("not reconciled: \(outcome)")
                    throw CancellationError()
                }
                #expect(report.discrepancies.count == 1, "\(report.discrepancies)")
                #expect(report.discrepancies.first?.kind == .payfleetOnly)
                #expect(report.discrepancies.first?.entry == .refund)
                #expect(report.discrepancies.first?.outRefundNo == "GR\(run)")
                #expect(report.discrepancies.first?.payfleetAmountFen == 1)
            }

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
            #expect(results.count == Self.channels.count + 2)
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
