import Foundation

/// Connection settings and librdkafka properties shared by every Kafka client.
///
/// Any librdkafka property (see librdkafka's CONFIGURATION.md for 2.0.2) can be set through
/// ``properties``; a wrong name or value fails client creation with a ``KafkaError/Code/configuration``
/// error naming the property.
public struct KafkaConfiguration: Sendable {
    /// `host:port` pairs of the bootstrap brokers (`bootstrap.servers`).
    public var bootstrapServers: [String]
    /// librdkafka properties passed through verbatim (names as in librdkafka, e.g. `security.protocol`).
    /// A `bootstrap.servers` entry here is overridden by ``bootstrapServers`` when that is non-empty.
    public var properties: [String: String]
    /// `client.id` reported to the brokers.
    public var clientID: String

    /// Creates a configuration.
    public init(bootstrapServers: [String] = [], properties: [String: String] = [:], clientID: String = "payfleet") {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
        self.clientID = clientID
    }

    /// Creates a configuration from the process environment (12-factor):
    /// `KAFKA_BOOTSTRAP_SERVERS` (comma-separated) and every other `KAFKA_<NAME>` variable as the
    /// librdkafka property `<name>` lowercased with `_` replaced by `.`
    /// (`KAFKA_GROUP_INSTANCE_ID` → `group.instance.id`).
    ///
    /// - Parameters:
    ///   - environment: the variables to read (defaults to the process environment).
    ///   - bootstrapServers: a comma-separated list that wins over `KAFKA_BOOTSTRAP_SERVERS` (a `--bootstrap-servers` flag).
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        bootstrapServers: String? = nil
    ) -> KafkaConfiguration {
        var configuration = KafkaConfiguration()
        for (name, value) in environment where name.hasPrefix("KAFKA_") && name.count > "KAFKA_".count {
            let property = propertyName(forEnvironmentVariable: name)
            if property == "bootstrap.servers" { continue }
            configuration.properties[property] = value
        }
        let servers = bootstrapServers ?? environment["KAFKA_BOOTSTRAP_SERVERS"] ?? ""
        configuration.bootstrapServers = splitServers(servers)
        return configuration
    }

    /// The librdkafka property an environment variable maps to (`KAFKA_SASL_USERNAME` → `sasl.username`).
    public static func propertyName(forEnvironmentVariable name: String) -> String {
        String(name.dropFirst("KAFKA_".count)).lowercased().replacingOccurrences(of: "_", with: ".")
    }

    /// Splits a comma-separated broker list, dropping blanks.
    public static func splitServers(_ list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The effective librdkafka properties: role defaults, then ``properties``, then bootstrap servers and client id.
    func effectiveProperties(defaults: [String: String]) -> [String: String] {
        var result = defaults
        result["client.id"] = clientID
        for (name, value) in properties { result[name] = value }
        if !bootstrapServers.isEmpty { result["bootstrap.servers"] = bootstrapServers.joined(separator: ",") }
        return result
    }

    /// Whether a property holds credentials, so its value must never be logged or echoed in errors.
    static func isSensitive(_ property: String) -> Bool {
        let lowered = property.lowercased()
        return ["password", "secret", "jaas", "oauthbearer.config", "key.pem", "certificate.pem", "ssl.key", "token"]
            .contains { lowered.contains($0) }
    }
}
