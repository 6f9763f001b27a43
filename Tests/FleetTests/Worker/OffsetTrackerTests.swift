import Testing

@testable import Fleet

@Suite("Offset tracking")
struct OffsetTrackerTests {
    @Test("the committable offset is the lowest unfinished message, or one past everything finished")
    func lowestUnfinished() {
        var tracker = OffsetTracker()
        #expect(tracker.committable == nil)
        for offset in [10, 11, 12, 13] as [Int64] { tracker.delivered(offset) }
        #expect(tracker.committable == 10)
        tracker.finished(11)
        tracker.finished(13)
        #expect(tracker.committable == 10)  // 10 still running: nothing past it
        tracker.finished(10)
        #expect(tracker.committable == 12)
        tracker.finished(12)
        #expect(tracker.committable == 14)
        #expect(tracker.isIdle)
    }

    @Test("an offset is handed out for storing once, and never backwards")
    func takeOnce() {
        var tracker = OffsetTracker()
        tracker.delivered(0)
        tracker.delivered(1)
        tracker.finished(1)
        #expect(tracker.takeCommittable() == nil)  // 0 is where consumption started: no progress
        #expect(tracker.takeCommittable() == nil)
        tracker.finished(0)
        #expect(tracker.takeCommittable() == 2)
        tracker.delivered(2)
        #expect(tracker.takeCommittable() == nil)
        tracker.finished(2)
        #expect(tracker.takeCommittable() == 3)
    }
}
