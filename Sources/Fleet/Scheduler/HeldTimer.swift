import Foundation
import HeapModule
import Kafka

/// A timer record held in memory until it is due: what forwarding it needs (key, value, headers)
/// packed into one byte array, so a held timer costs one allocation of about its record's size
/// rather than a task and a dozen small objects.
struct HeldTimer: Sendable, Comparable {
    /// Due time, Unix ms.
    let due: Int64
    let offset: Int64
    private let packed: [UInt8]

    init(_ message: KafkaConsumerMessage, due: Int64) {
        self.due = due
        self.offset = message.offset
        packed = Self.pack(message)
    }

    static func < (lhs: HeldTimer, rhs: HeldTimer) -> Bool {
        (lhs.due, lhs.offset) < (rhs.due, rhs.offset)
    }

    static func == (lhs: HeldTimer, rhs: HeldTimer) -> Bool {
        lhs.due == rhs.due && lhs.offset == rhs.offset
    }

    /// The record to forward, with the key, value and headers it was read with.
    func message(topic: String) -> KafkaProducerMessage {
        var reader = Reader(bytes: packed)
        let key = reader.field()
        let value = reader.field()
        let count = reader.length()
        var headers: [KafkaHeader] = []
        headers.reserveCapacity(max(0, count))
        for _ in 0..<max(0, count) {
            let name = reader.field().map { String(decoding: $0, as: UTF8.self) } ?? ""
            headers.append(KafkaHeader(key: name, value: reader.field()))
        }
        return KafkaProducerMessage(topic: topic, key: key, value: value, headers: headers)
    }

    // Layout: field(key) field(value) length(header count) { field(name) field(value) }*, where a
    // field is a 32-bit little-endian length (-1 for absent) and that many bytes.
    private static func pack(_ message: KafkaConsumerMessage) -> [UInt8] {
        var size = 12 + (message.key?.count ?? 0) + (message.value?.count ?? 0)
        for header in message.headers { size += 8 + header.key.utf8.count + (header.value?.count ?? 0) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        func append(length: Int) {
            withUnsafeBytes(of: Int32(truncatingIfNeeded: length).littleEndian) { bytes.append(contentsOf: $0) }
        }
        func append(_ field: Data?) {
            guard let field else { return append(length: -1) }
            append(length: field.count)
            bytes.append(contentsOf: field)
        }
        append(message.key)
        append(message.value)
        append(length: message.headers.count)
        for header in message.headers {
            append(length: header.key.utf8.count)
            bytes.append(contentsOf: header.key.utf8)
            append(header.value)
        }
        return bytes
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func length() -> Int {
            var value: Int32 = 0
            for shift in 0..<4 { value |= Int32(bytes[position + shift]) << (8 * shift) }
            position += 4
            return Int(value)
        }

        mutating func field() -> Data? {
            let count = length()
            guard count >= 0 else { return nil }
            defer { position += count }
            return Data(bytes[position..<(position + count)])
        }
    }
}

/// The timers one partition holds, earliest due first.
struct HeldTimers: Sendable {
    private var heap = Heap<HeldTimer>()

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    /// The earliest due time held (Unix ms).
    var earliestDue: Int64? { heap.min?.due }

    mutating func insert(_ timer: HeldTimer) { heap.insert(timer) }

    /// Removes and returns every timer due at or before `now`, earliest first.
    mutating func popDue(now: Int64) -> [HeldTimer] {
        var due: [HeldTimer] = []
        while let first = heap.min, first.due <= now { due.append(heap.removeMin()) }
        return due
    }

    mutating func removeAll() { heap = Heap() }
}
