import Crypto
import Foundation
import Payments

/// SHA-256 digests in lowercase hex, for deterministic ids.
public enum ContentDigest {
    /// The lowercase hex SHA-256 of `bytes`.
    public static func sha256Hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Hex.encode(SHA256.hash(data: Array(bytes)))
    }

    /// The lowercase hex SHA-256 of the UTF-8 bytes of `text`.
    public static func sha256Hex(_ text: String) -> String {
        sha256Hex(Array(text.utf8))
    }

    /// A canonical digest of a JSON value: object keys sorted, no insignificant whitespace, so the
    /// same request re-serialised by another producer digests the same.
    public static func canonical(_ value: JSONValue) -> String {
        if let data = RecordJSONWriter.value(value, escapesSlashes: false) { return sha256Hex(data) }
        return sha256Hex(Array(canonicalWithJSONEncoder(value)))
    }

    /// The canonical bytes as `JSONEncoder` writes them (``RecordJSONWriter`` writes the same).
    static func canonicalWithJSONEncoder(_ value: JSONValue) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data(value.description.utf8)
    }
}
