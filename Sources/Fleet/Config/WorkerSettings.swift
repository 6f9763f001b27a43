import Foundation
import Kafka
import Payments

/// The settings of `payfleet worker`, read from the environment (12-factor).
///
/// ## Environment variables
/// - `KAFKA_BOOTSTRAP_SERVERS` and every other `KAFKA_<NAME>` (passed to librdkafka as `<name>`).
/// - `PAYFLEET_MERCHANTS`: the merchants file (required to run).
/// - `PAYFLEET_NOTIFY_BASE_URL`: overrides the merchants file's `notify_base_url`.
/// - `PAYFLEET_TOPICS_DIR` (default `topics`).
/// - `PAYFLEET_GROUP_ID` (default `payfleet-worker`).
/// - `PAYFLEET_ORDER_TTL` (default `2h`): expiry of orders without `expires_at`.
/// - `PAYFLEET_STATE_RETENTION` (default `36h4m`, ``defaultStateRetention``): how long a terminal
///   order's summary is kept (late callbacks, repeated creates, refunds) before it is tombstoned.
/// - `PAYFLEET_MAX_IN_FLIGHT` (default 64): orders processed concurrently per worker.
/// - `PAYFLEET_SHUTDOWN_TIMEOUT` (default `20s`): how long graceful shutdown and revocation wait for in-flight work.
///   The whole graceful shutdown takes at most this plus 20 s (``gracefulShutdownBound``); give the
///   container a grace period of at least this plus 25 s.
/// - `PAYFLEET_VENDOR_TIMEOUT` (default `10s`): deadline of one vendor HTTP call.
/// - `PAYFLEET_WORKER_TRANSACTIONS` (default `true`): write each group of outputs, with the input
///   offsets, in one Kafka transaction (`false`: idempotent writes; revoked work is still fenced
///   inside the process, but not a worker the group expelled without its knowing).
/// - `PAYFLEET_WORKER_GROUP_INTERVAL` (default `0ms`, ``defaultOutputGroupInterval``, at most `1s`):
///   the shortest time between the starts of two groups of outputs (transactions); writes arriving
///   within it share the next group.
/// - `PAYFLEET_TRANSACTIONAL_ID` (default `<group>-<host name>-<process id>`, ``transactionalID``):
///   the worker's `transactional.id`; unique per live worker.
/// - `PAYFLEET_HTTP_HOST` / `PAYFLEET_HTTP_PORT`, `PAYFLEET_LOG_LEVEL` / `PAYFLEET_LOG_FORMAT` (shared runtime).
public struct WorkerSettings: Sendable {
    /// Kafka connection and librdkafka pass-through properties.
    public var kafka: KafkaConfiguration = KafkaConfiguration()
    /// The consumer group of the workers.
    public var groupID: String = "payfleet-worker"
    /// Where the topic definitions live.
    public var topicsDirectory: String = "topics"
    /// The merchants file.
    public var merchantsPath: String?
    /// Overrides the merchants file's `notify_base_url`.
    public var notifyBaseURL: String?
    /// Expiry of orders whose request has no `expires_at`.
    public var orderTTL: Duration = .seconds(7200)
    /// How long a terminal order's state is kept before it is tombstoned.
    public var stateRetention: Duration = WorkerSettings.defaultStateRetention
    /// A partition kept across a rebalance and assigned again after longer than this is restored in
    /// full instead of from its kept offset: the `delete.retention.ms` of `payfleet.order-state`
    /// (tombstones another owner wrote meanwhile may be compacted away after it).
    public var stateResumeLimit: Duration = WorkerSettings.changelogDeleteRetention
    /// Orders processed concurrently by one worker (across its partitions).
    public var maxInFlight: Int = 64
    /// How long shutdown and partition revocation wait for in-flight orders.
    public var shutdownTimeout: Duration = .seconds(20)
    /// Deadline of one vendor HTTP call.
    public var vendorTimeout: Duration = .seconds(10)
    /// Probe and metrics server.
    public var http: HTTPSettings = HTTPSettings()
    /// Log level and format.
    public var logging: LoggingSettings = LoggingSettings()
    /// Whether outputs and input offsets are written in Kafka transactions.
    public var transactions: Bool = true
    /// The shortest time between the starts of two output groups (transactions): writes that arrive
    /// within it share the next group (``defaultOutputGroupInterval``).
    public var outputGroupInterval: Duration = WorkerSettings.defaultOutputGroupInterval

    /// None: each group starts as soon as the one before it is durable. An interval (20 ms) halves
    /// the transactions a loaded worker commits, each of which costs round trips to the transaction
    /// coordinator, a marker in every partition it wrote and, on librdkafka 2.0.2, about 2 ms of its
    /// main thread's CPU; but every write may wait for it, so a worker limited by its in-flight
    /// orders rather than its CPU completes fewer orders per second (docs/operations.md).
    public static let defaultOutputGroupInterval = Duration.zero
    /// The `transactional.id` prefix; `nil` derives it from the group, host name and process id.
    public var transactionalIDPrefix: String?

    public init() {}

    /// The `transactional.id` of the `instance`-th worker of this process (counted from 1).
    ///
    /// Unique per live worker, as a transactional id must be (a second producer with the same id
    /// fences the first). Zombie fencing does not rely on it: the consumer group's generation sent
    /// with every transaction's offsets does (KIP-447). In a container the process id is 1 and the
    /// host name the pod's, so a restarted container gets its predecessor's id back and
    /// `initTransactions` aborts the transaction the crash left open at once, instead of
    /// `read_committed` readers waiting for `transaction.timeout.ms`.
    public func transactionalID(instance: Int) -> String {
        let prefix =
            transactionalIDPrefix
            ?? "\(groupID)-\(Self.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        return instance == 1 ? prefix : "\(prefix)-\(instance)"
    }

    /// Reads the environment variables listed on the type.
    ///
    /// - Parameters:
    ///   - environment: the variables (defaults to the process environment).
    ///   - bootstrapServers: a `--bootstrap-servers` flag, which wins over `KAFKA_BOOTSTRAP_SERVERS`.
    /// - Throws: ``ConfigurationError`` naming the variable (never echoing its value).
    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        bootstrapServers: String? = nil
    ) throws(ConfigurationError) {
        kafka = KafkaConfiguration.fromEnvironment(environment, bootstrapServers: bootstrapServers)
        kafka.clientID = "payfleet-worker"
        if let value = Self.nonEmpty(environment, "PAYFLEET_GROUP_ID") { groupID = value }
        if let value = Self.nonEmpty(environment, "PAYFLEET_TOPICS_DIR") { topicsDirectory = value }
        merchantsPath = Self.nonEmpty(environment, "PAYFLEET_MERCHANTS")
        notifyBaseURL = Self.nonEmpty(environment, "PAYFLEET_NOTIFY_BASE_URL")
        orderTTL = try Self.duration(environment, "PAYFLEET_ORDER_TTL", default: orderTTL, minimum: .seconds(1))
        stateRetention = try Self.duration(
            environment, "PAYFLEET_STATE_RETENTION", default: stateRetention, minimum: .seconds(60))
        shutdownTimeout = try Self.duration(
            environment, "PAYFLEET_SHUTDOWN_TIMEOUT", default: shutdownTimeout, minimum: .milliseconds(100))
        vendorTimeout = try Self.duration(
            environment, "PAYFLEET_VENDOR_TIMEOUT", default: vendorTimeout, minimum: .milliseconds(100))
        if let raw = Self.nonEmpty(environment, "PAYFLEET_MAX_IN_FLIGHT") {
            guard let value = Int(raw), (1...100_000).contains(value) else {
                throw ConfigurationError(
                    setting: "PAYFLEET_MAX_IN_FLIGHT", message: "must be an integer from 1 to 100000")
            }
            maxInFlight = value
        }
        if let raw = Self.nonEmpty(environment, "PAYFLEET_WORKER_TRANSACTIONS") {
            switch raw.lowercased() {
            case "true", "1", "yes": transactions = true
            case "false", "0", "no": transactions = false
            default:
                throw ConfigurationError(setting: "PAYFLEET_WORKER_TRANSACTIONS", message: "must be true or false")
            }
        }
        outputGroupInterval = try Self.duration(
            environment, "PAYFLEET_WORKER_GROUP_INTERVAL", default: outputGroupInterval, minimum: .zero)
        guard outputGroupInterval <= .seconds(1) else {
            throw ConfigurationError(setting: "PAYFLEET_WORKER_GROUP_INTERVAL", message: "must be at most 1s")
        }
        transactionalIDPrefix = Self.nonEmpty(environment, "PAYFLEET_TRANSACTIONAL_ID")
        http = try HTTPSettings(environment: environment)
        logging = try LoggingSettings(environment: environment)
    }

    // MARK: State retention

    /// How long each channel's vendor keeps re-sending a payment notification that was not
    /// acknowledged, from the first attempt to the last (docs/operations.md, "State retention").
    public static let callbackRetryWindows: [ChannelID: Duration] = [
        // 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h.
        .wechatV2: .seconds(24 * 3600 + 4 * 60),
        .wechatV3Combine: .seconds(24 * 3600 + 4 * 60),
        // "up to 15 times" / "会一直通知" without published intervals: WeChat's schedule is assumed.
        .yungouos: .seconds(24 * 3600 + 4 * 60),
        .leshouying: .seconds(24 * 3600 + 4 * 60),
        // 0/15s/15s/15s/30s/3m/3m/30m/30m/30m/30m/1h.
        .storepos: .seconds(3 * 3600 + 7 * 60 + 15),
    ]

    /// Kept beyond the longest callback schedule: consumer lag or an outage that delays callbacks
    /// already on `payfleet.callbacks`, and a vendor retrying later than it documents.
    public static let stateRetentionMargin: Duration = .seconds(12 * 3600)

    /// The longest vendor callback schedule plus ``stateRetentionMargin`` (36 h 4 min).
    public static var defaultStateRetention: Duration {
        (callbackRetryWindows.values.max() ?? .zero) + stateRetentionMargin
    }

    /// `delete.retention.ms` of `payfleet.order-state` as built into the binary (24 h when unreadable).
    public static let changelogDeleteRetention: Duration = {
        let text = (try? TopicCatalog.builtIn())?[FleetTopic.orderState]?.configs["delete.retention.ms"]
        guard let text, let milliseconds = Int64(text), milliseconds > 0 else { return .seconds(86_400) }
        return .milliseconds(milliseconds)
    }()

    /// After in-flight work: the final commit, revocation and LeaveGroup.
    public static let consumerCloseBound: Duration = .seconds(10)
    /// After the consumer closed: flushing the producer.
    public static let producerCloseBound: Duration = .seconds(5)

    /// The upper bound of the worker's whole graceful shutdown: in-flight work (`shutdownTimeout`,
    /// plus 5 s for cancelled calls to unwind and the finished offsets to be committed), the consumer
    /// close and the producer flush. The process cancels whatever is still running after it.
    public var gracefulShutdownBound: Duration {
        shutdownTimeout + .seconds(5) + Self.consumerCloseBound + Self.producerCloseBound
    }

    /// The `transaction.timeout.ms` of the worker's producer unless `KAFKA_TRANSACTION_TIMEOUT_MS`
    /// sets it: how long a transaction left open by a worker that crashed can hold back
    /// `read_committed` readers of its partitions before the broker aborts it. A group's transaction
    /// lasts milliseconds; 15 s leaves room for a slow broker.
    public static let transactionTimeout: Duration = .seconds(15)

    /// The machine's host name (`gethostname`, no name service lookup).
    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }()

    /// The state machine configuration these settings imply.
    public var machine: OrderMachineConfiguration {
        var configuration = OrderMachineConfiguration()
        configuration.defaultTTL = orderTTL
        configuration.stateRetention = stateRetention
        return configuration
    }

    static func nonEmpty(_ environment: [String: String], _ name: String) -> String? {
        guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    static func duration(
        _ environment: [String: String], _ name: String, default value: Duration, minimum: Duration
    ) throws(ConfigurationError) -> Duration {
        guard let raw = nonEmpty(environment, name) else { return value }
        guard let parsed = DurationParser.parse(raw) else {
            throw ConfigurationError(setting: name, message: "must be a duration such as 90s, 30m, 2h or 1h30m")
        }
        guard parsed >= minimum else {
            throw ConfigurationError(setting: name, message: "must be at least \(minimum)")
        }
        return parsed
    }
}
