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
        let count = reader.varint()
        var headers: [KafkaHeader] = []
        headers.reserveCapacity(count)
        for _ in 0..<count {
            let name = reader.name()
            headers.append(KafkaHeader(key: name, value: reader.field()))
        }
        return KafkaProducerMessage(topic: topic, key: key, value: value, headers: headers)
    }

    // Layout: field(key) field(value) varint(header count) { name field(value) }*, where a field is
    // varint(0) when absent, else varint(length + 1) and that many bytes, and a name is varint(0)
    // for the `payfleet-due-at-ms` header every timer carries, else a field of its UTF-8 bytes.
    // Varints are LEB128 (7 bits a byte, low first): a timer's lengths take a byte or two each.
    private static func pack(_ message: KafkaConsumerMessage) -> [UInt8] {
        func fieldSize(_ count: Int?) -> Int { count.map { varintSize($0 + 1) + $0 } ?? 1 }
        var size = fieldSize(message.key?.count) + fieldSize(message.value?.count) + varintSize(message.headers.count)
        for header in message.headers {
            size += header.key == TimerJob.dueAtHeader ? 1 : fieldSize(header.key.utf8.count)
            size += fieldSize(header.value?.count)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        func append(varint: Int) {
            var rest = UInt(varint)
            while rest >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            bytes.append(UInt8(rest))
        }
        func append(_ field: Data?) {
            guard let field else { return append(varint: 0) }
            append(varint: field.count + 1)
            field.withUnsafeBytes { raw in bytes.append(contentsOf: raw.assumingMemoryBound(to: UInt8.self)) }
        }
        append(message.key)
        append(message.value)
        append(varint: message.headers.count)
        for header in message.headers {
            if header.key == TimerJob.dueAtHeader {
                append(varint: 0)
            } else {
                append(varint: header.key.utf8.count + 1)
                bytes.append(contentsOf: header.key.utf8)
            }
            append(header.value)
        }
        return bytes
    }

    private static func varintSize(_ value: Int) -> Int {
        var size = 1
        var rest = UInt(value) >> 7
        while rest > 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func varint() -> Int {
            var value: UInt = 0
            var shift: UInt = 0
            while true {
                let byte = bytes[position]
                position += 1
                value |= UInt(byte & 0x7f) << shift
                if byte < 0x80 { return Int(value) }
                shift += 7
            }
        }

        mutating func field() -> Data? {
            let marker = varint()
            guard marker > 0 else { return nil }
            let count = marker - 1
            defer { position += count }
            return bytes.withUnsafeBytes { Data(UnsafeRawBufferPointer(rebasing: $0[position..<(position + count)])) }
        }

        mutating func name() -> String {
            let marker = varint()
            guard marker > 0 else { return TimerJob.dueAtHeader }
            let count = marker - 1
            defer { position += count }
            return String(decoding: bytes[position..<(position + count)], as: UTF8.self)
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
