import Crypto
import Foundation
import Payments

/// SHA-256 digests in lowercase hex, for deterministic ids.
public enum ContentDigest {
    /// The lowercase hex SHA-256 of `bytes`.
    public static func sha256Hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        if let hex = bytes.withContiguousStorageIfAvailable({
            Hex.encode(SHA256.hash(data: UnsafeRawBufferPointer($0)))
        }) {
            return hex
        }
        return Hex.encode(SHA256.hash(data: Array(bytes)))
    }

    /// The lowercase hex SHA-256 of the UTF-8 bytes of `text`.
    public static func sha256Hex(_ text: String) -> String {
        sha256Hex(text, characters: 64)
    }

    /// The first `characters` (even, at most 64) of the lowercase hex SHA-256 of the UTF-8 bytes of
    /// `text`, hashed and written without copying the text or the full hex form.
    public static func sha256Hex(_ text: String, characters: Int) -> String {
        var text = text
        let digest = text.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        return digest.withUnsafeBytes { bytes in
            Hex.encode(raw: UnsafeRawBufferPointer(rebasing: bytes.prefix(min(characters, 64) / 2)), uppercase: false)
        }
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
