/// The offsets of one topic-partition that were delivered to the worker but are not finished yet.
///
/// Messages of one partition finish out of order (different orders run concurrently); the offset
/// that may be committed is the lowest unfinished one, or one past the highest delivered when
/// everything is finished. It never moves backwards.
struct OffsetTracker: Sendable, Hashable {
    private(set) var unfinished: Set<Int64> = []
    private(set) var highestDelivered: Int64?
    /// The first offset delivered (where consumption started; storing it would be no progress).
    private(set) var firstDelivered: Int64?
    /// The next offset to commit that was last handed out by ``takeCommittable()``.
    private(set) var stored: Int64?

    /// A message was taken from the consumer.
    mutating func delivered(_ offset: Int64) {
        unfinished.insert(offset)
        if firstDelivered == nil { firstDelivered = offset }
        if highestDelivered.map({ offset > $0 }) ?? true { highestDelivered = offset }
    }

    /// A message is finished: all its outputs are acknowledged (or it was dead-lettered).
    mutating func finished(_ offset: Int64) {
        unfinished.remove(offset)
    }

    /// The next offset to consume, below which everything delivered is finished.
    var committable: Int64? {
        if let lowest = unfinished.min() { return lowest }
        return highestDelivered.map { $0 + 1 }
    }

    /// The committable offset if the messages at `offsets` were finished too (for an output
    /// transaction that finishes them: it commits their offsets with their outputs).
    func committable(assumingFinished offsets: Set<Int64>) -> Int64? {
        if offsets.isEmpty { return committable }
        if let lowest = unfinished.lazy.filter({ !offsets.contains($0) }).min() { return lowest }
        return highestDelivered.map { $0 + 1 }
    }

    /// The committable offset if it moved past the last stored one (then it counts as stored).
    mutating func takeCommittable() -> Int64? {
        guard let next = committable else { return nil }
        if let stored, next <= stored { return nil }
        if let firstDelivered, next <= firstDelivered { return nil }
        stored = next
        return next
    }

    var isIdle: Bool { unfinished.isEmpty }
}
