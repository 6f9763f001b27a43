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
