import Foundation
import Kafka

/// Which partition of a co-partitioned topic owns a record: murmur2 of its key modulo the
/// partition count, as Java's default producer and PayFleet's own producers choose it.
///
/// A record on any other partition was written by a producer with another partitioner (librdkafka's
/// default `consistent_random` in kcat, confluent-kafka, Go and Node clients). Its order's state and
/// callbacks live on the owning partition, so the worker forwards such a record there instead of
/// handling it, and `payfleet check` reports it.
public struct PartitionOwnership: Sendable, Hashable {
    /// Header added to a forwarded record: `<topic>/<partition>/<offset>` of the mis-partitioned original.
    public static let reroutedFromHeader = "payfleet-rerouted-from"
    /// Headers that may name the producer of a record, looked up (in this order) to say who mis-partitioned it.
    public static let producerHeaders = ["client.id", "client_id", "clientid", "producer", "x-client-id"]

    /// Partitions of each co-partitioned topic (equal for all of them; verified at start-up).
    public var partitionCount: Int

    public init(partitionCount: Int) {
        precondition(partitionCount > 0, "partitionCount must be positive")
        self.partitionCount = partitionCount
    }

    /// The partition that owns `key`.
    public func owner(ofKey key: Data) -> Int32 {
        KafkaPartitioner.partition(forKey: key, partitionCount: partitionCount)
    }

    /// The owning partition of `message` when it sits on another one; `nil` when it is where it
    /// belongs or has no key (a keyless record is not an order's and is rejected as such later).
    public func misplacement(of message: KafkaConsumerMessage) -> Int32? {
        guard let key = message.key, !key.isEmpty else { return nil }
        let owner = owner(ofKey: key)
        return owner == message.partition ? nil : owner
    }

    /// The `payfleet-rerouted-from` value naming `message`.
    public static func origin(of message: KafkaConsumerMessage) -> String {
        "\(message.topic)/\(message.partition)/\(message.offset)"
    }

    /// The record that moves `message` to partition `owner` of its topic: same key, value, headers
    /// and timestamp, plus `payfleet-rerouted-from`.
    public static func forwarded(_ message: KafkaConsumerMessage, to owner: Int32) -> KafkaProducerMessage {
        var headers = message.headers.filter { $0.key != reroutedFromHeader }
        headers.append(KafkaHeader(key: reroutedFromHeader, string: origin(of: message)))
        return KafkaProducerMessage(
            topic: message.topic, partition: owner, key: message.key, value: message.value, headers: headers,
            timestamp: message.timestamp)
    }

    /// The producer's name from a header of `message`, if any carries one (clipped to 64 characters).
    public static func producerName(of message: KafkaConsumerMessage) -> String? {
        for name in producerHeaders {
            if let header = message.headers.first(where: { $0.key.lowercased() == name }),
                let value = header.value.flatMap({ String(data: $0, encoding: .utf8) }), !value.isEmpty
            {
                return String(value.prefix(64))
            }
        }
        return nil
    }
}
