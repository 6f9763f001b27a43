import Foundation
import HeapModule
import Kafka

/// A timer record held in memory until it is due: what forwarding it needs (key, value, headers)
/// packed into one byte array, so a held timer costs one allocation of about its record's size
/// rather than a task and a dozen small objects. The value is packed smaller still when it is a
/// timer job's JSON (see ``ValueTokens``): the scheduler holds every timer due within 30 s, so its
/// memory is mostly these arrays.
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

    /// Bytes this timer's packed record takes (tests and sizing).
    var packedCount: Int { packed.count }

    /// The record to forward, with the key, value and headers it was read with.
    func message(topic: String) -> KafkaProducerMessage {
        packed.withUnsafeBufferPointer { bytes in
            var reader = Reader(bytes: bytes)
            let key = reader.field()
            let value = reader.value(key: key)
            let count = reader.varint()
            var headers: [KafkaHeader] = []
            headers.reserveCapacity(count)
            for _ in 0..<count {
                let name = reader.name()
                headers.append(KafkaHeader(key: name, value: reader.field()))
            }
            return KafkaProducerMessage(topic: topic, key: key, value: value, headers: headers)
        }
    }

    // Layout: field(key) value varint(header count) { name field(value) }*, where a field is
    // varint(0) when absent, else varint(length + 1) and that many bytes; the value is varint(0)
    // when absent, else varint(2 × length + 1) and its bytes, or varint(2 × length + 2) and its
    // bytes in ``ValueTokens``' form; and a name is varint(0) for the `payfleet-due-at-ms` header
    // every timer carries, else a field of its UTF-8 bytes.
    // Varints are LEB128 (7 bits a byte, low first): a timer's lengths take a byte or two each.
    private static func pack(_ message: KafkaConsumerMessage) -> [UInt8] {
        func fieldSize(_ count: Int?) -> Int { count.map { varintSize($0 + 1) + $0 } ?? 1 }
        // An upper bound: the value in token form is never longer than as read.
        var bound = fieldSize(message.key?.count) + varintSize(message.headers.count)
        bound += message.value.map { varintSize(2 * $0.count + 2) + $0.count } ?? 1
        for header in message.headers {
            bound += header.key == TimerJob.dueAtHeader ? 1 : fieldSize(header.key.utf8.count)
            bound += fieldSize(header.value?.count)
        }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bound) { scratch in
            var writer = Writer(bytes: scratch)
            writer.field(message.key)
            writer.value(message.value, key: message.key)
            writer.varint(message.headers.count)
            for header in message.headers {
                if header.key == TimerJob.dueAtHeader {
                    writer.varint(0)
                } else {
                    var name = header.key
                    name.withUTF8 { writer.field(UnsafeRawBufferPointer($0)) }
                }
                writer.field(header.value)
            }
            return Array(UnsafeBufferPointer(rebasing: scratch[0..<writer.position]))
        }
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

    fileprivate struct Writer {
        let bytes: UnsafeMutableBufferPointer<UInt8>
        var position = 0

        mutating func append(_ byte: UInt8) {
            bytes[position] = byte
            position += 1
        }

        mutating func append(_ raw: UnsafeRawBufferPointer) {
            guard let base = raw.baseAddress, raw.count > 0 else { return }
            UnsafeMutableRawPointer(bytes.baseAddress! + position).copyMemory(from: base, byteCount: raw.count)
            position += raw.count
        }

        mutating func varint(_ value: Int) {
            var rest = UInt(value)
            while rest >= 0x80 {
                append(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            append(UInt8(rest))
        }

        mutating func field(_ raw: UnsafeRawBufferPointer) {
            varint(raw.count + 1)
            append(raw)
        }

        mutating func field(_ data: Data?) {
            guard let data else { return varint(0) }
            data.withUnsafeBytes { field($0) }
        }

        /// The value in token form when it has one, else as read.
        mutating func value(_ data: Data?, key: Data?) {
            guard let data else { return varint(0) }
            data.withUnsafeBytes { raw in
                let start = position
                // Room for the largest marker; the body is written behind it.
                let room = HeldTimer.varintSize(2 * raw.count + 2)
                position += room
                let inTokens =
                    key.map { key in key.withUnsafeBytes { ValueTokens.encode(raw, key: $0, into: &self) } }
                    ?? ValueTokens.encode(raw, key: UnsafeRawBufferPointer(start: nil, count: 0), into: &self)
                guard inTokens else {
                    position = start
                    varint(2 * raw.count + 1)
                    return append(raw)
                }
                let length = position - start - room
                position = start
                varint(2 * length + 2)
                if position != start + room {
                    // A shorter marker: the body moves down behind it.
                    memmove(bytes.baseAddress! + position, bytes.baseAddress! + start + room, length)
                }
                position += length
            }
        }
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
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

        mutating func raw(_ count: Int) -> UnsafeRawBufferPointer {
            defer { position += count }
            return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[position..<(position + count)])
        }

        mutating func field() -> Data? {
            let marker = varint()
            guard marker > 0 else { return nil }
            return Data(raw(marker - 1))
        }

        mutating func value(key: Data?) -> Data? {
            let marker = varint()
            guard marker > 0 else { return nil }
            let count = (marker - 1) >> 1
            let body = raw(count)
            guard (marker - 1) & 1 == 1 else { return Data(body) }
            return key.map { key in key.withUnsafeBytes { ValueTokens.decode(body, key: $0) } }
                ?? ValueTokens.decode(body, key: UnsafeRawBufferPointer(start: nil, count: 0))
        }

        mutating func name() -> String {
            let marker = varint()
            guard marker > 0 else { return TimerJob.dueAtHeader }
            return String(decoding: raw(marker - 1), as: UTF8.self)
        }
    }
}

/// The token form of a held timer's value: a timer job's JSON (``TimerJob/value``) with each
/// member name, and the punctuation around it, replaced by one byte; its `out_trade_no` replaced by
/// one byte when it is the record's key; and its 32-hex-digit `timer_id` by one byte and 16.
///
/// The bytes used, 0xF5–0xFF, never occur in UTF-8, so a value that has any of them is not JSON
/// text and is kept as read; so is a value in which nothing was replaced. Decoding gives back
/// exactly the bytes read, whatever the value: a timer is forwarded with the value it was written
/// with.
enum ValueTokens {
    /// The member names, as ``RecordJSONWriter`` writes a timer job (keys sorted).
    static let names: [[UInt8]] = [
        #"{"attempt":"#, #","channel":""#, #"","due_at":""#, #"","job":""#, #"","merchant":""#,
        #"","out_refund_no":""#, #"","out_trade_no":""#, #"","reason":""#, #"","timer_id":""#,
    ].map { Array($0.utf8) }
    /// The byte standing for ``names``[i] is `firstName + i`.
    static let firstName: UInt8 = 0xF5
    static let outTradeNo = 6
    static let timerID = 8
    /// The record's key, as the value of `out_trade_no`.
    static let key: UInt8 = 0xFE
    /// 16 bytes follow: 32 lowercase hexadecimal digits.
    static let hex32: UInt8 = 0xFF

    /// Writes `value` in token form and answers `true`, or writes nothing and answers `false`
    /// (a byte of 0xF5 or above, or nothing to replace).
    fileprivate static func encode(
        _ value: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, into writer: inout HeldTimer.Writer
    ) -> Bool {
        let start = writer.position
        var replaced = false
        var index = 0
        let count = value.count
        while index < count {
            let byte = value[index]
            if byte >= firstName {
                writer.position = start
                return false
            }
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\""),
                let name = match(value, at: index)
            {
                writer.append(firstName + UInt8(name))
                index += names[name].count
                replaced = true
                if name == outTradeNo, !key.isEmpty, quoted(value, at: index, equals: key) {
                    writer.append(Self.key)
                    index += key.count
                } else if name == timerID, isHexRun(value, at: index) {
                    writer.append(hex32)
                    for pair in 0..<16 {
                        writer.append(nibble(value[index + 2 * pair]) << 4 | nibble(value[index + 2 * pair + 1]))
                    }
                    index += 32
                }
                continue
            }
            writer.append(byte)
            index += 1
        }
        if !replaced { writer.position = start }
        return replaced
    }

    /// The value a token form stands for.
    static func decode(_ body: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer) -> Data {
        var size = 0
        var index = 0
        while index < body.count {
            let byte = body[index]
            switch byte {
            case hex32:
                size += 32
                index += 17
            case Self.key:
                size += key.count
                index += 1
            case firstName...:
                size += names[Int(byte - firstName)].count
                index += 1
            default:
                size += 1
                index += 1
            }
        }
        var data = Data(count: size)
        data.withUnsafeMutableBytes { (out: UnsafeMutableRawBufferPointer) in
            var at = 0
            func put(_ bytes: UnsafeRawBufferPointer) {
                guard bytes.count > 0 else { return }
                out.baseAddress!.advanced(by: at).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                at += bytes.count
            }
            var index = 0
            while index < body.count {
                let byte = body[index]
                switch byte {
                case hex32:
                    for pair in 1...16 {
                        out[at] = digit(body[index + pair] >> 4)
                        out[at + 1] = digit(body[index + pair] & 0x0f)
                        at += 2
                    }
                    index += 17
                case Self.key:
                    put(key)
                    index += 1
                case firstName...:
                    names[Int(byte - firstName)].withUnsafeBytes { put($0) }
                    index += 1
                default:
                    out[at] = byte
                    at += 1
                    index += 1
                }
            }
        }
        return data
    }

    /// The member name starting at `index`, if any.
    private static func match(_ value: UnsafeRawBufferPointer, at index: Int) -> Int? {
        // The one name that can start here: by its first byte, and after `","` by the letter that
        // follows (the eighth byte tells the two `out_` names apart).
        let name: Int
        switch value[index] {
        case UInt8(ascii: "{"): name = 0
        case UInt8(ascii: ","): name = 1
        default:
            guard index + 7 < value.count else { return nil }
            switch value[index + 3] {
            case UInt8(ascii: "d"): name = 2
            case UInt8(ascii: "j"): name = 3
            case UInt8(ascii: "m"): name = 4
            case UInt8(ascii: "o"): name = value[index + 7] == UInt8(ascii: "r") ? 5 : 6
            case UInt8(ascii: "r"): name = 7
            case UInt8(ascii: "t"): name = 8
            default: return nil
            }
        }
        let bytes = names[name]
        guard index + bytes.count <= value.count,
            bytes.withUnsafeBytes({ memcmp(value.baseAddress! + index, $0.baseAddress!, bytes.count) }) == 0
        else { return nil }
        return name
    }

    /// Whether `key` is at `index`, followed by the closing quote.
    private static func quoted(
        _ value: UnsafeRawBufferPointer, at index: Int, equals key: UnsafeRawBufferPointer
    )
        -> Bool
    {
        guard index + key.count < value.count, value[index + key.count] == UInt8(ascii: "\"") else { return false }
        return memcmp(value.baseAddress! + index, key.baseAddress!, key.count) == 0
    }

    /// Whether 32 lowercase hexadecimal digits are at `index`, followed by the closing quote.
    private static func isHexRun(_ value: UnsafeRawBufferPointer, at index: Int) -> Bool {
        guard index + 32 < value.count, value[index + 32] == UInt8(ascii: "\"") else { return false }
        for offset in 0..<32 {
            switch value[index + offset] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): continue
            default: return false
            }
        }
        return true
    }

    /// The lowercase hexadecimal digit of a value below 16.
    private static func digit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// The value of a lowercase hexadecimal digit.
    private static func nibble(_ digit: UInt8) -> UInt8 {
        digit <= UInt8(ascii: "9") ? digit - UInt8(ascii: "0") : digit - UInt8(ascii: "a") + 10
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
        popDue(now: now) { due.append($0) }
        return due
    }

    /// Removes every timer due at or before `now` and hands each to `body`, earliest first.
    mutating func popDue(now: Int64, _ body: (HeldTimer) -> Void) {
        while let first = heap.min, first.due <= now { body(heap.removeMin()) }
    }

    mutating func removeAll() { heap = Heap() }
}
