import DequeModule

/// The commit position of one partition when records finish out of order (held timers are
/// forwarded at their due time, not in offset order).
///
/// Records are started in offset order; ``committable`` is the offset to commit: the lowest
/// offset still in flight, or one past the highest started record when none is. Everything below
/// it has been fully handled, so a crash replays only unfinished work.
///
/// The offsets in flight are one bit each, from the lowest in flight to the highest started: a
/// finish is a bit cleared where a search over a list of offsets would touch a cache line at each
/// step, and a scheduler holding 100,000 timers of a partition keeps 12.5 kB for them rather than
/// 1.6 MB. An offset never started inside that range (a transaction marker, a gap) is a clear bit.
public struct TimerOffsetTracker: Sendable, Hashable {
    /// Bit `i` of word `w` is set while offset `base + 64 × w + i` is in flight. Leading words with
    /// nothing in flight are dropped, so the first word, when there is one, has a bit set.
    private var words: Deque<UInt64> = []
    /// The offset of bit 0 of the first word (a multiple of 64).
    private var base: Int64 = 0
    /// The highest offset started, `nil` before the first.
    private var last: Int64?
    private var pending = 0

    public init() {}

    /// Records that `offset` is being handled. Offsets must be started in increasing order; a
    /// smaller or repeated offset (a re-fetch after seeking back) is ignored.
    /// - Returns: `false` when the offset is not above every offset started before.
    @discardableResult
    public mutating func start(_ offset: Int64) -> Bool {
        if let last, offset <= last { return false }
        last = offset
        if words.isEmpty { base = offset & ~63 }
        let (word, bit) = position(offset)
        while words.count <= word { words.append(0) }
        words[word] |= bit
        pending += 1
        return true
    }

    /// Records that `offset` is fully handled (its outputs acknowledged). An offset not in flight
    /// changes nothing.
    public mutating func finish(_ offset: Int64) {
        guard isInFlight(offset) else { return }
        let (word, bit) = position(offset)
        words[word] &= ~bit
        pending -= 1
        while let first = words.first, first == 0 {
            words.removeFirst()
            base += 64
        }
    }

    /// The offset to commit (next record to read after a restart): the lowest offset in flight, else
    /// one past the last started record; `nil` before anything was started.
    public var committable: Int64? {
        guard let first = words.first else { return last.map { $0 + 1 } }
        return base + Int64(first.trailingZeroBitCount)
    }

    /// Records started but not finished.
    public var inFlightCount: Int { pending }

    /// Whether `offset` is started and not finished.
    public func isInFlight(_ offset: Int64) -> Bool {
        guard !words.isEmpty, offset >= base, let last, offset <= last else { return false }
        let (word, bit) = position(offset)
        return words[word] & bit != 0
    }

    /// The word and bit of `offset`, which is at least ``base``.
    private func position(_ offset: Int64) -> (word: Int, bit: UInt64) {
        let index = offset - base
        return (Int(index >> 6), 1 << UInt64(index & 63))
    }
}
