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
/// A jump of more than ``maximumGapWords`` words (the fetch position moved far ahead, say after
/// records were deleted) starts a new run of words, so a gap never costs memory in proportion to
/// its length.
public struct TimerOffsetTracker: Sendable, Hashable {
    /// Bit `i` of word `w` of a run is set while offset `run.base + 64 × w + i` is in flight.
    private struct Run: Sendable, Hashable {
        /// The offset of bit 0 of the first word (a multiple of 64).
        var base: Int64
        var words: Deque<UInt64>

        /// One past the last offset the run's words cover.
        var end: Int64 { base + 64 * Int64(words.count) }
    }

    /// Runs in offset order. Leading words with nothing in flight are dropped from the first run (and
    /// a first run left empty is dropped), so the first word of the first run has a bit set.
    private var runs: Deque<Run> = []
    /// The highest offset started, `nil` before the first.
    private var last: Int64?
    private var pending = 0

    /// The longest stretch of clear words a run grows by to reach a started offset (32 kB, 262,144
    /// offsets); a farther offset starts a run of its own.
    static let maximumGapWords = 4096

    public init() {}

    /// Records that `offset` is being handled. Offsets must be started in increasing order; a
    /// smaller or repeated offset (a re-fetch after seeking back) is ignored.
    /// - Returns: `false` when the offset is not above every offset started before.
    @discardableResult
    public mutating func start(_ offset: Int64) -> Bool {
        if let last, offset <= last { return false }
        last = offset
        if let run = runs.last, offset - run.end < 64 * Int64(Self.maximumGapWords) {
            // Within reach of the last run.
        } else {
            runs.append(Run(base: offset & ~63, words: [0]))
        }
        let index = runs.count - 1
        let (word, bit) = Self.position(offset, base: runs[index].base)
        while runs[index].words.count <= word { runs[index].words.append(0) }
        runs[index].words[word] |= bit
        pending += 1
        return true
    }

    /// Records that `offset` is fully handled (its outputs acknowledged). An offset not in flight
    /// changes nothing.
    public mutating func finish(_ offset: Int64) {
        guard let index = run(of: offset) else { return }
        let (word, bit) = Self.position(offset, base: runs[index].base)
        guard runs[index].words[word] & bit != 0 else { return }
        runs[index].words[word] &= ~bit
        pending -= 1
        while !runs.isEmpty {
            while let first = runs[0].words.first, first == 0 {
                runs[0].words.removeFirst()
                runs[0].base += 64
            }
            guard runs[0].words.isEmpty else { break }
            runs.removeFirst()
        }
    }

    /// The offset to commit (next record to read after a restart): the lowest offset in flight, else
    /// one past the last started record; `nil` before anything was started.
    public var committable: Int64? {
        guard let run = runs.first, let first = run.words.first else { return last.map { $0 + 1 } }
        return run.base + Int64(first.trailingZeroBitCount)
    }

    /// Records started but not finished.
    public var inFlightCount: Int { pending }

    /// The 64-bit words kept, over all runs (tests and sizing).
    var storedWords: Int { runs.reduce(0) { $0 + $1.words.count } }

    /// Whether `offset` is started and not finished.
    public func isInFlight(_ offset: Int64) -> Bool {
        guard let index = run(of: offset) else { return false }
        let (word, bit) = Self.position(offset, base: runs[index].base)
        return runs[index].words[word] & bit != 0
    }

    /// The run whose words cover `offset`, if any (there is nearly always one run).
    private func run(of offset: Int64) -> Int? {
        var index = runs.count - 1
        while index >= 0 {
            if offset >= runs[index].base { return offset < runs[index].end ? index : nil }
            index -= 1
        }
        return nil
    }

    /// The word and bit of `offset` in the run starting at `base`, which it is not below.
    private static func position(_ offset: Int64, base: Int64) -> (word: Int, bit: UInt64) {
        let index = offset - base
        return (Int(index >> 6), 1 << UInt64(index & 63))
    }
}
