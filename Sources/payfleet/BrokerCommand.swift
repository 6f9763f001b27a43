import ArgumentParser
import Foundation
import Kafka
import Logging

/// `payfleet broker`: librdkafka's mock cluster on loopback with every topic of `topics/` provisioned.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run an embedded Kafka cluster (librdkafka mock, loopback) with the PayFleet topics.",
        discussion: """
            Prints `bootstrap.servers=HOST:PORT,...` as the first line of standard output (logs go to \
            standard error), provisions every PayFleet topic (the definitions built into the binary, or --topics-dir / PAYFLEET_TOPICS_DIR), and runs until SIGINT or \
            SIGTERM. Any Kafka client (kcat, confluent-kafka, payfleet roles) can use it. The mock keeps \
            data in memory only, ignores topic configs (no compaction) and cannot create topics through \
            the admin API. Environment: PAYFLEET_TOPICS_DIR, PAYFLEET_LOG_LEVEL.
            """
    )

    @Option(help: "Number of mock brokers.")
    var brokers: Int = 1

    @Option(help: "Also write the bootstrap list to this file (removed on exit).")
    var bootstrapFile: String?

    @OptionGroup var topicsOptions: TopicsOptions

    @Flag(help: "Start without provisioning any topic.")
    var noTopics = false

    func run() async throws {
        let logger = KafkaCLI.logger("payfleet.broker")
        let catalog: TopicCatalog? = noTopics ? nil : try topicsOptions.catalog()
        let cluster = try EmbeddedKafkaCluster(brokers: brokers, logger: logger)
        defer { cluster.shutdown() }
        if let catalog {
            try cluster.provision(catalog)
            logger.info("topics provisioned", metadata: ["topics": "\(catalog.topics.count)"])
        }
        if let bootstrapFile {
            try Data((cluster.bootstrapServers + "\n").utf8).write(
                to: URL(fileURLWithPath: bootstrapFile), options: .atomic)
        }
        KafkaCLI.printLine("bootstrap.servers=\(cluster.bootstrapServers)")
        let signal = await KafkaCLI.waitForTermination()
        logger.info("stopping embedded Kafka cluster", metadata: ["signal": "\(signal)"])
        if let bootstrapFile { try? FileManager.default.removeItem(atPath: bootstrapFile) }
    }
}
