import Kafka

/// Writes records to Kafka and returns only once the broker acknowledged them (acks=all).
///
/// ``KafkaProducer`` implements it; tests substitute slow or failing publishers.
public protocol RecordPublisher: Sendable {
    /// Writes one message; returns when the broker acknowledged it, throws when it cannot be delivered.
    func publish(_ message: KafkaProducerMessage) async throws

    /// Writes several messages at once; returns each one's outcome, in input order, once all are known.
    func publishAll(_ messages: [KafkaProducerMessage]) async -> [Result<Void, any Error>]
}

extension RecordPublisher {
    /// Publishes the messages concurrently, one ``publish(_:)`` each.
    public func publishAll(_ messages: [KafkaProducerMessage]) async -> [Result<Void, any Error>] {
        await withTaskGroup(of: (Int, Result<Void, any Error>).self) { group in
            for (index, message) in messages.enumerated() {
                group.addTask {
                    do {
                        try await self.publish(message)
                        return (index, .success(()))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var results = [Result<Void, any Error>](repeating: .success(()), count: messages.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
    }
}

extension KafkaProducer: RecordPublisher {
    public func publish(_ message: KafkaProducerMessage) async throws {
        _ = try await send(message)
    }

    /// One batch through librdkafka: every message is enqueued before the first acknowledgement is
    /// awaited, and no delivery report is built (only the failures are kept).
    public func publishAll(_ messages: [KafkaProducerMessage]) async -> [Result<Void, any Error>] {
        var results = [Result<Void, any Error>](repeating: .success(()), count: messages.count)
        for (index, error) in await sendAllFailures(messages) { results[index] = .failure(error) }
        return results
    }
}
