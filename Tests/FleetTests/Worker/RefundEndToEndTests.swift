import Foundation
import Kafka
import Logging
import Payments
import Testing

@testable import Fleet

/// Refunds through the worker, the embedded broker, the real sandbox, ingress and scheduler: storepos
/// (two partial refunds adding up to the payment, one beyond it), YunGouOS (asynchronous, finished by
/// its refund callback through the ingress or by a query), and 乐收赢 (no refund API to cite:
/// `refund_unsupported`).
@Suite("Refunds end to end", .serialized)
struct RefundEndToEndTests {
    static func refund(
        _ channel: ChannelID, outTradeNo: String, outRefundNo: String, fen: Int64
    ) -> KafkaProducerMessage {
        let merchant = EndToEndStack.demoAliases[channel] ?? "demo-\(channel.rawValue)"
        let json =
            #"{"action":"refund","out_trade_no":"\#(outTradeNo)","merchant":"\#(merchant)","channel":"\#(channel.rawValue)","out_refund_no":"\#(outRefundNo)","amount_fen":\#(fen)}"#
        return KafkaProducerMessage(topic: FleetTopic.orderRequests, key: outTradeNo, value: Data(json.utf8))
    }

    static func refundEvents(_ events: [ReceivedPaymentEvent], _ type: PaymentEvent.Kind) -> [String: Int] {
        var counts: [String: Set<String>] = [:]
        for event in events where event.type == type.rawValue {
            counts[event.data["out_refund_no"]?.stringValue ?? "", default: []].insert(event.id)
        }
        return counts.mapValues(\.count)
    }

    @Test("storepos partial refunds, a refund beyond the payment, YunGouOS and 乐收赢 refunds", .timeLimit(.minutes(4)))
    func refunds() async throws {
        let stack = try await EndToEndStack(
            partitions: 2, autopay: .milliseconds(300), scheduler: true, logger: FleetWorkerEndToEndTests.logger())
        let logger = stack.logger
        let worker = FleetWorker(settings: stack.workerSettings(), channels: stack.registry, logger: logger)
        let workerTask = Task { try await worker.run() }
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: stack.cluster.configuration()), logger: logger)
        let run = Int.random(in: 100_000...999_999)
        let store = "RFS\(run)"
        let yun = "RFY\(run)"
        let le = "RFL\(run)"
        try await upstream.sendAll([
            EndToEndStack.create(.storepos, outTradeNo: store, amount: 990),
            EndToEndStack.create(.yungouos, outTradeNo: yun, amount: 500),
            EndToEndStack.create(.leshouying, outTradeNo: le, amount: 300),
        ])
        _ = try await FleetWorkerEndToEndTests.collectEvents(stack.cluster, logger: logger, timeout: .seconds(90)) {
            Set($0.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject)).isSuperset(of: [
                store, yun, le,
            ])
        }
        try await upstream.sendAll([
            Self.refund(.storepos, outTradeNo: store, outRefundNo: "S1-\(run)", fen: 500),
            Self.refund(.storepos, outTradeNo: store, outRefundNo: "S2-\(run)", fen: 490),
            Self.refund(.storepos, outTradeNo: store, outRefundNo: "S3-\(run)", fen: 1),
            Self.refund(.storepos, outTradeNo: store, outRefundNo: "S1-\(run)", fen: 500),  // identical repeat
            Self.refund(.storepos, outTradeNo: store, outRefundNo: "S2-\(run)", fen: 491),  // conflict
            Self.refund(.yungouos, outTradeNo: yun, outRefundNo: "Y1-\(run)", fen: 200),
            Self.refund(.yungouos, outTradeNo: yun, outRefundNo: "Y2-\(run)", fen: 299),  // needs a query
            Self.refund(.leshouying, outTradeNo: le, outRefundNo: "L1-\(run)", fen: 100),
        ])
        let expected: Set<String> = ["S1-\(run)", "S2-\(run)", "Y1-\(run)", "Y2-\(run)"]
        let events = try await FleetWorkerEndToEndTests.collectEvents(
            stack.cluster, logger: logger, timeout: .seconds(120)
        ) { events in
            Set(Self.refundEvents(events, .refundSucceeded).keys).isSuperset(of: expected)
                && events.filter { $0.type == PaymentEvent.Kind.rejected.rawValue }.count >= 3
        }
        let succeeded = Self.refundEvents(events, .refundSucceeded)
        for number in expected { #expect(succeeded[number] == 1, "\(number): \(succeeded)") }
        #expect(Self.refundEvents(events, .refundFailed).isEmpty)
        let rejections = events.filter { $0.type == PaymentEvent.Kind.rejected.rawValue }.compactMap {
            $0.data["reason"]?.stringValue
        }
        #expect(Set(rejections) == ["refund_exceeds_paid", "refund_conflict", "refund_unsupported"], "\(rejections)")
        // The payments stayed succeeded: one succeeded event per order.
        for order in [store, yun, le] {
            #expect(events.filter { $0.subject == order && $0.type == PaymentEvent.Kind.succeeded.rawValue }.count == 1)
        }
        // The checker agrees: one terminal per out_refund_no, refunded ≤ paid.
        let records = try await TopicSnapshot.read(
            topics: [FleetTopic.orderRequests, FleetTopic.paymentEvents, FleetTopic.callbacks],
            kafka: stack.cluster.configuration(), logger: logger)
        let report = InvariantChecker(requireTerminal: true, only: [store, yun, le]).check(
            requests: records[FleetTopic.orderRequests] ?? [], events: records[FleetTopic.paymentEvents] ?? [],
            callbacks: records[FleetTopic.callbacks] ?? [])
        #expect(report.violations.isEmpty, "\(report.violations)")
        #expect(report.refundTerminalCounts["refund_succeeded"] == 4)

        worker.triggerGracefulShutdown()
        try await workerTask.value
        await upstream.close(timeout: .seconds(5))
        await stack.stop()
    }
}
