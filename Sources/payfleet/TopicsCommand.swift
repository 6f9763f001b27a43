import ArgumentParser
import Foundation
import Kafka
import Logging

/// `payfleet topics`: the topic contract in `topics/` — validate, apply to a cluster, render for Strimzi.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Validate, apply or render the topic definitions of topics/.",
        subcommands: [Apply.self, Render.self, Validate.self]
    )

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create missing topics and verify existing ones (idempotent).",
            discussion: """
                Exits 0 when every topic exists and matches; 2 when an existing topic breaks a co-partition \
                group (nothing is changed); 1 on other errors. Environment: KAFKA_BOOTSTRAP_SERVERS and \
                KAFKA_* (librdkafka properties), PAYFLEET_TOPICS_DIR.
                """
        )

        @OptionGroup var kafkaOptions: KafkaOptions

        @OptionGroup var topicsOptions: TopicsOptions

        @Option(help: "Override every topic's replication factor (e.g. 1 on a single-broker cluster).")
        var replicationFactor: Int?

        func run() async throws {
            let logger = KafkaCLI.logger("payfleet.topics")
            let catalog = try topicsOptions.catalog()
            let configuration = try kafkaOptions.configuration(ProcessInfo.processInfo.environment)
            let admin = try KafkaAdminClient(configuration: configuration, logger: logger)
            do {
                let report = try await TopicApplier(admin: admin, logger: logger).apply(
                    catalog, replicationFactor: replicationFactor)
                await admin.close()
                for name in report.created { KafkaCLI.printLine("created  \(name)") }
                for name in report.verified { KafkaCLI.printLine("verified \(name)") }
                for warning in report.warnings { KafkaCLI.printLine("warning  \(warning)") }
            } catch let error as KafkaError where error.code == .topicConflict {
                await admin.close()
                KafkaCLI.printError("error: \(error.message)")
                throw ExitCode(2)
            } catch {
                await admin.close()
                throw error
            }
        }
    }

    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the topics as Kubernetes resources.")

        enum Format: String, ExpressibleByArgument { case strimzi }

        @Option(help: "Output format (strimzi: KafkaTopic, kafka.strimzi.io/v1beta2).")
        var format: Format = .strimzi

        @Option(help: "Name of the Strimzi Kafka resource (label strimzi.io/cluster).")
        var cluster: String

        @Option(help: "metadata.namespace of the resources.")
        var namespace: String?

        @OptionGroup var topicsOptions: TopicsOptions

        func run() async throws {
            let catalog = try topicsOptions.catalog()
            let renderer = try StrimziTopicRenderer(clusterName: cluster, namespace: namespace)
            KafkaCLI.printRaw(renderer.render(catalog))
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check the topic definitions and list them.")

        @OptionGroup var topicsOptions: TopicsOptions

        func run() async throws {
            let catalog = try topicsOptions.catalog()
            for topic in catalog.topics {
                let group = topic.coPartitionGroup.map { " co-partition=\($0)" } ?? ""
                KafkaCLI.printLine(
                    "\(topic.name) partitions=\(topic.partitions) replication=\(topic.replicationFactor) cleanup=\(topic.configs["cleanup.policy"] ?? "delete")\(group)"
                )
            }
        }
    }
}
