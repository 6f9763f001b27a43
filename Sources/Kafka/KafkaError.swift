/// An error raised by the Kafka layer.
///
/// Errors are structs with a ``Code`` that is safe to use as a metric label (``shortDescription``)
/// and a human-readable ``message``. Messages never contain configuration values of sensitive
/// properties (passwords, keys).
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure. Compare against the static constants; do not switch exhaustively.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        private init(_ name: String) { self.name = name }

        /// A librdkafka property name or value was rejected, or a required setting is missing.
        public static let configuration = Code("configuration")
        /// The linked librdkafka is older than the tested minimum.
        public static let unsupportedLibrary = Code("unsupported_library")
        /// Creating a librdkafka client failed.
        public static let clientCreation = Code("client_creation")
        /// A message could not be enqueued or its delivery failed.
        public static let delivery = Code("delivery")
        /// A consumer operation (subscribe, store, commit, seek, pause) failed.
        public static let consumer = Code("consumer")
        /// A partition is not assigned to this consumer (e.g. storing an offset after revocation).
        public static let notAssigned = Code("not_assigned")
        /// A metadata or watermark query failed.
        public static let metadata = Code("metadata")
        /// An admin operation (create/describe topics) failed.
        public static let admin = Code("admin")
        /// A topic definition file is invalid.
        public static let topicDefinition = Code("topic_definition")
        /// An existing topic does not match its definition (e.g. co-partitioning broken).
        public static let topicConflict = Code("topic_conflict")
        /// The client was already closed.
        public static let closed = Code("closed")
        /// An operation did not finish before its deadline.
        public static let timedOut = Code("timed_out")
        /// librdkafka raised a fatal error; the client must be recreated.
        public static let fatal = Code("fatal")
        /// A transactional call failed; the transaction must be aborted before a new one begins.
        public static let transactionAbortable = Code("transaction_abortable")
        /// A transactional call failed for a passing reason; calling it again may succeed.
        public static let transactionRetriable = Code("transaction_retriable")
        /// A transactional call was refused (e.g. no transaction begun, transactions not configured).
        public static let transaction = Code("transaction")
        /// The embedded (mock) cluster failed.
        public static let embeddedBroker = Code("embedded_broker")

        public var description: String { name }
    }

    /// The kind of failure.
    public let code: Code
    /// A readable explanation.
    public let message: String
    /// The librdkafka error code (`rd_kafka_resp_err_t`) when one was involved.
    public let rdKafkaErrorCode: Int32?
    /// Where the error was raised.
    public let file: String
    /// Where the error was raised.
    public let line: Int

    /// Creates an error.
    public init(
        _ code: Code,
        _ message: String,
        rdKafkaErrorCode: Int32? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.rdKafkaErrorCode = rdKafkaErrorCode
        self.file = file
        self.line = line
    }

    /// A bounded string without associated values, suitable as a metric label.
    public var shortDescription: String { code.name }

    /// Whether librdkafka considers the underlying error retriable (timeouts, transport errors).
    public var isRetriable: Bool {
        guard let raw = rdKafkaErrorCode else { return code == .timedOut }
        return RDKafkaErrorCode.isRetriable(raw)
    }

    /// Whether a newer producer with the same `transactional.id` has fenced this one: it must stop
    /// writing (its open transaction was aborted).
    public var isFenced: Bool {
        rdKafkaErrorCode.map(RDKafkaErrorCode.isFenced) ?? false
    }

    public var description: String {
        if let raw = rdKafkaErrorCode {
            return "KafkaError.\(code.name): \(message) [\(KafkaError.name(of: raw))]"
        }
        return "KafkaError.\(code.name): \(message)"
    }

    /// The librdkafka symbolic name of an error code, e.g. `_MSG_TIMED_OUT`.
    static func name(of raw: Int32) -> String { RDKafkaErrorCode.name(raw) }
}
