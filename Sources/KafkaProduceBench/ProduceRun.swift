import Foundation
import Kafka
import Logging

/// One run of `payfleet bench kafka`'s PayFleet producer: the same messages as kcat's input file
/// (`order-<i % 10000>` keys, `valueSize` bytes of `x`), written with
/// ``KafkaProducer/sendAllWithoutReports(_:)`` (kcat, too, keeps no report) to an existing topic;
/// the producer is closed before it returns.
///
/// Both producer processes of the benchmark run it: `payfleet-kafka-produce` (a process holding
/// only the Kafka module, as kcat holds only librdkafka) and the hidden `payfleet bench
/// kafka-produce` (the whole `payfleet` binary).
public struct ProduceRun: Sendable {
    /// Where the process's time went after it entered the run.
    public struct Phases: Sendable {
        /// From entering the run to the first enqueue: producer created and connected, the topic's
        /// metadata, the messages built.
        public var ready: Duration
        /// From the first enqueue to the last delivery report.
        public var sending: Duration
        /// Flushing and destroying the producer.
        public var closing: Duration

        /// The `name=seconds` line the parent reads.
        public var line: String {
            "seconds=\(Self.seconds(sending)) ready=\(Self.seconds(ready)) closing=\(Self.seconds(closing))"
        }

        static func seconds(_ duration: Duration) -> Double {
            let (s, atto) = duration.components
            return Double(s) + Double(atto) / 1e18
        }
    }

    public var kafka: KafkaConfiguration
    public var topic: String
    public var messages: Int
    public var valueSize: Int
    /// The producer's ``KafkaProducerConfiguration/sendWindow`` (`nil`: its default).
    public var sendWindow: Int?

    public init(kafka: KafkaConfiguration, topic: String, messages: Int, valueSize: Int, sendWindow: Int? = nil) {
        self.kafka = kafka
        self.topic = topic
        self.messages = messages
        self.valueSize = valueSize
        self.sendWindow = sendWindow
    }

    /// Produces the messages and returns the phases.
    ///
    /// `linger.ms` is 0 unless the configuration sets it: kcat ends with `rd_kafka_flush`, which
    /// sends the last partial batches at once; a sender awaiting its acknowledgements has no such
    /// call (in 2.0.2 it only waits), and with librdkafka's default 5 ms it would wait that long
    /// for the last batches. Earlier batches fill while requests are in flight either way.
    public func run(logger: Logger) async throws -> Phases {
        var kafka = self.kafka
        if kafka.properties["linger.ms"] == nil { kafka.properties["linger.ms"] = "0" }
        var configuration = KafkaProducerConfiguration(kafka: kafka, closeTimeout: .seconds(30))
        if let sendWindow { configuration.sendWindow = sendWindow }
        let payload = Data(repeating: UInt8(ascii: "x"), count: valueSize)
        let topic = self.topic
        let count = messages
        let entered = ContinuousClock.now
        var ready = entered
        var sent = entered
        // The producer first, then the input, as kcat does: librdkafka connects (and, idempotent,
        // gets its producer id) on its own threads while the messages are built.
        try await withKafkaProducer(configuration: configuration, logger: logger) { producer in
            // kcat creates its topic handle, which asks for the topic's metadata, before reading its
            // input; here the topic's metadata is asked for while the messages are built, and awaited
            // before sending. (Sending before the answer is slower: librdkafka then holds the
            // messages unpartitioned and moves each one to its partition when the answer comes,
            // measured at 0.57 against 0.61 of kcat's rate, 2.67 against 2.27 µs of CPU per message.)
            async let partitions = producer.partitionCount(topic: topic)
            // The 10,000 distinct keys are encoded once (kcat reads its keys ready-made too).
            let keys = (0..<min(count, 10_000)).map { Data("order-\($0)".utf8) }
            let batch = [KafkaProducerMessage](unsafeUninitializedCapacity: count) { buffer, initialized in
                for index in 0..<count {
                    (buffer.baseAddress! + index).initialize(
                        to: KafkaProducerMessage(topic: topic, key: keys[index % 10_000], value: payload))
                }
                initialized = count
            }
            _ = try await partitions
            ready = .now
            // Every message acknowledged, or the first failure thrown.
            try await producer.sendAllWithoutReports(batch)
            sent = .now
        }
        let closed = ContinuousClock.now
        return Phases(
            ready: entered.duration(to: ready), sending: ready.duration(to: sent), closing: sent.duration(to: closed))
    }
}
