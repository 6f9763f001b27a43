import Foundation

/// A Kafka record header. Names may repeat; order is preserved.
public struct KafkaHeader: Sendable, Hashable {
    /// Header name.
    public var key: String
    /// Header value; `nil` is a header without value (distinct from an empty value).
    public var value: Data?

    /// Creates a header with raw bytes.
    public init(key: String, value: Data?) {
        self.key = key
        self.value = value
    }

    /// Creates a header with a UTF-8 string value.
    public init(key: String, string: String) {
        self.key = key
        self.value = Data(string.utf8)
    }

    /// The value as UTF-8 text (`nil` when absent or not valid UTF-8).
    public var stringValue: String? {
        value.flatMap { String(data: $0, encoding: .utf8) }
    }
}

extension Array where Element == KafkaHeader {
    /// The value of the last header with this name, as UTF-8 text.
    public func string(_ key: String) -> String? {
        last { $0.key == key }?.stringValue
    }

    /// The value of the last header with this name.
    public func value(_ key: String) -> Data? {
        last { $0.key == key }?.value
    }
}
