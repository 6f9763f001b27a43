import Foundation
import Kafka
import Logging
import Payments
import Testing

@testable import Fleet

/// Refunds through the worker, the embedded broker, the real sandbox, ingress and scheduler: storepos
/// (two partial refunds adding up to the payment, one beyond it), YunGouOS (asynchronous, finished by
/// its refund callback through the ingress or by a query), and 乐收赢 (no refund API to cite:
/// `refund_unsupported`); WeChat v2 (a partial refund over mutual TLS with the demo merchant's API
/// client certificate, finished by its encrypted refund notification) and WeChat v3 combine (a refund
/// of one sub-order, finished by its `REFUND.SUCCESS` notification).
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

    /// A wechat-v3-combine refund of the named sub-orders (`options.sub_orders`).
    static func combineRefund(
        outTradeNo: String, outRefundNo: String, subOrders: [(outTradeNo: String, fen: Int64)]
    ) -> KafkaProducerMessage {
        let merchant = EndToEndStack.demoAliases[.wechatV3Combine] ?? "demo-wechat-v3-combine"
        let parts = subOrders.map { #"{"out_trade_no":"\#($0.outTradeNo)","amount_fen":\#($0.fen)}"# }
        let total = subOrders.reduce(0) { $0 + $1.fen }
        let json =
            #"{"action":"refund","out_trade_no":"\#(outTradeNo)","merchant":"\#(merchant)","channel":"wechat-v3-combine","out_refund_no":"\#(outRefundNo)","amount_fen":\#(total),"options":{"sub_orders":[\#(parts.joined(separator: ","))]}}"#
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

    @Test("WeChat v2 partial refund and a refund of one WeChat v3 combine sub-order", .timeLimit(.minutes(4)))
    func wechatRefunds() async throws {
        let stack = try await EndToEndStack(
            partitions: 2, autopay: .milliseconds(300), scheduler: true, logger: FleetWorkerEndToEndTests.logger())
        let logger = stack.logger
        let worker = FleetWorker(settings: stack.workerSettings(), channels: stack.registry, logger: logger)
        let workerTask = Task { try await worker.run() }
        let upstream = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: stack.cluster.configuration()), logger: logger)
        let run = Int.random(in: 100_000...999_999)
        let v2 = "RFW\(run)"
        let combine = "RFC\(run)"
        try await upstream.sendAll([
            EndToEndStack.create(.wechatV2, outTradeNo: v2, amount: 1000),
            // The demo splits a combine order in two sub-orders: <out_trade_no>A 1250, <out_trade_no>B 1250.
            EndToEndStack.create(.wechatV3Combine, outTradeNo: combine, amount: 2500),
        ])
        _ = try await FleetWorkerEndToEndTests.collectEvents(stack.cluster, logger: logger, timeout: .seconds(90)) {
            Set($0.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject)).isSuperset(of: [
                v2, combine,
            ])
        }
        try await upstream.sendAll([
            Self.refund(.wechatV2, outTradeNo: v2, outRefundNo: "W1-\(run)", fen: 300),
            Self.refund(.wechatV2, outTradeNo: v2, outRefundNo: "W2-\(run)", fen: 800),  // 1100 > 1000 paid
            Self.combineRefund(
                outTradeNo: combine, outRefundNo: "C1-\(run)", subOrders: [(combine + "A", 1250)]),
        ])
        let expected: Set<String> = ["W1-\(run)", "C1-\(run)"]
        let events = try await FleetWorkerEndToEndTests.collectEvents(
            stack.cluster, logger: logger, timeout: .seconds(150)
        ) { events in
            Set(Self.refundEvents(events, .refundSucceeded).keys).isSuperset(of: expected)
                && events.contains { $0.type == PaymentEvent.Kind.rejected.rawValue }
        }
        let succeeded = Self.refundEvents(events, .refundSucceeded)
        for number in expected { #expect(succeeded[number] == 1, "\(number): \(succeeded)") }
        #expect(succeeded["W2-\(run)"] == nil)
        #expect(Self.refundEvents(events, .refundFailed).isEmpty)
        let rejections = events.filter { $0.type == PaymentEvent.Kind.rejected.rawValue }.compactMap {
            $0.data["reason"]?.stringValue
        }
        #expect(rejections == ["refund_exceeds_paid"], "\(rejections)")
        // The combine refund names the sub-order it refunded.
        let combineRefund = events.first {
            $0.type == PaymentEvent.Kind.refundSucceeded.rawValue
                && $0.data["out_refund_no"]?.stringValue == "C1-\(run)"
        }
        #expect(combineRefund?.subject == combine)
        #expect(combineRefund?.data["refunded_amount_fen"]?.integerValue == 1250)
        #expect(
            combineRefund?.data["sub_refunds"]
                == .array([.object(["out_trade_no": .string(combine + "A"), "amount_fen": .integer(1250)])]))
        let v2Refund = events.first {
            $0.type == PaymentEvent.Kind.refundSucceeded.rawValue
                && $0.data["out_refund_no"]?.stringValue == "W1-\(run)"
        }
        #expect(v2Refund?.data["refunded_amount_fen"]?.integerValue == 300)
        #expect(v2Refund?.data["vendor_refund_ids"]?.arrayValue?.isEmpty == false)
        let records = try await TopicSnapshot.read(
            topics: [FleetTopic.orderRequests, FleetTopic.paymentEvents, FleetTopic.callbacks],
            kafka: stack.cluster.configuration(), logger: logger)
        let report = InvariantChecker(requireTerminal: true, only: [v2, combine]).check(
            requests: records[FleetTopic.orderRequests] ?? [], events: records[FleetTopic.paymentEvents] ?? [],
            callbacks: records[FleetTopic.callbacks] ?? [])
        #expect(report.violations.isEmpty, "\(report.violations)")
        #expect(report.refundTerminalCounts["refund_succeeded"] == 2)

        worker.triggerGracefulShutdown()
        try await workerTask.value
        await upstream.close(timeout: .seconds(5))
        await stack.stop()
    }
}
