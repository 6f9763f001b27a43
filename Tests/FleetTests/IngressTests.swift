import Foundation
import Kafka
import Logging
import Payments
import Testing

@testable import Fleet

@Suite("Callback ingress routing and acknowledgement")
struct IngressTests {
    let channels: [String: any PaymentChannel] = [
        "shop-a": IngressFakeChannel(channel: .storepos, merchant: "shop-a"),
        "shop-b": IngressFakeChannel(channel: .yungouos, merchant: "shop-b"),
    ]

    func ingress(_ publisher: IngressRecordingPublisher, timeout: Duration = .seconds(2)) -> CallbackIngress {
        var settings = IngressSettings()
        settings.acknowledgementTimeout = timeout
        let channels = self.channels
        return CallbackIngress(settings: settings, publisher: publisher, logger: Logger(label: "test")) { channels[$0] }
    }

    func request(channel: String = "storepos", merchant: String = "shop-a", body: String = "key=T-1") -> IngressRequest {
        IngressRequest(
            channel: channel, merchant: merchant, path: "/notify/\(channel)/\(merchant)",
            headers: ["Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer proxy-token", "X-Sig": "abc"],
            body: Array(body.utf8), receivedAt: Date(timeIntervalSince1970: 1_800_000_000.123))
    }

    @Test("a routable callback is written keyed by its order and acknowledged with the vendor's success body")
    func acceptsAfterAck() async throws {
        let publisher = IngressRecordingPublisher()
        let result = await ingress(publisher).handle(request())
        #expect(result.outcome == .accepted)
        #expect(result.reply.body == "SUCCESS")
        #expect(result.outTradeNo == "T-1")
        let message = try #require(publisher.messages.first)
        #expect(publisher.messages.count == 1)
        #expect(message.topic == "payfleet.callbacks")
        #expect(message.key == Data("T-1".utf8))
        #expect(message.value == Data("key=T-1".utf8))
        // The worker's decoder reads back exactly what arrived, minus proxy credentials.
        let record = try CallbackRecord.decode(key: "T-1", value: message.value, headers: message.headers)
        #expect(record.channel == "storepos")
        #expect(record.merchant == "shop-a")
        #expect(record.raw.body == Array("key=T-1".utf8))
        #expect(record.raw.header("x-sig") == "abc")
        #expect(record.raw.header("authorization") == nil)
        #expect(abs(record.raw.receivedAt.timeIntervalSince1970 - 1_800_000_000.123) < 0.002)
    }

    @Test("a broker failure answers the vendor's failure body so the vendor retries")
    func failureWhenNotDurable() async {
        let publisher = IngressRecordingPublisher(.fail)
        let result = await ingress(publisher).handle(request())
        #expect(result.outcome == .notDurable)
        #expect(result.reply.body == "FAIL")
        #expect(result.reply.status == 500)
    }

    @Test("a slow broker is not waited for beyond the acknowledgement timeout", .timeLimit(.minutes(1)))
    func boundedWait() async {
        let publisher = IngressRecordingPublisher(.delay(.seconds(3)))
        let started = ContinuousClock.now
        let result = await ingress(publisher, timeout: .milliseconds(200)).handle(request())
        let elapsed = ContinuousClock.now - started
        #expect(result.outcome == .notDurable)
        #expect(result.reply.body == "FAIL")
        #expect(elapsed < .seconds(1))
    }

    @Test("unroutable callbacks go to dead-letters with a reason and get a failure answer", arguments: [
        ("alipay", "shop-a", "key=T-1", "unknown_channel", 404),
        ("storepos", "nobody", "key=T-1", "unknown_merchant", 404),
        ("yungouos", "shop-a", "key=T-1", "channel_mismatch", 500),
        ("storepos", "shop-a", "garbage", "missing_order_key", 500),
        ("storepos", "shop-a", "key=", "missing_order_key", 500),
    ])
    func unroutable(channel: String, merchant: String, body: String, reason: String, status: Int) async throws {
        let publisher = IngressRecordingPublisher()
        let result = await ingress(publisher).handle(request(channel: channel, merchant: merchant, body: body))
        #expect(result.outcome == .unroutable)
        #expect(result.reason == reason)
        #expect(result.reply.status == status)
        let letter = try #require(publisher.messages.first)
        #expect(publisher.messages.count == 1)
        #expect(letter.topic == "payfleet.dead-letters")
        #expect(letter.value == Data(body.utf8))
        #expect(letter.headers.string(DeadLetter.reasonHeader) == reason)
        #expect(letter.headers.string(DeadLetter.roleHeader) == "ingress")
        #expect(letter.headers.string(DeadLetter.sourceTopicHeader) == "http:/notify/\(channel)/\(merchant)")
        #expect(letter.headers.string(DeadLetter.detailHeader)?.isEmpty == false)
        #expect(!letter.headers.contains { $0.key.contains("authorization") })
    }
}
