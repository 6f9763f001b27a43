import Metrics

/// The Kafka client metrics of a role (OpenTelemetry messaging names): messages consumed, messages
/// sent (acknowledged or failed) and the time to handle a consumed message. Built once per role
/// from a `MetricsFactory`; the topics are the role's configured topics (a bounded set).
public struct MessagingInstruments: Sendable {
    /// `messaging_system` of every sample.
    public static let system = "kafka"

    /// The consumer group of the role (`messaging_consumer_group_name`).
    public let group: String
    private let consumedMessages: InstrumentFamily<String, Counter>
    private let sentMessages: InstrumentFamily<SentKey, Counter>
    private let processDuration: InstrumentFamily<String, Timer>

    private struct SentKey: Hashable, Sendable {
        var topic: String
        var errorType: String
    }

    public init(group: String, factory: any MetricsFactory) {
        self.group = group
        let system = Self.system
        consumedMessages = MetricDefinition.consumedMessages.counters(factory: factory) { (topic: String) in
            [system, topic, group]
        }
        sentMessages = MetricDefinition.sentMessages.counters(factory: factory) { (key: SentKey) in
            [system, key.topic, key.errorType]
        }
        processDuration = MetricDefinition.processDuration.timers(factory: factory) { (topic: String) in
            [system, topic, group]
        }
    }

    /// One message read from `topic`.
    public func consumed(topic: String) {
        consumedMessages[topic].increment()
    }

    /// `count` messages written to `topic`: acknowledged (`errorType` nil) or failed with the Kafka
    /// error code name `errorType`.
    public func sent(topic: String, count: Int = 1, errorType: String? = nil) {
        sentMessages[SentKey(topic: topic, errorType: errorType ?? "")].increment(by: count)
    }

    /// One message of `topic` handled in `duration`.
    public func processed(topic: String, duration: Duration) {
        processDuration[topic].record(duration: duration)
    }
}
