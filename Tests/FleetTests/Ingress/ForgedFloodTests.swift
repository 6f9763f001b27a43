import AsyncHTTPClient
import Foundation
import Kafka
import NIOCore
import Payments
import StorePOS
import Testing

@testable import Fleet

/// A flood of forged callbacks at the real `payfleet ingress` process, next to genuine orders
/// going through the fleet (broker, sandbox, ingress and worker as separate processes).
@Suite("A forged callback flood is absorbed by the ingress", .serialized, .timeLimit(.minutes(5)))
struct ForgedFloodTests {
    static let forgedCount = 1_000

    /// A storepos paid callback for a random order, signed with a key that is not the merchant's.
    static func forgedStorePOSCallback() -> (outTradeNo: String, body: [UInt8]) {
        let outTradeNo = "FORGED" + String(UInt64.random(in: 1...UInt64.max))
        var fields = [
            "state": "SUCCESS", "result_code": "SUCCESS", "pay_result": "0", "mch_id": "00000001",
            "out_trade_no": outTradeNo, "transaction_id": "X" + String(UInt64.random(in: 1...UInt64.max)),
            "total_fee": "1200", "fee_type": "CNY", "time_end": "20261201120000", "trade_type": "pay.weixin.native",
            "nonce_str": UUID().uuidString,
        ]
        fields["sign"] = StorePOSSigning.sign(fields, key: Secret("not-the-merchant-key-" + UUID().uuidString))
        return (
            outTradeNo, Array(FormEncoding.encode(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).utf8)
        )
    }

    static func post(_ body: [UInt8], to url: String) async -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(bytes: body))
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)),
            let text = try? await response.body.collect(upTo: 1 << 16)
        else { return (0, "") }
        return (response.status.code, String(buffer: text))
    }

    @Test(
        """
        1,000 forged storepos callbacks: 0 success answers, 0 records in payfleet.callbacks, 0 events, at most the \
        sample in dead-letters; genuine orders keep succeeding during and after the flood; the public port answers \
        nothing but /notify
        """)
    func flood() async throws {
        let fleet = try await ProcessFleet(name: "flood", autopayMilliseconds: 200)
        defer { fleet.stop() }
        _ = try await fleet.startWorker("worker-flood")
        let logger = fleet.logger
        let collector = try EventCollector(kafka: fleet.kafka, logger: logger)
        let collecting = Task { try await collector.run() }
        defer { collecting.cancel() }
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: fleet.kafka), logger: logger)

        let run = String(UInt32.random(in: 0..<UInt32.max), radix: 36).uppercased()
        let during = ProcessFleet.orders(prefix: "FD\(run)", count: 8) { _, _ in 0 }
        let after = ProcessFleet.orders(prefix: "FA\(run)", count: 8) { _, _ in 0 }
        try await fleet.submit(during, producer: producer)

        let notify = "\(fleet.callbackBaseURL)/notify/storepos/demo-storepos"
        let forged = (0..<Self.forgedCount).map { _ in Self.forgedStorePOSCallback() }
        let answers = await withTaskGroup(of: (UInt, String).self) { group in
            var answers: [(UInt, String)] = []
            var next = 0
            while next < min(50, forged.count) {
                let body = forged[next].body
                group.addTask { await Self.post(body, to: notify) }
                next += 1
            }
            for await answer in group {
                answers.append(answer)
                if next < forged.count {
                    let body = forged[next].body
                    group.addTask { await Self.post(body, to: notify) }
                    next += 1
                }
            }
            return answers
        }
        #expect(answers.count == Self.forgedCount)
        #expect(answers.filter { $0.1 == "success" }.isEmpty, "no forged callback is acknowledged")
        #expect(
            answers.allSatisfy { $0.0 == 500 && $0.1 == "fail" }, "every forged callback gets storepos' failure answer")

        try await fleet.submit(after, producer: producer)
        let genuine = Set((during + after).map(\.outTradeNo))
        try await collector.waitUntil(timeout: .seconds(120)) { events in
            Set(events.filter { $0.type == PaymentEvent.Kind.succeeded.rawValue }.map(\.subject)).isSuperset(
                of: genuine)
        }
        await producer.close(timeout: .seconds(5))

        // The public port serves callbacks only; probes and metrics are on the internal port.
        for path in ["/metrics", "/readyz", "/livez", "/notify/storepos"] {
            #expect(
                await FleetProcess.httpStatus("\(fleet.callbackBaseURL)\(path)", timeout: .seconds(2)) == 404, "\(path)"
            )
        }
        #expect(
            await FleetProcess.httpStatus(
                "\(fleet.callbackBaseURL)/notify/storepos/demo-storepos", timeout: .seconds(2)) == 404, "GET /notify")
        #expect(await FleetProcess.httpStatus("\(fleet.ingressHTTPURL)/readyz", timeout: .seconds(2)) == 200)

        let records = try await TopicSnapshot.read(
            topics: [FleetTopic.callbacks, FleetTopic.paymentEvents, "payfleet.dead-letters"], kafka: fleet.kafka,
            logger: logger)
        let forgedKeys = Set(forged.map(\.outTradeNo))
        let callbackKeys = (records[FleetTopic.callbacks] ?? []).compactMap(\.keyString)
        #expect(
            callbackKeys.filter { forgedKeys.contains($0) }.isEmpty, "no forged callback reaches payfleet.callbacks")
        #expect(Set(callbackKeys).isSuperset(of: genuine))
        let events = collector.snapshot()
        #expect(events.filter { forgedKeys.contains($0.subject) }.isEmpty, "no event for a forged callback")
        #expect(
            !events.contains { $0.type == PaymentEvent.Kind.anomaly.rawValue },
            "no anomaly: forged callbacks never reach the worker")
        for order in during + after {
            #expect(
                events.filter { $0.subject == order.outTradeNo && $0.type == PaymentEvent.Kind.succeeded.rawValue }
                    .count == 1, "\(order.outTradeNo)")
        }
        let samples = (records["payfleet.dead-letters"] ?? []).filter {
            $0.headers.string(DeadLetter.roleHeader) == "ingress"
                && $0.headers.string(CallbackRecord.merchantHeader) == "demo-storepos"
        }
        // 10 per merchant and minute; the flood and the checks above fit in two minutes.
        #expect(!samples.isEmpty && samples.count <= 20, "\(samples.count) samples")
        #expect(samples.allSatisfy { $0.headers.string(DeadLetter.reasonHeader) == "bad_signature" })

        let metrics = try await Self.get("\(fleet.ingressHTTPURL)/metrics")
        let rejected = metrics.split(separator: "\n").first {
            $0.hasPrefix("payfleet_ingress_callbacks_total{") && $0.contains(#"outcome="rejected""#)
                && $0.contains(#"reason="bad_signature""#)
                && $0.contains(#"channel="storepos""#)
        }
        let counted: Double? = rejected.flatMap { line in line.split(separator: " ").last.flatMap { Double(String($0)) }
        }
        let line = rejected.map(String.init) ?? "no rejected counter"
        #expect(counted == Double(Self.forgedCount), "\(line)")
    }

    static func get(_ url: String) async throws -> String {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        return String(buffer: try await response.body.collect(upTo: 1 << 22))
    }
}
