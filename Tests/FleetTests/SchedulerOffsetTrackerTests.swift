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

    @Test("random starts, gaps and out-of-order finishes match a sorted list of offsets in flight")
    func matchesReference() {
        var random = SplitMix64(seed: 0x5EED_7AC4)
        for _ in 0..<200 {
            var tracker = TimerOffsetTracker()
            var inFlight: [Int64] = []
            var lastStarted: Int64?
            var offset = Int64(random.next() % 1000)
            for _ in 0..<Int(random.next() % 400) {
                if random.next() % 3 != 0 {
                    // Mostly the next offset; sometimes a gap (a marker, or more than a word), and
                    // rarely a jump past the longest gap a run grows by.
                    switch random.next() % 64 {
                    case 0: offset += 64 * Int64(TimerOffsetTracker.maximumGapWords) + Int64(random.next() % 5000)
                    case 1...8: offset += Int64(random.next() % 200) + 1
                    default: offset += 1
                    }
                    let started = tracker.start(offset)
                    #expect(started)
                    inFlight.append(offset)
                    lastStarted = offset
                } else if !inFlight.isEmpty {
                    let index = Int(random.next() % UInt64(inFlight.count))
                    tracker.finish(inFlight.remove(at: index))
                }
                if let lastStarted, random.next() % 5 == 0 {
                    let again = tracker.start(lastStarted - Int64(random.next() % 3))
                    #expect(!again)
                }
                #expect(tracker.committable == (inFlight.min() ?? lastStarted.map { $0 + 1 }))
                #expect(tracker.inFlightCount == inFlight.count)
            }
            for probe in (offset - 70)...(offset + 2) {
                #expect(tracker.isInFlight(probe) == inFlight.contains(probe))
            }
        }
    }

    @Test("a gap of a million offsets between two records in flight")
    func wideGap() {
        var tracker = TimerOffsetTracker()
        tracker.start(63)
        tracker.start(1_000_063)
        tracker.finish(1_000_063)
        #expect(tracker.committable == 63)
        tracker.finish(63)
        #expect(tracker.committable == 1_000_064)
        #expect(tracker.inFlightCount == 0)
        let started = tracker.start(1_000_064)
        #expect(started)
        #expect(tracker.committable == 1_000_064)
    }

    @Test("a jump of a trillion offsets (records deleted ahead of the fetcher) keeps a few words, not the gap")
    func jumpKeepsNoGap() {
        var tracker = TimerOffsetTracker()
        for offset in Int64(100)..<164 { tracker.start(offset) }
        let far = Int64(1_000_000_000_000)
        tracker.start(far)
        tracker.start(far + 1)
        #expect(tracker.storedWords <= 4)
        #expect(tracker.committable == 100)
        #expect(tracker.isInFlight(far) && !tracker.isInFlight(far - 1) && !tracker.isInFlight(5_000))
        for offset in Int64(100)..<164 { tracker.finish(offset) }
        #expect(tracker.committable == far)
        tracker.finish(far + 1)
        tracker.finish(far)
        #expect(tracker.committable == far + 2)
        #expect(tracker.storedWords == 0)
    }
}

/// SplitMix64: a fixed, seeded sequence, so a failure repeats.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
