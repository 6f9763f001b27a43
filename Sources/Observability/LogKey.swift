/// The structured-log metadata keys every PayFleet module uses, in one table so that log queries
/// (`out_trade_no="…"`) work the same across the worker, the ingress, the scheduler, the Kafka
/// client and the vendor clients.
public enum LogKey {
    // MARK: Orders and vendors

    /// The order a log line concerns. Present on every line about one order.
    public static let outTradeNo = "out_trade_no"
    /// The payment channel id (`wechat-v2`, …).
    public static let channel = "channel"
    /// The merchant alias from the merchants file.
    public static let merchant = "merchant"
    /// The vendor API a line concerns (`nativePay`, `getPayOrderInfo`, …).
    public static let api = "api"
    /// A vendor's free-text answer message (truncated; never a secret).
    public static let vendorMessage = "vendor_message"
    /// The path (and query) of a vendor API request.
    public static let path = "path"

    // MARK: Kafka

    /// A Kafka topic name.
    public static let topic = "topic"
    /// Several Kafka topic names, comma-separated.
    public static let topics = "topics"
    /// A Kafka partition number.
    public static let partition = "partition"
    /// Several partitions (a list or a count).
    public static let partitions = "partitions"
    /// A Kafka offset.
    public static let offset = "offset"
    /// A consumer group id.
    public static let group = "group"
    /// Messages held in the consumer's buffer.
    public static let buffered = "buffered"
    /// Buffered messages of revoked partitions dropped at a rebalance.
    public static let bufferedMessagesDropped = "buffered_messages_dropped"
    /// A rebalance event kind.
    public static let event = "event"
    /// A timeout in milliseconds.
    public static let timeoutMilliseconds = "timeout_ms"
    /// The bootstrap servers of a Kafka cluster.
    public static let bootstrapServers = "bootstrap.servers"
    /// A number of brokers.
    public static let brokers = "brokers"
    /// The librdkafka log facility of a line forwarded from librdkafka.
    public static let librdkafkaFacility = "librdkafka.facility"
    /// The librdkafka version string.
    public static let librdkafkaVersion = "librdkafka.version"
    /// The librdkafka built-in features.
    public static let librdkafkaFeatures = "librdkafka.features"
    /// The librdkafka version (short form on the worker's start line).
    public static let librdkafka = "librdkafka"

    // MARK: Roles and failures

    /// The process role (`worker`, `ingress`, `scheduler`, `dev`).
    public static let role = "role"
    /// A human-readable error description (never contains secrets).
    public static let error = "error"
    /// A short machine word for a failure or a dead-letter reason.
    public static let reason = "reason"
    /// A timer id.
    public static let timerID = "timer_id"
    /// A delay tier name (`5s`, `30s`, …).
    public static let tier = "tier"
}
