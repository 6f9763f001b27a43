import ArgumentParser
import Kafka

/// `--bootstrap-servers`, shared by every command that talks to a running cluster.
struct KafkaOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers (overrides KAFKA_BOOTSTRAP_SERVERS).")
    var bootstrapServers: String?

    /// The Kafka settings from the environment with `--bootstrap-servers` applied; fails without servers.
    func configuration(_ environment: [String: String]) throws -> KafkaConfiguration {
        let kafka = KafkaConfiguration.fromEnvironment(environment, bootstrapServers: bootstrapServers)
        guard !kafka.bootstrapServers.isEmpty else {
            throw ValidationError("no Kafka bootstrap servers: set KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers")
        }
        return kafka
    }
}

/// `--merchants`, shared by the roles that serve merchants.
struct MerchantsOptions: ParsableArguments {
    @Option(help: "The merchants file (overrides PAYFLEET_MERCHANTS).")
    var merchants: String?

    /// `--merchants`, else `PAYFLEET_MERCHANTS`; fails when neither names a file.
    func path(_ environment: [String: String]) throws -> String {
        guard let path = merchants ?? environment["PAYFLEET_MERCHANTS"], !path.isEmpty else {
            throw ValidationError("no merchants file: set PAYFLEET_MERCHANTS or --merchants")
        }
        return path
    }
}

/// `--topics-dir`, shared by the commands that read the topic definitions.
struct TopicsOptions: ParsableArguments {
    @Option(
        help:
            "Directory of topic definitions (default: PAYFLEET_TOPICS_DIR, else the definitions built into the binary)."
    )
    var topicsDir: String?

    /// The topic catalog: `--topics-dir`, else PAYFLEET_TOPICS_DIR's, else the built-in definitions.
    func catalog() throws -> TopicCatalog {
        try KafkaCLI.topicCatalog(topicsDir)
    }
}

/// Numbers from environment variables, checked like options.
enum EnvironmentNumber {
    static func integer(_ environment: [String: String], _ name: String) throws -> Int? {
        guard let text = environment[name], !text.isEmpty else { return nil }
        guard let value = Int(text) else { throw ValidationError("\(name) must be an integer") }
        return value
    }

    static func double(_ environment: [String: String], _ name: String) throws -> Double? {
        guard let text = environment[name], !text.isEmpty else { return nil }
        guard let value = Double(text) else { throw ValidationError("\(name) must be a number") }
        return value
    }

    /// The sandbox's time scale and autopay delay: the option, else `PAYFLEET_SANDBOX_TIME_SCALE` /
    /// `PAYFLEET_SANDBOX_AUTOPAY_MS`, else `nil` (scale 1, no autopay).
    static func sandboxTiming(
        timeScale: Double?, autopayMilliseconds: Int?, _ environment: [String: String]
    ) throws -> (timeScale: Double?, autopay: Duration?) {
        let scale = try timeScale ?? double(environment, "PAYFLEET_SANDBOX_TIME_SCALE")
        if let scale {
            guard scale > 0, scale.isFinite else { throw ValidationError("the sandbox time scale must be positive") }
        }
        let autopay = try autopayMilliseconds ?? integer(environment, "PAYFLEET_SANDBOX_AUTOPAY_MS")
        if let autopay {
            guard autopay >= 0 else { throw ValidationError("the sandbox autopay delay must be >= 0 ms") }
        }
        return (scale, autopay.map { .milliseconds($0) })
    }
}
