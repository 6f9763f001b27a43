/// A small gzip (RFC 1952) / DEFLATE (RFC 1951) decoder for trade bills, so the bill's SHA1 can be
/// checked over the decompressed file without linking zlib. Bounded output; every malformed input
/// is a ``Failure``.
enum Gzip {
    struct Failure: Error, Hashable, CustomStringConvertible {
        var reason: String
        var description: String { "gzip: \(reason)" }
    }

    /// Decompresses every member of a gzip stream, checking CRC-32 and ISIZE.
    static func decompress(_ data: [UInt8], maximumOutput: Int = 256 << 20) throws(Failure) -> [UInt8] {
        var output: [UInt8] = []
        var offset = 0
        repeat {
            guard data.count - offset >= 18 else { throw Failure(reason: "too short") }
            guard data[offset] == 0x1F, data[offset + 1] == 0x8B else { throw Failure(reason: "not a gzip stream") }
            guard data[offset + 2] == 8 else { throw Failure(reason: "unknown compression method") }
            let flags = data[offset + 3]
            var position = offset + 10
            if flags & 0x04 != 0 {  // FEXTRA
                guard position + 2 <= data.count else { throw Failure(reason: "truncated header") }
                position += 2 + (Int(data[position]) | Int(data[position + 1]) << 8)
            }
            for flag in [UInt8(0x08), 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT
                while position < data.count, data[position] != 0 { position += 1 }
                position += 1
            }
            if flags & 0x02 != 0 { position += 2 }  // FHCRC
            guard position < data.count else { throw Failure(reason: "truncated header") }
            var inflater = Inflater(input: data, position: position, maximumOutput: maximumOutput - output.count)
            let member = try inflater.inflate()
            var end = inflater.bytePosition
            guard end + 8 <= data.count else { throw Failure(reason: "truncated trailer") }
            let crc =
                UInt32(data[end]) | UInt32(data[end + 1]) << 8 | UInt32(data[end + 2]) << 16 | UInt32(data[end + 3])
                << 24
            let size =
                UInt32(data[end + 4]) | UInt32(data[end + 5]) << 8 | UInt32(data[end + 6]) << 16 | UInt32(data[end + 7])
                << 24
            guard crc == CRC32.checksum(member) else { throw Failure(reason: "CRC-32 mismatch") }
            guard size == UInt32(truncatingIfNeeded: member.count) else { throw Failure(reason: "length mismatch") }
            output += member
            end += 8
            offset = end
        } while offset < data.count && data[offset] == 0x1F
        return output
    }

    /// A gzip stream of `data` using stored (uncompressed) DEFLATE blocks.
    static func storedGzip(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255]
        var index = 0
        repeat {
            let count = min(65535, data.count - index)
            let final: UInt8 = index + count >= data.count ? 1 : 0
            out.append(final)
            out += [UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF)]
            out += data[index..<(index + count)]
            index += count
        } while index < data.count
        let crc = CRC32.checksum(data)
        let size = UInt32(truncatingIfNeeded: data.count)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((crc >> UInt32(shift)) & 0xFF)) }
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((size >> UInt32(shift)) & 0xFF)) }
        return out
    }
}

enum CRC32 {
    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// DEFLATE decoder (stored, fixed and dynamic Huffman blocks).
struct Inflater {
    let input: [UInt8]
    var bytePosition: Int
    var bitBuffer: UInt32 = 0
    var bitCount = 0
    let maximumOutput: Int
    var output: [UInt8] = []

    init(input: [UInt8], position: Int, maximumOutput: Int) {
        self.input = input
        self.bytePosition = position
        self.maximumOutput = maximumOutput
    }

    struct Huffman {
        var counts: [Int]
        var symbols: [Int]

        init(lengths: [Int]) throws(Gzip.Failure) {
            counts = Array(repeating: 0, count: 16)
            for length in lengths { counts[length] += 1 }
            counts[0] = 0
            var left = 1
            for length in 1..<16 {
                left <<= 1
                left -= counts[length]
                guard left >= 0 else { throw Gzip.Failure(reason: "over-subscribed Huffman code") }
            }
            var offsets = Array(repeating: 0, count: 16)
            for length in 1..<15 { offsets[length + 1] = offsets[length] + counts[length] }
            symbols = Array(repeating: 0, count: lengths.count)
            for (symbol, length) in lengths.enumerated() where length != 0 {
                symbols[offsets[length]] = symbol
                offsets[length] += 1
            }
        }
    }

    static let lengthBase = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227,
        258,
    ]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
        6145, 8193, 12289, 16385, 24577,
    ]
    static let distanceExtra = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
    ]

    mutating func bits(_ count: Int) throws(Gzip.Failure) -> Int {
        while bitCount < count {
            guard bytePosition < input.count else { throw Gzip.Failure(reason: "truncated stream") }
            bitBuffer |= UInt32(input[bytePosition]) << UInt32(bitCount)
            bytePosition += 1
            bitCount += 8
        }
        let value = Int(bitBuffer & ((1 << UInt32(count)) - 1))
        bitBuffer >>= UInt32(count)
        bitCount -= count
        return value
    }

    mutating func decode(_ huffman: Huffman) throws(Gzip.Failure) -> Int {
        var code = 0
        var first = 0
        var index = 0
        for length in 1..<16 {
            code |= try bits(1)
            let count = huffman.counts[length]
            if code - count < first { return huffman.symbols[index + (code - first)] }
            index += count
            first += count
            first <<= 1
            code <<= 1
        }
        throw Gzip.Failure(reason: "invalid Huffman code")
    }

    mutating func append(_ byte: UInt8) throws(Gzip.Failure) {
        guard output.count < maximumOutput else { throw Gzip.Failure(reason: "output too large") }
        output.append(byte)
    }

    mutating func inflate() throws(Gzip.Failure) -> [UInt8] {
        var last = 0
        repeat {
            last = try bits(1)
            switch try bits(2) {
            case 0: try stored()
            case 1: try codes(literals: Self.fixedLiterals, distances: Self.fixedDistances)
            case 2: try dynamic()
            default: throw Gzip.Failure(reason: "invalid block type")
            }
        } while last == 0
        // The trailer starts at the next byte boundary.
        bitBuffer = 0
        bitCount = 0
        return output
    }

    mutating func stored() throws(Gzip.Failure) {
        bitBuffer = 0
        bitCount = 0
        guard bytePosition + 4 <= input.count else { throw Gzip.Failure(reason: "truncated stored block") }
        let length = Int(input[bytePosition]) | Int(input[bytePosition + 1]) << 8
        let complement = Int(input[bytePosition + 2]) | Int(input[bytePosition + 3]) << 8
        guard length == ~complement & 0xFFFF else { throw Gzip.Failure(reason: "bad stored block length") }
        bytePosition += 4
        guard bytePosition + length <= input.count else { throw Gzip.Failure(reason: "truncated stored block") }
        guard output.count + length <= maximumOutput else { throw Gzip.Failure(reason: "output too large") }
        output += input[bytePosition..<(bytePosition + length)]
        bytePosition += length
    }

    static let fixedLiterals: Huffman = {
        var lengths = Array(repeating: 8, count: 288)
        for index in 144..<256 { lengths[index] = 9 }
        for index in 256..<280 { lengths[index] = 7 }
        // Statically valid code lengths (RFC 1951 §3.2.6).
        return (try? Huffman(lengths: lengths)) ?? Huffman.empty
    }()

    static let fixedDistances: Huffman = (try? Huffman(lengths: Array(repeating: 5, count: 30))) ?? Huffman.empty

    mutating func dynamic() throws(Gzip.Failure) {
        let literalCount = try bits(5) + 257
        let distanceCount = try bits(5) + 1
        let codeCount = try bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else { throw Gzip.Failure(reason: "bad dynamic block counts") }
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var codeLengths = Array(repeating: 0, count: 19)
        for index in 0..<codeCount { codeLengths[order[index]] = try bits(3) }
        let lengthCode = try Huffman(lengths: codeLengths)
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let symbol = try decode(lengthCode)
            switch symbol {
            case 0..<16:
                lengths.append(symbol)
            case 16:
                guard let previous = lengths.last else { throw Gzip.Failure(reason: "repeat with no previous length") }
                let extra = try bits(2)
                lengths += Array(repeating: previous, count: 3 + extra)
            case 17:
                let extra = try bits(3)
                lengths += Array(repeating: 0, count: 3 + extra)
            default:
                let extra = try bits(7)
                lengths += Array(repeating: 0, count: 11 + extra)
            }
        }
        guard lengths.count == literalCount + distanceCount else { throw Gzip.Failure(reason: "too many code lengths") }
        guard lengths[256] != 0 else { throw Gzip.Failure(reason: "no end-of-block code") }
        let literals = try Huffman(lengths: Array(lengths[0..<literalCount]))
        let distances = try Huffman(lengths: Array(lengths[literalCount...]))
        try codes(literals: literals, distances: distances)
    }

    mutating func codes(literals: Huffman, distances: Huffman) throws(Gzip.Failure) {
        while true {
            let symbol = try decode(literals)
            if symbol < 256 {
                try append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let index = symbol - 257
                guard index < Self.lengthBase.count else { throw Gzip.Failure(reason: "bad length symbol") }
                let lengthExtra = try bits(Self.lengthExtra[index])
                let length = Self.lengthBase[index] + lengthExtra
                let distanceSymbol = try decode(distances)
                guard distanceSymbol < Self.distanceBase.count else {
                    throw Gzip.Failure(reason: "bad distance symbol")
                }
                let distanceExtra = try bits(Self.distanceExtra[distanceSymbol])
                let distance = Self.distanceBase[distanceSymbol] + distanceExtra
                guard distance <= output.count else { throw Gzip.Failure(reason: "distance too far back") }
                let start = output.count - distance
                for offset in 0..<length { try append(output[start + offset]) }
            }
        }
    }
}

extension Inflater.Huffman {
    static let empty = Inflater.Huffman(counts: Array(repeating: 0, count: 16), symbols: [])

    init(counts: [Int], symbols: [Int]) {
        self.counts = counts
        self.symbols = symbols
    }
}
