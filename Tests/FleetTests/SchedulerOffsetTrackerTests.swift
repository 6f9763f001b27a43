import Testing

@testable import Fleet

@Suite("Scheduler commit positions")
struct SchedulerOffsetTrackerTests {
    @Test("nothing started, nothing to commit")
    func empty() {
        let tracker = TimerOffsetTracker()
        #expect(tracker.committable == nil)
        #expect(tracker.inFlightCount == 0)
    }

    @Test("commit stays at the lowest unfinished offset when records finish out of order")
    func outOfOrder() {
        var tracker = TimerOffsetTracker()
        for offset in Int64(10)...14 {
            let started = tracker.start(offset)
            #expect(started)
        }
        #expect(tracker.committable == 10)
        tracker.finish(12)
        tracker.finish(13)
        #expect(tracker.committable == 10)
        tracker.finish(10)
        #expect(tracker.committable == 11)
        tracker.finish(11)
        #expect(tracker.committable == 14)
        tracker.finish(14)
        #expect(tracker.committable == 15)
        #expect(tracker.inFlightCount == 0)
    }

    @Test("re-reading an already started offset after a seek is ignored")
    func refetchIgnored() {
        var tracker = TimerOffsetTracker()
        let started1 = tracker.start(5)
        #expect(started1)
        let started2 = tracker.start(6)
        #expect(started2)
        let started3 = tracker.start(6)
        #expect(!started3)
        let started4 = tracker.start(5)
        #expect(!started4)
        tracker.finish(5)
        tracker.finish(6)
        let started5 = tracker.start(6)
        #expect(!started5)
        let started6 = tracker.start(7)
        #expect(started6)
        #expect(tracker.committable == 7)
    }

    @Test("finishing an unknown offset changes nothing")
    func unknownFinish() {
        var tracker = TimerOffsetTracker()
        tracker.start(1)
        tracker.finish(99)
        #expect(tracker.committable == 1)
        #expect(tracker.isInFlight(1))
        #expect(!tracker.isInFlight(99))
    }
}
