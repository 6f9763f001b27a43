import CRdKafka

/// Builds `rd_kafka_conf_t` objects from property dictionaries.
enum RDKafkaConfig {
    /// Creates a configuration object with every property set, or throws naming the first bad property.
    ///
    /// - Returns: an owned `rd_kafka_conf_t*`; the caller passes it to `rd_kafka_new` or destroys it.
    static func make(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(.clientCreation, "rd_kafka_conf_new returned NULL")
        }
        // Deterministic order so the first error reported is stable.
        for name in properties.keys.sorted() {
            guard let value = properties[name] else { continue }
            do {
                try set(conf, name, value)
            } catch {
                rd_kafka_conf_destroy(conf)
                throw error
            }
        }
        return conf
    }

    /// Sets one property, throwing librdkafka's explanation (never a sensitive value).
    static func set(_ conf: OpaquePointer, _ name: String, _ value: String) throws(KafkaError) {
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
        guard result != RD_KAFKA_CONF_OK else { return }
        var explanation = String(cStringBuffer: errstr)
        if KafkaConfiguration.isSensitive(name) && !value.isEmpty {
            explanation = explanation.replacingOccurrences(of: value, with: "<redacted>")
        }
        switch result {
        case RD_KAFKA_CONF_UNKNOWN:
            throw KafkaError(.configuration, "unknown Kafka property '\(name)': \(explanation)")
        default:
            throw KafkaError(.configuration, "invalid value for Kafka property '\(name)': \(explanation)")
        }
    }
}
