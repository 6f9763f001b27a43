import Foundation
import Kafka
import Logging

/// Turns state-machine outputs into records and waits until they are durable: written through the
/// worker's ``OutputSender`` (committed in one transaction, or acknowledged), fenced by the
/// assignment of the message being processed (``OutputSender/scope``).
struct OutputWriter: Sendable {
    let sender: OutputSender
    let metrics: WorkerInstruments
    /// The role written into dead-letter headers.
    let role = "worker"

    /// The records of `outputs`, in order. Dead letters carry the input `message`.
    func records(_ outputs: [OrderOutput], input message: KafkaConsumerMessage, now: Date) -> [KafkaProducerMessage] {
        outputs.map { output in
            switch output {
            case .persist(let state):
                return KafkaProducerMessage(topic: FleetTopic.orderState, key: state.outTradeNo, value: state.encoded())
            case .forget(let outTradeNo):
                return KafkaProducerMessage(topic: FleetTopic.orderState, key: outTradeNo, value: nil)
            case .publish(let event):
                return event.message()
            case .schedule(let job):
                return job.message(now: now)
            case .deadLetter(let reason, let detail):
                return DeadLetter(reason: reason, detail: detail, message: message, role: role).message()
            }
        }
    }

    /// Sends `outputs` and returns when every record is durable. A failed send is repeated (from the
    /// first failure on, so records of one key keep their order) until it succeeds or the task is
    /// cancelled (the partition was taken away or shutdown gave up): then it throws
    /// `CancellationError` and the input's offset is not stored. A write of a revoked assignment
    /// throws ``WriteFenced`` and is not repeated; neither is the producer's fatal error.
    ///
    /// `finishes`: this is the message's last write (nothing more will be written for it), so its
    /// input offset may commit in the same transaction as these outputs.
    func write(
        _ outputs: [OrderOutput], input message: KafkaConsumerMessage, now: Date, logger: Logger,
        finishes: Bool = false
    ) async throws {
        guard !outputs.isEmpty else { return }
        let finishing =
            finishes
            ? KafkaTopicPartitionOffset(topic: message.topic, partition: message.partition, offset: message.offset)
            : nil
        try await send(records(outputs, input: message, now: now), finishing: finishing, logger: logger)
        metrics.acknowledged(outputs)
    }

    /// Sends `records` as they are (a mis-partitioned input forwarded to its owning partition) with
    /// the same acknowledgement and retry rules as ``write(_:input:now:logger:)``.
    func forward(_ records: [KafkaProducerMessage], logger: Logger) async throws {
        guard !records.isEmpty else { return }
        try await send(records, finishing: nil, logger: logger)
    }

    private func send(
        _ records: [KafkaProducerMessage], finishing: KafkaTopicPartitionOffset?, logger: Logger
    ) async throws {
        var pending = records
        var backoff = Duration.milliseconds(100)
        let scope = OutputSender.scope
        while true {
            // A revoked assignment's write is refused as such (also when its task was cancelled).
            try await sender.admit(scope)
            try Task.checkCancellation()
            let results: [Result<KafkaDeliveryReport, KafkaError>]
            do {
                results = try await sender.send(pending, scope: scope, finishing: finishing)
            } catch let error as KafkaError where error.code != .fatal && !error.isFenced {
                // The group's transaction was aborted: nothing of it is visible; write it again.
                results = pending.map { _ in .failure(error) }
            }
            guard let firstFailure = results.firstIndex(where: { if case .failure = $0 { true } else { false } }) else {
                count(pending)
                return
            }
            count(Array(pending[..<firstFailure]))
            if case .failure(let error) = results[firstFailure] {
                metrics.sent(topic: pending[firstFailure].topic, count: 1, errorType: error.shortDescription)
                logger.warning(
                    "output not acknowledged; retrying",
                    metadata: [LogKey.topic: "\(pending[firstFailure].topic)", LogKey.error: "\(error)"])
            }
            pending = Array(pending[firstFailure...])
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    private func count(_ records: [KafkaProducerMessage]) {
        // A write touches a handful of topics: a list, not a dictionary to allocate and hash into.
        var perTopic: [(topic: String, count: Int)] = []
        for record in records {
            if let index = perTopic.firstIndex(where: { $0.topic == record.topic }) {
                perTopic[index].count += 1
            } else {
                perTopic.append((record.topic, 1))
            }
        }
        for (topic, count) in perTopic { metrics.sent(topic: topic, count: count) }
    }
}
