import CRdKafka

/// Facts about the librdkafka this process runs on.
public enum KafkaLibrary {
    /// The librdkafka version string, e.g. `2.0.2`.
    public static var versionString: String { String(cString: rd_kafka_version_str()) }
    /// The librdkafka version as `0xMMmmrrpp`.
    public static var version: Int32 { rd_kafka_version() }
    /// The oldest librdkafka PayFleet was tested with (2.0.2).
    public static let minimumVersion: Int32 = 0x0200_02ff & ~0xff
}
