import DequeModule
import Foundation
import Kafka

/// What one worker holds for partition *p* of the co-partitioned topics: the orders restored from
/// `payfleet.order-state`, the per-order queues of input messages, and the offset trackers of the
/// three input topic-partitions.
struct PartitionWork: Sendable {
    enum Phase: Sendable, Equatable {
        /// Reading `payfleet.order-state`; input messages are held.
        case restoring
        /// Processing.
        case ready
        /// Being revoked: nothing new starts; running work finishes or is abandoned.
        case revoking
    }

    let partition: Int32
    /// Distinguishes this assignment of *p* from a later one.
    let epoch: Int
    var phase: Phase = .restoring
    /// The orders of this partition.
    var orders: [String: OrderState] = [:]
    /// Restore: the latest record offset applied per key.
    var restoredOffsets: [String: Int64] = [:]
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

    /// Applies one `payfleet.order-state` record (latest record per key wins; a tombstone deletes).
    /// - Returns: whether the record could not be read (it is skipped).
    mutating func applyRestoreRecord(key: String, offset: Int64, value: Data?) -> OrderStateDecodingError? {
        if let previous = restoredOffsets[key], previous >= offset { return nil }
        restoredOffsets[key] = offset
        guard let value else {
            orders[key] = nil
            return nil
        }
        do throws(OrderStateDecodingError) {
            orders[key] = try OrderState.decode(value)
            return nil
        } catch {
            return error
        }
    }

    /// The number of input messages taken and not finished.
    var unfinishedCount: Int { trackers.values.reduce(0) { $0 + $1.unfinished.count } }
}

/// The order key of an input message; a record without key gets a key of its own (it is dead-lettered alone).
func orderKey(of message: KafkaConsumerMessage) -> String {
    if let key = message.keyString, !key.isEmpty { return key }
    return "\u{0}\(message.topic)@\(message.offset)"
}
