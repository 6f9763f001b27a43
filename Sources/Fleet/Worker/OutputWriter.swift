import Foundation
import Kafka
import Logging

/// Turns state-machine outputs into records and waits until the broker acknowledged all of them.
struct OutputWriter: Sendable {
    let producer: KafkaProducer
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

    /// Sends `outputs` and returns when every record is acknowledged. A failed send is repeated
    /// (from the first failure on, so records of one key keep their order) until it succeeds or
    /// the task is cancelled (the partition was taken away or shutdown gave up): then it throws
    /// `CancellationError` and the input's offset is not stored.
    func write(_ outputs: [OrderOutput], input message: KafkaConsumerMessage, now: Date, logger: Logger) async throws {
        guard !outputs.isEmpty else { return }
        try await send(records(outputs, input: message, now: now), logger: logger)
        metrics.acknowledged(outputs)
    }

    /// Sends `records` as they are (a mis-partitioned input forwarded to its owning partition) with
    /// the same acknowledgement and retry rules as ``write(_:input:now:logger:)``.
    func forward(_ records: [KafkaProducerMessage], logger: Logger) async throws {
        guard !records.isEmpty else { return }
        try await send(records, logger: logger)
    }

    private func send(_ records: [KafkaProducerMessage], logger: Logger) async throws {
        var pending = records
        var backoff = Duration.milliseconds(100)
        while true {
            try Task.checkCancellation()
            let results = try await producer.sendAllSettled(pending)
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
        var perTopic: [String: Int] = [:]
        for record in records { perTopic[record.topic, default: 0] += 1 }
        for (topic, count) in perTopic { metrics.sent(topic: topic, count: count) }
    }
}
