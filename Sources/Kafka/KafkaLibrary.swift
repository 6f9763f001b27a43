import CRdKafka
import Logging
import NIOConcurrencyHelpers
import Observability

/// Facts about the librdkafka this process runs on.
public enum KafkaLibrary {
    /// The librdkafka version string, e.g. `2.0.2`.
    public static var versionString: String { String(cString: rd_kafka_version_str()) }
    /// The librdkafka version as `0xMMmmrrpp`.
    public static var version: Int32 { rd_kafka_version() }
    /// The oldest librdkafka PayFleet was tested with (2.0.2).
    public static let minimumVersion: Int32 = 0x0200_02ff & ~0xff

    private static let announced = NIOLockedValueBox(false)

    /// Refuses to run on a librdkafka older than ``minimumVersion``; logs the version once per process.
    ///
    /// Every client calls this before it creates a librdkafka handle.
    public static func ensureSupported(logger: Logger) throws(KafkaError) {
        let first = announced.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if first {
            logger.info(
                "librdkafka loaded",
                metadata: [LogKey.librdkafkaVersion: "\(versionString)", LogKey.librdkafkaFeatures: "\(builtinFeatures)"])
        }
        guard version >= minimumVersion else {
            throw KafkaError(
                .unsupportedLibrary,
                "librdkafka \(versionString) is older than 2.0.2, the oldest version PayFleet is tested with; install librdkafka 2.0.2 or newer")
        }
    }

    /// librdkafka's `builtin.features` (compression codecs, SASL mechanisms, ...).
    public static var builtinFeatures: String {
        guard let conf = rd_kafka_conf_new() else { return "" }
        defer { rd_kafka_conf_destroy(conf) }
        var size = 0
        guard rd_kafka_conf_get(conf, "builtin.features", nil, &size) == RD_KAFKA_CONF_OK, size > 0 else { return "" }
        var buffer = [CChar](repeating: 0, count: size)
        guard rd_kafka_conf_get(conf, "builtin.features", &buffer, &size) == RD_KAFKA_CONF_OK else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
