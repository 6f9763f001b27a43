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

@Suite("Offset tracker: transaction offsets")
struct OffsetTrackerTransactionTests {
    @Test("a transaction that finishes messages commits past them, never past an unfinished one")
    func assumingFinished() {
        var tracker = OffsetTracker()
        for offset in Int64(10)...14 { tracker.delivered(offset) }
        tracker.finished(11)
        #expect(tracker.committable == 10)
        // 10 and 12 finish in the transaction: 13 is the lowest still unfinished.
        #expect(tracker.committable(assumingFinished: [10, 12]) == 13)
        #expect(tracker.committable(assumingFinished: [12]) == 10)
        #expect(tracker.committable(assumingFinished: [10, 12, 13, 14]) == 15)
        #expect(tracker.committable(assumingFinished: []) == 10)
    }
}
