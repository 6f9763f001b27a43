import DequeModule

/// The commit position of one partition when records finish out of order (held timers are
/// forwarded at their due time, not in offset order).
///
/// Records are started in offset order; ``committable`` is the offset to commit: the lowest
/// offset still in flight, or one past the highest finished record when none is. Everything below
/// it has been fully handled, so a crash replays only unfinished work.
public struct TimerOffsetTracker: Sendable, Hashable {
    private var inFlight: Deque<Entry> = []
    private var next: Int64?

    private struct Entry: Sendable, Hashable {
        var offset: Int64
        var done: Bool
    }

    public init() {}

    /// Records that `offset` is being handled. Offsets must be started in increasing order; a
    /// smaller or repeated offset (a re-fetch after seeking back) is ignored if already tracked.
    /// - Returns: `false` when the offset was already started before.
    @discardableResult
    public mutating func start(_ offset: Int64) -> Bool {
        if let last = inFlight.last, offset <= last.offset { return false }
        if inFlight.isEmpty, let next, offset < next { return false }
        inFlight.append(Entry(offset: offset, done: false))
        return true
    }

    /// Records that `offset` is fully handled (its outputs acknowledged).
    public mutating func finish(_ offset: Int64) {
        var low = inFlight.startIndex
        var high = inFlight.endIndex
        while low < high {
            let middle = (low + high) / 2
            if inFlight[middle].offset < offset { low = middle + 1 } else { high = middle }
        }
        guard low < inFlight.endIndex, inFlight[low].offset == offset else { return }
        inFlight[low].done = true
        while let first = inFlight.first, first.done {
            next = first.offset + 1
            inFlight.removeFirst()
        }
    }

    /// The offset to commit (next record to read after a restart): the lowest offset in flight, else
    /// one past the last finished record; `nil` before anything was started.
    public var committable: Int64? {
        inFlight.first?.offset ?? next
    }

    /// Records started but not finished.
    public var inFlightCount: Int { inFlight.count { !$0.done } }

    /// Whether `offset` is started and not finished.
    public func isInFlight(_ offset: Int64) -> Bool {
        inFlight.contains { $0.offset == offset && !$0.done }
    }
}
