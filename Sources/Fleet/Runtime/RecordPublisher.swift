import Kafka

/// Writes records to Kafka and returns only once the broker acknowledged them (acks=all).
///
/// ``KafkaProducer`` implements it; tests substitute slow or failing publishers.
public protocol RecordPublisher: Sendable {
    /// Writes one message; returns when the broker acknowledged it, throws when it cannot be delivered.
    func publish(_ message: KafkaProducerMessage) async throws
}

extension KafkaProducer: RecordPublisher {
    public func publish(_ message: KafkaProducerMessage) async throws {
        _ = try await send(message)
    }
}
