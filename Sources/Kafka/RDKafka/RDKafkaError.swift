import CRdKafka

/// librdkafka error codes as Swift values: names, texts and the classification the Kafka layer uses.
///
/// Every `rd_kafka_resp_err_t` is turned into an `Int32` (or a ``KafkaError``) here, so nothing outside
/// this folder needs the C enum.
enum RDKafkaErrorCode {
    static let noError: Int32 = RD_KAFKA_RESP_ERR_NO_ERROR.rawValue
    static let topicAlreadyExists: Int32 = RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue

    /// librdkafka's symbolic name of an error code, e.g. `_MSG_TIMED_OUT`.
    static func name(_ raw: Int32) -> String {
        String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: raw)))
    }

    /// librdkafka's readable text of an error code.
    static func text(_ raw: Int32) -> String {
        String(cString: rd_kafka_err2str(rd_kafka_resp_err_t(rawValue: raw)))
    }

    /// Whether retrying the same operation can succeed (timeouts, transport, leadership and coordinator moves).
    static func isRetriable(_ raw: Int32) -> Bool {
        switch rd_kafka_resp_err_t(rawValue: raw) {
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
            RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE, RD_KAFKA_RESP_ERR__WAIT_COORD:
            return true
        default:
            return false
        }
    }
}

extension KafkaError {
    /// Builds an error from a librdkafka error code.
    static func rd(
        _ code: Code, _ context: String, _ err: rd_kafka_resp_err_t, file: String = #fileID, line: Int = #line
    ) -> KafkaError {
        KafkaError(
            code, "\(context): \(RDKafkaErrorCode.text(err.rawValue))", rdKafkaErrorCode: err.rawValue, file: file,
            line: line)
    }

    /// Builds an error from a librdkafka error object (`rd_kafka_error_t*`, whose text can be more
    /// specific than the code's) and destroys the object.
    static func consuming(
        _ code: Code, _ context: String, _ error: OpaquePointer, file: String = #fileID, line: Int = #line
    ) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        let text = String(cString: rd_kafka_error_string(error))
        return KafkaError(
            code, "\(context): \(text)", rdKafkaErrorCode: rd_kafka_error_code(error).rawValue, file: file, line: line)
    }
}

extension KafkaErrorCodes {
    public static let notLeaderForPartition: Int32 = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue
    public static let notEnoughReplicas: Int32 = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS.rawValue
    public static let requestTimedOut: Int32 = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue
    public static let leaderNotAvailable: Int32 = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue
    public static let coordinatorNotAvailable: Int32 = RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue
    public static let notCoordinator: Int32 = RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue
    /// What a transaction coordinator answers a producer replaced by a newer one with the same transactional id.
    public static let producerFenced: Int32 = RD_KAFKA_RESP_ERR_PRODUCER_FENCED.rawValue
    public static let invalidProducerEpoch: Int32 = RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH.rawValue
    /// What a group coordinator answers an offset commit from a member of an older generation (a
    /// member the group moved on without).
    public static let illegalGeneration: Int32 = RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION.rawValue
}

extension KafkaOffset {
    /// The earliest available offset.
    public static let beginning: Int64 = Int64(RD_KAFKA_OFFSET_BEGINNING)
    /// The offset after the last message.
    public static let end: Int64 = Int64(RD_KAFKA_OFFSET_END)
    /// The stored/committed offset.
    public static let stored: Int64 = Int64(RD_KAFKA_OFFSET_STORED)
}
