import CRdKafka

/// The linked librdkafka's version and built-in features.
enum RDKafkaLibrary {
    static var versionString: String { String(cString: rd_kafka_version_str()) }
    static var version: Int32 { rd_kafka_version() }

    /// librdkafka's `builtin.features` (compression codecs, SASL mechanisms, ...).
    static var builtinFeatures: String {
        guard let conf = rd_kafka_conf_new() else { return "" }
        defer { rd_kafka_conf_destroy(conf) }
        var size = 0
        guard rd_kafka_conf_get(conf, "builtin.features", nil, &size) == RD_KAFKA_CONF_OK, size > 0 else { return "" }
        var buffer = [CChar](repeating: 0, count: size)
        guard rd_kafka_conf_get(conf, "builtin.features", &buffer, &size) == RD_KAFKA_CONF_OK else { return "" }
        return String(cStringBuffer: buffer)
    }
}

extension String {
    /// The text of a NUL-terminated C buffer (librdkafka's `errstr` buffers).
    init(cStringBuffer buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
