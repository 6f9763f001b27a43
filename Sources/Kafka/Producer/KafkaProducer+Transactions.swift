/// Transactions: a producer configured with ``KafkaProducerConfiguration/transactionalID`` writes
/// messages, and optionally consumed offsets, that become visible to `read_committed` consumers
/// all together or not at all.
///
/// ```swift
/// try await producer.initTransactions()
/// try producer.beginTransaction()
/// try await producer.sendAll(outputs)
/// try await producer.sendOffsetsToTransaction(offsets, group: try consumer.groupMetadata())
/// try await producer.commitTransaction()
/// ```
///
/// Errors tell how to go on (``KafkaError/code``): `.fatal` — the producer is unusable (for example
/// ``KafkaError/isFenced``: a newer producer with the same transactional id took over), create a new
/// one; `.transactionAbortable` — call ``abortTransaction(timeout:)``, then begin again;
/// `.transactionRetriable` — call the same method again.
extension KafkaProducer {
    /// Registers the transactional id with the coordinator once, before the first transaction. Fences
    /// any older producer with the same id and aborts its open transaction.
    public func initTransactions(timeout: Duration = .seconds(30)) async throws {
        startPolling()
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            try client.initTransactions(timeoutMilliseconds: timeout.clampedMilliseconds)
        }
    }

    /// Begins a transaction; the messages sent until commit or abort belong to it.
    public func beginTransaction() throws {
        try lifecycle.using { () throws(KafkaError) in try client.beginTransaction() }
    }

    /// Commits consumed offsets (each the next offset to consume) as part of the transaction.
    public func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartitionOffset], group: KafkaConsumerGroupMetadata, timeout: Duration = .seconds(30)
    ) async throws {
        guard !offsets.isEmpty else { return }
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            try client.sendOffsetsToTransaction(offsets, group: group, timeoutMilliseconds: timeout.clampedMilliseconds)
        }
    }

    /// Flushes the transaction's messages and commits the transaction.
    public func commitTransaction(timeout: Duration = .seconds(30)) async throws {
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            try client.commitTransaction(timeoutMilliseconds: timeout.clampedMilliseconds)
        }
    }

    /// Adds consumed offsets of `group` to the transaction (when there are any) and commits it, in
    /// one blocking call: what ``sendOffsetsToTransaction(_:group:timeout:)`` then
    /// ``commitTransaction(timeout:)`` do, with one hand-off to the blocking queue instead of two.
    /// A commit that fails as retriable is tried again up to `commitAttempts` times in all (the
    /// offsets are not sent twice).
    public func commitTransaction(
        offsets: [KafkaTopicPartitionOffset], group: KafkaConsumerGroupMetadata?, commitAttempts: Int = 4,
        timeout: Duration = .seconds(30)
    ) async throws {
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            if let group, !offsets.isEmpty {
                try client.sendOffsetsToTransaction(
                    offsets, group: group, timeoutMilliseconds: timeout.clampedMilliseconds)
            }
            var attempt = 1
            while true {
                do throws(KafkaError) {
                    try client.commitTransaction(timeoutMilliseconds: timeout.clampedMilliseconds)
                    return
                } catch  where error.code == .transactionRetriable && attempt < commitAttempts {
                    attempt += 1
                }
            }
        }
    }

    /// Writes `messages` in the open transaction, adds the consumed `offsets` of `group` (when there
    /// are any) and commits — without first waiting for the messages' delivery reports: the commit
    /// flushes them (librdkafka ignores `linger.ms` while it does) and fails, abortable, when one
    /// was not delivered. Returns each message's outcome once the transaction committed.
    ///
    /// - Throws: `.transactionAbortable` without committing when a message could not be enqueued;
    ///   the commit's errors (see ``commitTransaction(offsets:group:commitAttempts:timeout:)``).
    public func sendAndCommitTransaction(
        _ messages: [KafkaProducerMessage], offsets: [KafkaTopicPartitionOffset], group: KafkaConsumerGroupMetadata?,
        commitAttempts: Int = 4, timeout: Duration = .seconds(30)
    ) async throws -> [Result<KafkaDeliveryReport, KafkaError>] {
        let batch = await enqueueAll(messages)
        if let failure = batch.firstFailure {
            await batch.wait()
            throw KafkaError(
                .transactionAbortable, "an output was not enqueued: \(failure.message)",
                rdKafkaErrorCode: failure.rdKafkaErrorCode)
        }
        try await commitTransaction(offsets: offsets, group: group, commitAttempts: commitAttempts, timeout: timeout)
        await batch.wait()
        return batch.settled()
    }

    /// Aborts the transaction: none of its messages or offsets become visible to `read_committed` readers.
    public func abortTransaction(timeout: Duration = .seconds(30)) async throws {
        try await client.blockingUse(lifecycle) { client throws(KafkaError) in
            try client.abortTransaction(timeoutMilliseconds: timeout.clampedMilliseconds)
        }
    }
}
