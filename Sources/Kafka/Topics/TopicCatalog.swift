import Foundation
import Yams

/// The topics of `topics/*.yaml`, validated.
public struct TopicCatalog: Sendable {
    /// The topics, sorted by name.
    public let topics: [TopicDefinition]

    /// Creates a catalog from definitions and validates cross-topic rules (co-partitioning).
    public init(topics: [TopicDefinition]) throws {
        self.topics = topics.sorted { $0.name < $1.name }
        try validate()
    }

    /// The topic with this name.
    public subscript(name: String) -> TopicDefinition? { topics.first { $0.name == name } }

    /// Co-partition groups by name, members sorted by topic name.
    public var coPartitionGroups: [String: [TopicDefinition]] {
        Dictionary(grouping: topics.filter { $0.coPartitionGroup != nil }) { $0.coPartitionGroup ?? "" }
    }

    /// The topic definitions built into the binary (``builtInFiles``, generated from topics/ by
    /// scripts/generate-topics.sh), so no topics directory is needed at run time.
    ///
    /// - Throws: ``KafkaError`` `.topicDefinition` (only if the generated file was edited by hand).
    public static func builtIn() throws -> TopicCatalog {
        try TopicCatalog(topics: builtInFiles.map { try parse(yaml: $0.yaml, file: $0.file) })
    }

    /// The definitions of `directory`, or the built-in ones when it is `nil`.
    public static func load(directoryOrBuiltIn directory: String?) throws -> TopicCatalog {
        if let directory { return try load(directory: directory) }
        return try builtIn()
    }

    /// Loads every `*.yaml` / `*.yml` file of a directory.
    ///
    /// - Throws: ``KafkaError`` `.topicDefinition` naming the file and the problem.
    public static func load(directory: String) throws -> TopicCatalog {
        let url = URL(fileURLWithPath: directory, isDirectory: true)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: url.path)
        } catch {
            throw KafkaError(
                .topicDefinition, "cannot read topics directory \(directory): \(error.localizedDescription)")
        }
        var definitions: [TopicDefinition] = []
        for file in names.sorted() where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
            let path = url.appendingPathComponent(file).path
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
            else {
                throw KafkaError(.topicDefinition, "\(file): cannot read the file as UTF-8")
            }
            definitions.append(try parse(yaml: text, file: file))
        }
        guard !definitions.isEmpty else {
            throw KafkaError(.topicDefinition, "no topic files (*.yaml) in \(directory)")
        }
        let duplicates = Dictionary(grouping: definitions, by: \.name).filter { $0.value.count > 1 }.keys
        if let duplicate = duplicates.sorted().first {
            throw KafkaError(.topicDefinition, "topic \(duplicate) is defined more than once in \(directory)")
        }
        return try TopicCatalog(topics: definitions)
    }

    /// Parses and validates one topic file.
    public static func parse(yaml: String, file: String) throws -> TopicDefinition {
        let root: Any?
        do {
            root = try Yams.load(yaml: yaml)
        } catch {
            throw KafkaError(.topicDefinition, "\(file): not valid YAML: \(error)")
        }
        var reader = try FieldReader(root, file: file, path: "")
        let definition = try reader.definition()
        let expectedFile = [definition.name + ".yaml", definition.name + ".yml"]
        if file.contains("."), file.hasSuffix(".yaml") || file.hasSuffix(".yml"), !expectedFile.contains(file) {
            throw KafkaError(
                .topicDefinition,
                "\(file): defines topic \(definition.name); the file must be named \(definition.name).yaml")
        }
        return definition
    }

    private func validate() throws {
        for (group, members) in coPartitionGroups {
            let counts = Set(members.map(\.partitions))
            if counts.count > 1 {
                let detail = members.map { "\($0.name)=\($0.partitions)" }.joined(separator: ", ")
                throw KafkaError(
                    .topicDefinition,
                    "co-partition group '\(group)' needs one partition count for all its topics, found \(detail)")
            }
            if Set(members.map(\.partitioner)).count > 1 {
                throw KafkaError(.topicDefinition, "co-partition group '\(group)' mixes partitioners")
            }
            if members.count < 2 {
                throw KafkaError(
                    .topicDefinition, "co-partition group '\(group)' has only one topic (\(members[0].name))")
            }
        }
    }
}

/// Strict reader over the YAML tree: unknown keys and wrong types are errors that name the field.
private struct FieldReader {
    let file: String
    let path: String
    var map: [String: Any]
    var seen: Set<String> = []

    init(_ node: Any?, file: String, path: String) throws {
        self.file = file
        self.path = path
        guard let node else {
            throw KafkaError(.topicDefinition, "\(file): \(path.isEmpty ? "the file" : path) is empty")
        }
        guard let map = FieldReader.stringKeyed(node) else {
            throw KafkaError(.topicDefinition, "\(file): \(path.isEmpty ? "the document" : path) must be a mapping")
        }
        self.map = map
    }

    static func stringKeyed(_ node: Any) -> [String: Any]? {
        if let map = node as? [String: Any] { return map }
        if let map = node as? [AnyHashable: Any] {
            var result: [String: Any] = [:]
            for (key, value) in map { result["\(key.base)"] = value }
            return result
        }
        return nil
    }

    func fail(_ field: String, _ problem: String) -> KafkaError {
        KafkaError(.topicDefinition, "\(file): \(path.isEmpty ? field : path + "." + field) \(problem)")
    }

    mutating func raw(_ field: String) -> Any? {
        seen.insert(field)
        guard let value = map[field], !(value is NSNull) else { return nil }
        return value
    }

    mutating func string(_ field: String, default fallback: String? = nil) throws -> String {
        guard let value = raw(field) else {
            if let fallback { return fallback }
            throw fail(field, "is required")
        }
        guard let text = value as? String else { throw fail(field, "must be a string") }
        return text
    }

    mutating func optionalString(_ field: String) throws -> String? {
        guard let value = raw(field) else { return nil }
        guard let text = value as? String else { throw fail(field, "must be a string") }
        return text
    }

    mutating func int(_ field: String, range: ClosedRange<Int>) throws -> Int {
        guard let value = raw(field) else { throw fail(field, "is required") }
        guard let number = value as? Int, !(value is Bool) else { throw fail(field, "must be an integer") }
        guard range.contains(number) else {
            throw fail(field, "must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
        }
        return number
    }

    mutating func bool(_ field: String, default fallback: Bool) throws -> Bool {
        guard let value = raw(field) else { return fallback }
        guard let flag = value as? Bool else { throw fail(field, "must be true or false") }
        return flag
    }

    func finish() throws {
        let unknown = Set(map.keys).subtracting(seen)
        if let first = unknown.sorted().first { throw fail(first, "is not a known field") }
    }

    mutating func definition() throws -> TopicDefinition {
        let name = try string("name")
        guard !name.isEmpty, name.count <= 249, name != ".", name != "..",
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") })
        else {
            throw fail("name", "'\(name)' is not a legal Kafka topic name ([a-zA-Z0-9._-], at most 249 characters)")
        }
        let description = try string("description", default: "")
        let partitions = try int("partitions", range: 1...10_000)
        let replicationFactor = try int("replication_factor", range: 1...32)
        let group = try optionalString("co_partition_group")
        let partitioner = try string("partitioner")
        guard partitioner == "murmur2" else {
            throw fail("partitioner", "must be murmur2 (Java's default; librdkafka murmur2_random), got \(partitioner)")
        }

        guard let keyNode = raw("key") else { throw fail("key", "is required") }
        var keyReader = try FieldReader(keyNode, file: file, path: "key")
        let key = TopicDefinition.Key(
            description: try keyReader.string("description"), encoding: try keyReader.string("encoding"),
            required: try keyReader.bool("required", default: true))
        try keyReader.finish()
        guard ["utf-8", "bytes"].contains(key.encoding) else { throw fail("key.encoding", "must be utf-8 or bytes") }

        var configs: [String: String] = [:]
        if let configNode = raw("configs") {
            guard let map = FieldReader.stringKeyed(configNode) else { throw fail("configs", "must be a mapping") }
            for (name, value) in map {
                switch value {
                case let text as String: configs[name] = text
                case let flag as Bool: configs[name] = flag ? "true" : "false"
                case let number as Int: configs[name] = String(number)
                default: throw fail("configs.\(name)", "must be a scalar")
                }
            }
        }
        if let policy = configs["cleanup.policy"] {
            let parts = Set(policy.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            guard !parts.isEmpty, parts.isSubset(of: ["delete", "compact"]) else {
                throw fail("configs.cleanup.policy", "must be delete, compact or compact,delete")
            }
        }
        if let minISR = configs["min.insync.replicas"] {
            guard let value = Int(minISR), value >= 1, value <= replicationFactor else {
                throw fail(
                    "configs.min.insync.replicas",
                    "must be an integer between 1 and replication_factor (\(replicationFactor))")
            }
        }
        for numeric in [
            "retention.ms", "segment.ms", "min.compaction.lag.ms", "delete.retention.ms", "retention.bytes",
        ] {
            if let value = configs[numeric], Int64(value) == nil {
                throw fail("configs.\(numeric)", "must be an integer")
            }
        }

        var headers: [TopicDefinition.Header] = []
        if let headerNode = raw("headers") {
            guard let list = headerNode as? [Any] else { throw fail("headers", "must be a list") }
            for (index, item) in list.enumerated() {
                var headerReader = try FieldReader(item, file: file, path: "headers[\(index)]")
                headers.append(
                    .init(
                        name: try headerReader.string("name"),
                        required: try headerReader.bool("required", default: false),
                        description: try headerReader.string("description", default: "")))
                try headerReader.finish()
            }
        }

        guard let valueNode = raw("value") else { throw fail("value", "is required") }
        var valueReader = try FieldReader(valueNode, file: file, path: "value")
        let contentType = try valueReader.string("content_type")
        let tombstones = try valueReader.bool("tombstones", default: false)
        guard let schemaNode = valueReader.raw("schema") else {
            throw valueReader.fail("schema", "is required (a JSON Schema)")
        }
        try valueReader.finish()
        guard let schema = FieldReader.jsonCompatible(schemaNode) as? [String: Any] else {
            throw fail("value.schema", "must be a JSON Schema object")
        }
        guard schema["$schema"] is String else { throw fail("value.schema", "must declare its \"$schema\" dialect") }
        let schemaData: Data
        do {
            schemaData = try JSONSerialization.data(withJSONObject: schema, options: [.sortedKeys])
        } catch {
            throw fail("value.schema", "cannot be expressed as JSON: \(error.localizedDescription)")
        }
        if tombstones {
            guard configs["cleanup.policy"]?.contains("compact") == true else {
                throw fail("value.tombstones", "is true but cleanup.policy is not compact")
            }
        }
        try finish()
        return TopicDefinition(
            name: name, description: description, partitions: partitions, replicationFactor: replicationFactor,
            coPartitionGroup: group, partitioner: partitioner, key: key, configs: configs, headers: headers,
            value: .init(
                contentType: contentType, tombstones: tombstones,
                schemaJSON: String(decoding: schemaData, as: UTF8.self),
                schemaID: schema["$id"] as? String))
    }

    /// Converts a YAML tree to JSONSerialization-compatible values (String keys).
    static func jsonCompatible(_ node: Any) -> Any {
        if let map = stringKeyed(node) { return map.mapValues { jsonCompatible($0) } }
        if let list = node as? [Any] { return list.map { jsonCompatible($0) } }
        if let date = node as? Date { return ISO8601DateFormatter().string(from: date) }
        if let data = node as? Data { return data.base64EncodedString() }
        return node
    }
}
