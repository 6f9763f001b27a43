import DequeModule
import Foundation
import Kafka

/// What one worker holds for partition *p* of the co-partitioned topics: the orders restored from
/// `payfleet.order-state`, the per-order queues of input messages, and the offset trackers of the
/// three input topic-partitions.
struct PartitionWork: Sendable {
    enum Phase: Sendable, Equatable {
        /// Reading `payfleet.order-state` (in full, or its tail after a rebalance); input messages are held.
        case restoring
        /// Processing.
        case ready
        /// Being revoked: nothing new starts; running work finishes or is abandoned.
        case revoking
        /// Revoked with everything finished: the orders are kept, nothing is processed, until the
        /// next assignment resumes the partition (tail read) or drops it.
        case dormant
    }

    let partition: Int32
    /// Distinguishes this assignment of *p* from a later one.
    var epoch: Int
    var phase: Phase = .restoring
    /// The live orders of this partition (full state).
    var orders: [String: OrderState] = [:]
    /// The terminal orders of this partition, as their binary ``TerminalSummary`` records.
    var terminal: [String: [UInt8]] = [:]
    /// The next `payfleet.order-state` offset a restore reads: everything below it is reflected in
    /// ``orders`` and ``terminal``.
    var nextStateOffset: Int64 = 0
    /// Work of this partition was abandoned: its outputs may be on Kafka without its state change
    /// here, so the orders are not kept across a revocation.
    var diverged = false
    /// The restore of this assignment finished (the orders match the changelog up to its end).
    var restored = false
    /// When the partition went dormant.
    var dormantSince: ContinuousClock.Instant?
    /// Input messages per order key; the head of a key in ``running`` is being processed.
    var queues: [String: Deque<KafkaConsumerMessage>] = [:]
    /// Keys with a message being processed.
    var running: Set<String> = []
    /// Input messages that arrived while restoring, in arrival order.
    var held: [KafkaConsumerMessage] = []
    /// Offsets per input topic.
    var trackers: [String: OffsetTracker] = [:]

    init(partition: Int32, epoch: Int) {
        self.partition = partition
        self.epoch = epoch
    }

    /// The state of an order (a terminal one rebuilt from its summary).
    func state(of key: String) -> OrderState? {
        if let live = orders[key] { return live }
        guard let bytes = terminal[key] else { return nil }
        // The bytes were validated when stored.
        return try? TerminalSummary.decode(bytes).orderState
    }

    /// Records an order's new state (`nil` forgets it): a terminal order keeps only its summary.
    mutating func setState(_ state: OrderState?, of key: String) {
        guard let state else {
            orders[key] = nil
            terminal[key] = nil
            return
        }
        if let summary = TerminalSummary(state) {
            orders[key] = nil
            terminal[key] = summary.encoded()
        } else {
            terminal[key] = nil
            orders[key] = state
        }
    }

    /// Applies one `payfleet.order-state` record read by a restore (in offset order; a record below
    /// ``nextStateOffset`` was applied already).
    /// - Returns: the problem when the record could not be read (it is skipped).
    mutating func apply(_ record: RestoredRecord) -> OrderStateDecodingError? {
        guard record.offset >= nextStateOffset else { return nil }
        nextStateOffset = record.offset + 1
        switch record.content {
        case .tombstone:
            orders[record.key] = nil
            terminal[record.key] = nil
        case .live(let state):
            terminal[record.key] = nil
            orders[record.key] = state
        case .terminal(let bytes):
            orders[record.key] = nil
            terminal[record.key] = bytes
        case .undecodable(let problem):
            return problem
        }
        return nil
    }

    /// Applies one raw `payfleet.order-state` record.
    mutating func applyRestoreRecord(key: String, offset: Int64, value: Data?) -> OrderStateDecodingError? {
        apply(RestoredRecord(key: key, offset: offset, value: value))
    }

    /// Forgets the orders (the next restore reads the changelog from the beginning).
    mutating func resetOrders() {
        orders = [:]
        terminal = [:]
        nextStateOffset = 0
        diverged = false
    }

    /// The number of input messages taken and not finished.
    var unfinishedCount: Int { trackers.values.reduce(0) { $0 + $1.unfinished.count } }
}

/// One `payfleet.order-state` record, decoded (off the worker's actor) for a restore.
struct RestoredRecord: Sendable {
    enum Content: Sendable {
        case tombstone
        case live(OrderState)
        /// A terminal order's summary record (validated).
        case terminal([UInt8])
        case undecodable(OrderStateDecodingError)
    }

    var partition: Int32
    var key: String
    var offset: Int64
    var content: Content

    init(partition: Int32 = 0, key: String, offset: Int64, value: Data?) {
        self.partition = partition
        self.key = key
        self.offset = offset
        guard let value else {
            content = .tombstone
            return
        }
        do throws(OrderStateDecodingError) {
            if TerminalSummary.isBinaryRecord(value) {
                let bytes = [UInt8](value)
                _ = try TerminalSummary.decode(bytes)
                content = .terminal(bytes)
            } else {
                let state = try OrderState.decodeJSON(value)
                // A terminal order written before summaries existed is kept as its summary.
                if let summary = TerminalSummary(state) {
                    content = .terminal(summary.encoded())
                } else {
                    content = .live(state)
                }
            }
        } catch {
            content = .undecodable(error)
        }
    }

    /// The record of a message read from `payfleet.order-state`; `nil` without a key.
    init?(_ message: KafkaConsumerMessage) {
        guard let key = message.keyString else { return nil }
        self.init(partition: message.partition, key: key, offset: message.offset, value: message.value)
    }
}

/// The order key of an input message; a record without key gets a key of its own (it is dead-lettered alone).
func orderKey(of message: KafkaConsumerMessage) -> String {
    if let key = message.keyString, !key.isEmpty { return key }
    return "\u{0}\(message.topic)@\(message.offset)"
}
