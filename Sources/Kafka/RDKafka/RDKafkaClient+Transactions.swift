import CRdKafka

extension RDKafkaClient {
    /// Registers the `transactional.id` with the transaction coordinator (blocking), fencing any
    /// older producer with the same id and aborting its open transaction.
    func initTransactions(timeoutMilliseconds: Int32) throws(KafkaError) {
        try Self.checkTransactional(
            rd_kafka_init_transactions(handle, timeoutMilliseconds), "initializing transactions")
    }

    /// Starts a transaction (local, non-blocking).
    func beginTransaction() throws(KafkaError) {
        try Self.checkTransactional(rd_kafka_begin_transaction(handle), "beginning a transaction")
    }

    /// Adds consumed offsets (each the next offset to consume) of a consumer group to the transaction (blocking).
    func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartitionOffset], group: KafkaConsumerGroupMetadata, timeoutMilliseconds: Int32
    ) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets)
        let error = list.withPointer { pointer in
            group.withMetadataPointer { rd_kafka_send_offsets_to_transaction(handle, pointer, $0, timeoutMilliseconds) }
        }
        try Self.checkTransactional(error, "sending offsets to the transaction")
    }

    /// Flushes the transaction's messages and commits it (blocking).
    func commitTransaction(timeoutMilliseconds: Int32) throws(KafkaError) {
        try Self.checkTransactional(
            rd_kafka_commit_transaction(handle, timeoutMilliseconds), "committing the transaction")
    }

    /// Aborts the transaction: its messages are never visible to `read_committed` consumers (blocking).
    func abortTransaction(timeoutMilliseconds: Int32) throws(KafkaError) {
        try Self.checkTransactional(rd_kafka_abort_transaction(handle, timeoutMilliseconds), "aborting the transaction")
    }

    /// The group metadata of this consumer (member id, generation) for ``sendOffsetsToTransaction(_:group:timeoutMilliseconds:)``.
    func consumerGroupMetadata() throws(KafkaError) -> KafkaConsumerGroupMetadata {
        guard let metadata = rd_kafka_consumer_group_metadata(handle) else {
            throw KafkaError(.consumer, "the consumer has no group metadata (no group.id)")
        }
        return KafkaConsumerGroupMetadata(owning: metadata)
    }

    /// Classifies a transactional API error the way librdkafka asks the application to react:
    /// `.fatal` (recreate the producer; fencing is one), `.transactionAbortable` (abort, then begin a
    /// new transaction), `.transactionRetriable` (call the same method again), else `.transaction`.
    private static func checkTransactional(_ error: OpaquePointer?, _ context: String) throws(KafkaError) {
        guard let error else { return }
        let code: KafkaError.Code =
            if rd_kafka_error_is_fatal(error) != 0 {
                .fatal
            } else if rd_kafka_error_txn_requires_abort(error) != 0 {
                .transactionAbortable
            } else if rd_kafka_error_is_retriable(error) != 0 {
                .transactionRetriable
            } else {
                .transaction
            }
        throw KafkaError.consuming(code, context, error)
    }
}

/// A consumer group's identity and generation, handed to a transactional producer so that the broker
/// commits consumed offsets atomically with the produced messages (and rejects them from a member the
/// group has since replaced).
///
/// `@unchecked Sendable`: the wrapped `rd_kafka_consumer_group_metadata_t` is never changed after
/// creation and librdkafka only reads it; it is destroyed once, in `deinit`.
public final class KafkaConsumerGroupMetadata: @unchecked Sendable {
    private let pointer: OpaquePointer

    fileprivate init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    /// Metadata carrying only a group id (no member id or generation: the broker cannot fence a
    /// stale member with it). Prefer ``KafkaConsumer/groupMetadata()``.
    public convenience init(groupID: String) {
        self.init(owning: rd_kafka_consumer_group_metadata_new(groupID))
    }

    deinit { rd_kafka_consumer_group_metadata_destroy(pointer) }

    /// Calls `body` with the C object; it lives at least until `body` returns.
    func withMetadataPointer<T>(_ body: (OpaquePointer) -> T) -> T {
        defer { withExtendedLifetime(self) {} }
        return body(pointer)
    }
}

extension RDKafkaErrorCode {
    /// The producer was replaced by a newer one with the same `transactional.id` (or its epoch is stale).
    static func isFenced(_ raw: Int32) -> Bool {
        raw == RD_KAFKA_RESP_ERR_PRODUCER_FENCED.rawValue || raw == RD_KAFKA_RESP_ERR__FENCED.rawValue
            || raw == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH.rawValue
    }
}
