import Foundation
import Kafka
import Logging
import Payments
import Synchronization
import Testing

@testable import Fleet

@Suite("Callback ingress routing and acknowledgement")
struct IngressTests {
    let channels: [String: any PaymentChannel] = [
        "shop-a": IngressFakeChannel(channel: .storepos, merchant: "shop-a"),
        "shop-b": IngressFakeChannel(channel: .yungouos, merchant: "shop-b"),
    ]

    func ingress(
        _ publisher: IngressRecordingPublisher, timeout: Duration = .seconds(2), sampler: RejectionSampler? = nil
    ) -> CallbackIngress {
        var settings = IngressSettings()
        settings.acknowledgementTimeout = timeout
        let channels = self.channels
        return CallbackIngress(
            settings: settings, publisher: publisher, logger: Logger(label: "test"), sampler: sampler
        ) { channels[$0] }
    }

    func request(
        channel: String = "storepos", merchant: String = "shop-a", body: String = "key=T-1", signature: String = "abc"
    ) -> IngressRequest {
        IngressRequest(
            channel: channel, merchant: merchant, path: "/notify/\(channel)/\(merchant)",
            headers: [
                "Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer proxy-token",
                "X-Sig": signature,
            ],
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
        // A broker that would take 30 s: the answer comes from the 200 ms deadline, long before (the
        // bound is loose on purpose, the machine is shared; it still fails if the deadline is ignored).
        let publisher = IngressRecordingPublisher(.delay(.seconds(30)))
        let started = ContinuousClock.now
        let result = await ingress(publisher, timeout: .milliseconds(200)).handle(request())
        let elapsed = ContinuousClock.now - started
        #expect(result.outcome == .notDurable)
        #expect(result.reply.body == "FAIL")
        #expect(elapsed < .seconds(10))
    }

    @Test(
        "unroutable and unverifiable callbacks get a failure answer, nothing on payfleet.callbacks, a dead letter with the reason",
        arguments: [
            ("alipay", "shop-a", "key=T-1", IngressOutcome.unroutable, "unknown_channel", "unknown_channel", 404),
            ("storepos", "nobody", "key=T-1", .unroutable, "unknown_merchant", "unknown_merchant", 404),
            ("yungouos", "shop-a", "key=T-1", .unroutable, "channel_mismatch", "channel_mismatch", 500),
            ("storepos", "shop-a", "garbage", .rejected, "malformed", "malformed_callback", 500),
            ("storepos", "shop-a", "key=", .unroutable, "missing_order_key", "missing_order_key", 500),
        ])
    func unroutable(
        channel: String, merchant: String, body: String, outcome: IngressOutcome, reason: String, letterReason: String,
        status: Int
    ) async throws {
        let publisher = IngressRecordingPublisher()
        let result = await ingress(publisher).handle(request(channel: channel, merchant: merchant, body: body))
        #expect(result.outcome == outcome)
        #expect(result.reason == reason)
        #expect(result.reply.status == status)
        let letter = try #require(publisher.messages.first)
        #expect(publisher.messages.count == 1)
        #expect(letter.topic == "payfleet.dead-letters")
        #expect(letter.value == Data(body.utf8))
        #expect(letter.headers.string(DeadLetter.reasonHeader) == letterReason)
        #expect(letter.headers.string(CallbackIngress.droppedSinceSampleHeader) == "0")
        #expect(letter.headers.string(DeadLetter.roleHeader) == "ingress")
        #expect(letter.headers.string(DeadLetter.sourceTopicHeader) == "http:/notify/\(channel)/\(merchant)")
        #expect(letter.headers.string(DeadLetter.detailHeader)?.isEmpty == false)
        #expect(!letter.headers.contains { $0.key.contains("authorization") })
    }

    @Test("a publish the broker acknowledges in time is answered as acknowledged, never as too slow")
    func acknowledgedIsNeverTooSlow() async {
        // The deadline timer is cancelled when the broker answers; a cancelled timer must not answer.
        let publisher = IngressRecordingPublisher(.delay(.milliseconds(1)))
        let outcomes = await withTaskGroup(of: PublishDeadline.Result.self) { group in
            for index in 0..<5_000 {
                group.addTask {
                    await PublishDeadline.publish(
                        KafkaProducerMessage(topic: "payfleet.callbacks", key: "T-\(index)", value: Data("x".utf8)),
                        via: publisher, within: .seconds(60))
                }
            }
            var all: [PublishDeadline.Result] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count == 5_000)
        #expect(outcomes.filter { $0 != .acknowledged }.count == 0)
    }

    @Test("a callback that does not verify gets the failure answer and is never written to payfleet.callbacks")
    func forgedIsRefused() async throws {
        let publisher = IngressRecordingPublisher()
        let result = await ingress(publisher).handle(request(signature: "forged"))
        #expect(result.outcome == .rejected)
        #expect(result.reason == "bad_signature")
        #expect(result.reply.body == "FAIL")
        #expect(result.reply.status == 500)
        #expect(!publisher.messages.contains { $0.topic == "payfleet.callbacks" })
        let letter = try #require(publisher.messages.first)
        #expect(letter.topic == "payfleet.dead-letters")
        #expect(letter.headers.string(DeadLetter.reasonHeader) == "bad_signature")
        #expect(letter.headers.string(DeadLetter.detailHeader)?.contains("bad_signature") == true)
    }

    @Test(
        "a refused callback is written to dead-letters at most N times a minute per merchant; the next sample says how many were dropped"
    )
    func sampleLimit() async throws {
        let clock = ManualInstant()
        let sampler = RejectionSampler(perMinute: 3, now: { clock.now })
        let publisher = IngressRecordingPublisher()
        let ingress = ingress(publisher, sampler: sampler)
        for index in 0..<20 {
            let result = await ingress.handle(request(body: "key=F-\(index)", signature: "forged-\(index)"))
            #expect(result.outcome == .rejected)
            #expect(result.reply.body == "FAIL")
        }
        // Invented merchant names share one budget: a flood of them cannot grow the table or the topic.
        for index in 0..<20 {
            let result = await ingress.handle(request(merchant: "nobody-\(index)"))
            #expect(result.outcome == .unroutable)
        }
        #expect(publisher.messages.allSatisfy { $0.topic == "payfleet.dead-letters" })
        let byMerchant = Dictionary(grouping: publisher.messages) {
            $0.headers.string(CallbackRecord.merchantHeader) == "shop-a" ? "shop-a" : "other"
        }
        #expect(byMerchant["shop-a"]?.count == 3)
        #expect(byMerchant["other"]?.count == 3)
        #expect(
            publisher.messages.map { $0.headers.string(CallbackIngress.droppedSinceSampleHeader) } == [
                "0", "0", "0", "0", "0", "0",
            ])

        clock.advance(.seconds(61))
        _ = await ingress.handle(request(body: "key=F-late", signature: "forged"))
        let late = try #require(publisher.messages.last)
        #expect(publisher.messages.count == 7)
        #expect(late.value == Data("key=F-late".utf8))
        #expect(late.headers.string(CallbackIngress.droppedSinceSampleHeader) == "17")
    }

    @Test("a sample budget of 0 writes no dead letter at all")
    func noSamples() async {
        let publisher = IngressRecordingPublisher()
        let ingress = ingress(publisher, sampler: RejectionSampler(perMinute: 0))
        let result = await ingress.handle(request(signature: "forged"))
        #expect(result.outcome == .rejected)
        #expect(publisher.messages.isEmpty)
    }

    @Test("PAYFLEET_INGRESS_REJECTED_SAMPLE_PER_MINUTE and PAYFLEET_INGRESS_PORT are read and checked")
    func settings() throws {
        let settings = try IngressSettings(environment: [
            "PAYFLEET_INGRESS_REJECTED_SAMPLE_PER_MINUTE": "25", "PAYFLEET_INGRESS_PORT": "9443",
            "PAYFLEET_HTTP_HOST": "127.0.0.1",
        ])
        #expect(settings.rejectedSamplePerMinute == 25)
        #expect(settings.port == 9443)
        #expect(settings.host == "127.0.0.1")
        #expect(IngressSettings().rejectedSamplePerMinute == 10)
        #expect(IngressSettings().port == 8081)
        #expect(throws: ConfigurationError.self) {
            try IngressSettings(environment: ["PAYFLEET_INGRESS_REJECTED_SAMPLE_PER_MINUTE": "-1"])
        }
        #expect(throws: ConfigurationError.self) {
            try IngressSettings(environment: ["PAYFLEET_INGRESS_PORT": "70000"])
        }
    }
}

/// A clock the test moves by hand.
final class ManualInstant: Sendable {
    private let offset = Mutex<Duration>(.zero)
    private let start = ContinuousClock.now
    var now: ContinuousClock.Instant { start + offset.withLock { $0 } }
    func advance(_ duration: Duration) { offset.withLock { $0 += duration } }
}
