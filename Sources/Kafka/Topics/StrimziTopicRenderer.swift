import Foundation

/// Renders a ``TopicCatalog`` as Strimzi `KafkaTopic` resources (`kafka.strimzi.io/v1beta2`).
public struct StrimziTopicRenderer: Sendable {
    /// The Strimzi `Kafka` resource the topics belong to (label `strimzi.io/cluster`).
    public var clusterName: String
    /// Namespace to put in the metadata, if any.
    public var namespace: String?

    /// Creates a renderer.
    public init(clusterName: String, namespace: String? = nil) throws {
        guard Self.isValidName(clusterName) else {
            throw KafkaError(.configuration, "Strimzi cluster name '\(clusterName)' is not a valid Kubernetes name")
        }
        if let namespace, !Self.isValidLabel(namespace) {
            throw KafkaError(.configuration, "namespace '\(namespace)' is not a valid Kubernetes namespace name")
        }
        self.clusterName = clusterName
        self.namespace = namespace
    }

    /// Multi-document YAML, one `KafkaTopic` per topic, in name order.
    public func render(_ catalog: TopicCatalog) -> String {
        catalog.topics.map(render).joined(separator: "---\n")
    }

    /// One `KafkaTopic` document.
    public func render(_ topic: TopicDefinition) -> String {
        var lines = [
            "apiVersion: kafka.strimzi.io/v1beta2",
            "kind: KafkaTopic",
            "metadata:",
            "  name: \(quote(Self.resourceName(for: topic.name)))",
        ]
        if let namespace { lines.append("  namespace: \(quote(namespace))") }
        lines += [
            "  labels:",
            "    strimzi.io/cluster: \(quote(clusterName))",
            "    app.kubernetes.io/part-of: payfleet",
        ]
        if let group = topic.coPartitionGroup { lines.append("    payfleet.dev/co-partition-group: \(quote(group))") }
        lines += [
            "spec:",
            "  topicName: \(quote(topic.name))",
            "  partitions: \(topic.partitions)",
            "  replicas: \(topic.replicationFactor)",
        ]
        if !topic.configs.isEmpty {
            lines.append("  config:")
            for (name, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                lines.append("    \(name): \(quote(value))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A Kubernetes resource name for a topic: lowercase, `_` → `-` (RFC 1123 subdomain).
    public static func resourceName(for topic: String) -> String {
        let lowered = topic.lowercased().map { $0 == "_" ? "-" : $0 }
        var name = String(lowered).trimmingCharacters(in: CharacterSet(charactersIn: ".-"))
        if name.isEmpty { name = "topic" }
        return String(name.prefix(253))
    }

    private func quote(_ text: String) -> String {
        var escaped = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped + "\""
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 253
            && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isValidLabel(String($0)) }
    }

    static func isValidLabel(_ label: String) -> Bool {
        guard !label.isEmpty, label.count <= 63, let first = label.first, let last = label.last else { return false }
        let allowed = label.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
        return allowed && first != "-" && last != "-"
    }
}
