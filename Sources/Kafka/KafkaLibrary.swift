import Logging
import NIOConcurrencyHelpers
import Observability

/// Facts about the librdkafka this process runs on.
public enum KafkaLibrary {
    /// The librdkafka version string, e.g. `2.0.2`.
    public static var versionString: String { RDKafkaLibrary.versionString }
    /// The librdkafka version as `0xMMmmrrpp`.
    public static var version: Int32 { RDKafkaLibrary.version }
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
                metadata: [
                    LogKey.librdkafkaVersion: "\(versionString)", LogKey.librdkafkaFeatures: "\(builtinFeatures)",
                ])
        }
        guard version >= minimumVersion else {
            throw KafkaError(
                .unsupportedLibrary,
                "librdkafka \(versionString) is older than 2.0.2, the oldest version PayFleet is tested with; install librdkafka 2.0.2 or newer"
            )
        }
    }

    /// librdkafka's `builtin.features` (compression codecs, SASL mechanisms, ...).
    public static var builtinFeatures: String { RDKafkaLibrary.builtinFeatures }
}
