import Foundation
import Kafka
import Testing

@testable import Fleet

@Suite("Scheduler held timers")
struct SchedulerHeldTimerTests {
    @Test("a held timer forwards exactly the key, value and headers it was read with")
    func packedRecordRoundTrips() {
        let headers = [
            KafkaHeader(key: TimerJob.dueAtHeader, string: "1764590400123"),
            KafkaHeader(key: "empty", value: Data()),
            KafkaHeader(key: "absent", value: nil),
            KafkaHeader(key: "utf8-名", string: "值"),
            KafkaHeader(key: TimerJob.dueAtHeader, string: "repeated names keep their order"),
            KafkaHeader(key: "", value: Data(repeating: 0xff, count: 20_000)),
            KafkaHeader(key: String(repeating: "n", count: 200), value: Data([0x80])),
        ]
        let value = Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let message = KafkaConsumerMessage(
            topic: "payfleet.delay.5s", partition: 3, offset: 42, key: Data("order-1".utf8), value: value,
            headers: headers)
        let forwarded = HeldTimer(message, due: 1_764_590_400_123).message(topic: FleetTopic.queryJobs)
        #expect(forwarded.topic == FleetTopic.queryJobs)
        #expect(forwarded.partition == nil)
        #expect(forwarded.key == Data("order-1".utf8))
        #expect(forwarded.value == value)
        #expect(forwarded.headers == headers)

        let bare = KafkaConsumerMessage(topic: "payfleet.delay.5s", partition: 0, offset: 1, key: nil, value: nil)
        let forwardedBare = HeldTimer(bare, due: 1).message(topic: FleetTopic.queryJobs)
        #expect(forwardedBare.key == nil)
        #expect(forwardedBare.value == nil)
        #expect(forwardedBare.headers.isEmpty)
    }

    @Test("timers come out earliest due first, only once due, ties in offset order")
    func dueOrder() {
        var timers = HeldTimers()
        for (offset, due) in [(10, 500), (11, 100), (12, 300), (13, 100), (14, 900)] as [(Int64, Int64)] {
            timers.insert(
                HeldTimer(
                    KafkaConsumerMessage(topic: "t", partition: 0, offset: offset, key: nil, value: nil), due: due))
        }
        #expect(timers.earliestDue == 100)
        #expect(timers.popDue(now: 99).isEmpty)
        #expect(timers.popDue(now: 300).map(\.offset) == [11, 13, 12])
        #expect(timers.count == 2)
        #expect(timers.earliestDue == 500)
        #expect(timers.popDue(now: 10_000).map(\.offset) == [10, 14])
        #expect(timers.isEmpty)
        #expect(timers.earliestDue == nil)
    }
}

@Suite("Scheduler held timers: the token form of a timer job's value")
struct SchedulerHeldTimerValueTests {
    private func held(key: String?, value: Data?) -> HeldTimer {
        HeldTimer(
            KafkaConsumerMessage(
                topic: "payfleet.delay.30s", partition: 0, offset: 7, key: key.map { Data($0.utf8) }, value: value,
                headers: [KafkaHeader(key: TimerJob.dueAtHeader, string: "1764590400123")]),
            due: 1)
    }

    @Test(
        "a timer job's value is held in under half its bytes and forwarded byte for byte",
        arguments: [
            TimerJob(
                job: .query, outTradeNo: "PF20261201000042", merchant: "m-1", channel: "storepos",
                dueAt: Date(timeIntervalSince1970: 1_764_590_400.123), reason: .pending, attempt: 1),
            TimerJob(
                job: .close, outTradeNo: "订单-1", merchant: "商户", channel: "wechat_v2",
                dueAt: Date(timeIntervalSince1970: 1_764_590_400), reason: .expiry, attempt: 12),
            TimerJob(
                job: .query, outTradeNo: "PF-R", merchant: "m", channel: "wechat_combine",
                dueAt: Date(timeIntervalSince1970: 1_764_590_400), reason: .refund, attempt: 2,
                outRefundNo: "RF-1"),
        ])
    func timerJobValues(job: TimerJob) {
        let timer = held(key: job.outTradeNo, value: job.value)
        let forwarded = timer.message(topic: FleetTopic.queryJobs)
        #expect(forwarded.value == job.value)
        #expect(forwarded.key == Data(job.outTradeNo.utf8))
        #expect(timer.packedCount * 2 < job.value.count + job.outTradeNo.utf8.count + 20)
    }

    /// Values with the names, the key or a timer_id in places the token form must leave alone.
    static let lookalikeValues: [[UInt8]] = {
        let texts: [String] = [
            // An out_trade_no other than the key, and a key at the very end.
            #"{"attempt":1,"out_trade_no":"other"}"#,
            #"","out_trade_no":"K"#,
            #"","out_trade_no":"K""#,
            // A timer_id that is not 32 lowercase hex digits, or runs to the end.
            #"{"attempt":1,"timer_id":"0123456789ABCDEF0123456789abcdef"}"#,
            #"{"attempt":1,"timer_id":"0123456789abcdef0123456789abcde"}"#,
            #"","timer_id":"0123456789abcdef0123456789abcdef"#,
            #"","timer_id":"0123456789abcdef0123456789abcdef""#,
            // Names cut short, repeated, or the whole value.
            #"{"attempt""#, #"{"attempt":"#, #"{"attempt":{"attempt":"#, "", "plain text",
        ]
        var values = texts.map { Array($0.utf8) }
        // Bytes the token form uses (never in UTF-8): kept as read.
        values.append(Array(#"{"attempt":1,"channel":"x"}"#.utf8) + [0xF5, 0xFE, 0xFF])
        values.append([0xE8, 0xAE, 0xA2, 0xF4, 0x8F, 0xBF, 0xBF])
        return values
    }()

    @Test("values that only look like a timer job come back as they were read", arguments: lookalikeValues)
    func lookalikes(bytes: [UInt8]) {
        let value = Data(bytes)
        #expect(held(key: "K", value: value).message(topic: "t").value == value)
        #expect(held(key: nil, value: value).message(topic: "t").value == value)
        #expect(held(key: "", value: value).message(topic: "t").value == value)
    }

    @Test("random values built from the names and the key come back as they were read")
    func randomValues() {
        var generator = SystemRandomNumberGenerator()
        let pieces: [[UInt8]] =
            ValueTokens.names + [
                Array("K1".utf8), Array("\"".utf8), Array("0123456789abcdef".utf8), [0xF5], [0xFF], [0x00], [0x7F],
                Array("值".utf8),
            ]
        for _ in 0..<2000 {
            var value: [UInt8] = []
            for _ in 0..<Int.random(in: 0..<12, using: &generator) {
                value += pieces.randomElement(using: &generator)!
            }
            let data = Data(value)
            #expect(held(key: "K1", value: data).message(topic: "t").value == data)
        }
    }
}
