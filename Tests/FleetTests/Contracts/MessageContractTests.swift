import Foundation
import Kafka
import Payments
import Testing

@testable import Fleet

@Suite("Message contracts: events, timers, dead letters, callbacks, order state")
struct MessageContractTests {
    @Test("ce_id is the SHA-256 of out_trade_no|type|discriminator, stable and distinct")
    func eventID() {
        let event = PaymentEvent(kind: .prepared, outTradeNo: "order-1", discriminator: "d1", time: Date(), data: [:])
        #expect(event.id == "f4fa29b8812d35a0559c50923797efe3b8929068c142b707b4c44380b6ce0f7d")
        let later = PaymentEvent(
            kind: .prepared, outTradeNo: "order-1", discriminator: "d1", time: Date() + 99, data: ["x": .integer(1)])
        #expect(later.id == event.id)
        #expect(PaymentEvent.id(outTradeNo: "order-1", kind: .pending, discriminator: "d1") != event.id)
        #expect(PaymentEvent.id(outTradeNo: "order-2", kind: .prepared, discriminator: "d1") != event.id)
    }

    @Test("CloudEvents binary mode: ce_* headers, JSON value, key = out_trade_no")
    func cloudEventHeaders() throws {
        let time = Date(timeIntervalSince1970: 1_795_314_600.125)
        let event = PaymentEvent(
            kind: .succeeded, outTradeNo: "order-1", discriminator: "4200001", time: time,
            data: ["out_trade_no": .string("order-1"), "amount_fen": .integer(100)])
        let message = event.message()
        #expect(message.topic == "payfleet.payment-events")
        #expect(message.key == Data("order-1".utf8))
        let headers = message.headers
        #expect(headers.string("ce_id") == event.id)
        #expect(headers.string("ce_source") == "/payfleet/worker")
        #expect(headers.string("ce_type") == "payfleet.payment.succeeded")
        #expect(headers.string("ce_specversion") == "1.0")
        #expect(headers.string("ce_time") == "2026-11-22T02:30:00.125Z")
        #expect(headers.string("ce_subject") == "order-1")
        #expect(headers.string("content-type") == "application/json")
        #expect(headers.string("ce_dataschema") != nil)
        #expect(
            String(decoding: try #require(message.value), as: UTF8.self)
                == #"{"amount_fen":100,"out_trade_no":"order-1"}"#)
        let read = try #require(ReceivedPaymentEvent(headers: headers, value: message.value))
        #expect(read.id == event.id && read.type == event.kind.rawValue && read.subject == "order-1")
        #expect(read.data["amount_fen"] == .integer(100))
        #expect(ReceivedPaymentEvent(headers: [], value: message.value) == nil)
    }

    @Test("timer jobs: the documented JSON, the due-at header, and a round trip")
    func timerJob() throws {
        let due = Date(timeIntervalSince1970: 1_795_314_600.5)
        let job = TimerJob(
            job: .query, outTradeNo: "order-1", merchant: "shop", channel: "storepos", dueAt: due, reason: .pending,
            attempt: 3)
        let message = job.message(now: due - 45)
        #expect(message.topic == "payfleet.delay.30s")
        #expect(message.headers.string("payfleet-due-at-ms") == "1795314600500")
        let object = try JSONDecoder().decode(JSONValue.self, from: try #require(message.value))
        #expect(object["due_at"] == .string("2026-11-22T02:30:00.500Z"))
        #expect(object["job"] == .string("query"))
        #expect(object["reason"] == .string("pending"))
        #expect(object["attempt"] == .integer(3))
        #expect(object["out_trade_no"] == .string("order-1"))
        #expect(object["timer_id"]?.stringValue?.isEmpty == false)
        #expect(try TimerJob.decode(message.value) == job)
        #expect(TimerJob.dueAtMilliseconds(headers: message.headers) == 1_795_314_600_500)
    }

    @Test(
        "the delay tier is the largest not longer than the remaining time, 5 s for anything shorter",
        arguments: [
            (0.0, "5s"), (-10, "5s"), (4.9, "5s"), (5, "5s"), (29, "5s"), (30, "30s"), (299, "30s"), (300, "5m"),
            (1800, "30m"), (14_399, "30m"), (14_400, "4h"), (900_000, "4h"),
        ])
    func tiers(seconds: Double, tier: String) {
        #expect(DelayTier.forRemaining(.milliseconds(Int64(seconds * 1000))).name == tier)
        #expect(DelayTier.forTopic("payfleet.delay.\(tier)")?.name == tier)
    }

    @Test(
        "a broken timer job is rejected with a reason",
        arguments: [
            "{}",
            #"{"job":"query","out_trade_no":"o","merchant":"m","channel":"c","due_at":"later","reason":"pending","attempt":1,"timer_id":"t"}"#,
            #"{"job":"refund","out_trade_no":"o","merchant":"m","channel":"c","due_at":"2026-11-22T02:30:00.500Z","reason":"pending","attempt":1,"timer_id":"t"}"#,
        ])
    func brokenJob(json: String) {
        #expect(throws: RequestRejection.self) { try TimerJob.decode(Data(json.utf8)) }
        #expect(throws: RequestRejection.self) { try TimerJob.decode(nil) }
    }

    @Test("dead letters keep the original bytes and key and carry the reason headers")
    func deadLetter() throws {
        let input = KafkaConsumerMessage(
            topic: "payfleet.order-requests", partition: 3, offset: 42, key: Data("order-1".utf8),
            value: Data("{bad".utf8),
            headers: [KafkaHeader(key: "trace", string: "t-1")])
        let letter = DeadLetter(
            reason: .malformedJSON, detail: "the value is not valid JSON (4 bytes)", message: input, role: "worker")
        let message = letter.message()
        #expect(message.topic == "payfleet.dead-letters")
        #expect(message.key == input.key)
        #expect(message.value == input.value)
        let headers = message.headers
        #expect(headers.string("payfleet-dlq-reason") == "malformed_json")
        #expect(headers.string("payfleet-dlq-detail") == "the value is not valid JSON (4 bytes)")
        #expect(headers.string("payfleet-dlq-source-topic") == "payfleet.order-requests")
        #expect(headers.string("payfleet-dlq-source-partition") == "3")
        #expect(headers.string("payfleet-dlq-source-offset") == "42")
        #expect(headers.string("payfleet-dlq-role") == "worker")
        #expect(headers.string("trace") == "t-1")

        let tombstone = DeadLetter(
            reason: .nullValue, detail: "no value",
            message: KafkaConsumerMessage(
                topic: "payfleet.callbacks", partition: 0, offset: 1, key: nil, value: nil), role: "worker"
        ).message()
        let described = try JSONDecoder().decode([String: String].self, from: try #require(tombstone.value))
        #expect(described["reason"] == "null_value")
        #expect(described["original_value"] == "null")
    }

    @Test("callback records round-trip body bytes, headers and arrival time")
    func callbackRecord() throws {
        let raw = RawCallback(
            body: Array("<xml><return_code>SUCCESS</return_code></xml>".utf8),
            headers: ["Content-Type": "text/xml", "Wechatpay-Serial": "ABC"],
            receivedAt: Date(timeIntervalSince1970: 1_795_314_600.25))
        let record = CallbackRecord(channel: "wechat-v2", merchant: "shop", outTradeNo: "order-1", raw: raw)
        let message = record.message()
        #expect(message.topic == "payfleet.callbacks")
        let decoded = try CallbackRecord.decode(key: "order-1", value: message.value, headers: message.headers)
        #expect(decoded == record)
        #expect(decoded.raw.header("wechatpay-serial") == "ABC")
        #expect(throws: RequestRejection.self) {
            try CallbackRecord.decode(key: "order-1", value: nil, headers: message.headers)
        }
        #expect(throws: RequestRejection.self) {
            try CallbackRecord.decode(key: "order-1", value: message.value, headers: [])
        }
        #expect(throws: RequestRejection.self) {
            try CallbackRecord.decode(key: nil, value: message.value, headers: message.headers)
        }
    }

    @Test("order state records round-trip, including pay parameters with camel-case names")
    func orderStateRoundTrip() throws {
        var state = OrderState(
            outTradeNo: "order-1", merchant: "shop", channel: .leshouying, amount: Money(fen: 1), description: "d",
            attach: "x", options: ["openid": .string("o-1")], createdAt: Date(timeIntervalSince1970: 1_795_314_600),
            expiresAt: Date(timeIntervalSince1970: 1_795_321_800), requestDigest: "dd")
        state.status = .prepared
        state.prepared = .init(payParameters: [
            "appId": "wx1", "timeStamp": "1", "nonceStr": "n", "package": "prepay_id=1", "paySign": "s",
        ])
        state.memo = ["trade_no": "T1"]
        state.revision = 3
        let data = state.encoded()
        #expect(String(decoding: data, as: UTF8.self).contains(#""timeStamp":"1""#))
        #expect(try OrderState.decode(data) == state)
        #expect(throws: OrderStateDecodingError.self) { try OrderState.decode(Data("{}".utf8)) }
    }
}
