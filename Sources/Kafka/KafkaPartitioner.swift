import Foundation

/// The key → partition mapping every PayFleet producer uses: Java's default partitioner
/// (`Utils.murmur2` → `toPositive` → modulo), which librdkafka's `murmur2_random` reproduces for keyed messages.
public enum KafkaPartitioner {
    /// The partition Java's default producer (and ours) picks for `key` among `partitionCount` partitions.
    public static func partition(forKey key: Data, partitionCount: Int) -> Int32 {
        precondition(partitionCount > 0, "partitionCount must be positive")
        return Int32((UInt32(bitPattern: murmur2(key)) & 0x7fff_ffff) % UInt32(partitionCount))
    }

    /// The partition for a UTF-8 string key (e.g. `out_trade_no`).
    public static func partition(forKey key: String, partitionCount: Int) -> Int32 {
        partition(forKey: Data(key.utf8), partitionCount: partitionCount)
    }

    /// Kafka's murmur2 (seed `0x9747b28c`), as `org.apache.kafka.common.utils.Utils.murmur2` returns it.
    public static func murmur2(_ data: Data) -> Int32 {
        let bytes = [UInt8](data)
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        let length = bytes.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for i in 0..<blocks {
            let base = i * 4
            var k =
                UInt32(bytes[base]) | UInt32(bytes[base + 1]) << 8 | UInt32(bytes[base + 2]) << 16 | UInt32(
                    bytes[base + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = length & ~3
        switch length % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h = h &* m
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h = h &* m
        case 1:
            h ^= UInt32(bytes[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }
}
