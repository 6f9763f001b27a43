import CZlib

/// gzip (RFC 1952) through the system zlib: vendor bills arrive gzipped (WeChat `tar_type=GZIP`)
/// and the sandbox serves them that way. Bounded output; every malformed input is a ``Failure``.
public enum Gzip {
    public struct Failure: Error, Hashable, CustomStringConvertible {
        public var reason: String
        public init(reason: String) { self.reason = reason }
        public var description: String { "gzip: \(reason)" }
    }

    /// Decompresses every member of a gzip stream; zlib checks each member's CRC-32 and ISIZE.
    /// Input that is not gzip, truncated, corrupt, or larger than `maximumOutput` once
    /// decompressed is a ``Failure``.
    public static func decompress(_ data: [UInt8], maximumOutput: Int = 256 << 20) throws(Failure) -> [UInt8] {
        guard data.count >= 18, data[0] == 0x1F, data[1] == 0x8B else { throw Failure(reason: "not a gzip stream") }
        var stream = z_stream()
        // 16 + MAX_WBITS: gzip wrapper only (no zlib or raw streams).
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(reason: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var failure: Failure?
        data.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            while true {
                let status: Int32 = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                guard output.count + produced <= maximumOutput else {
                    failure = Failure(reason: "larger than \(maximumOutput) bytes")
                    return
                }
                output += chunk[0..<produced]
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    // Another member follows (concatenated gzip); anything else after the trailer is garbage.
                    guard stream.avail_in > 0 else { return }
                    let next = Int(input.count) - Int(stream.avail_in)
                    guard input.count - next >= 18, input[next] == 0x1F, input[next + 1] == 0x8B else {
                        failure = Failure(reason: "trailing bytes after the gzip stream")
                        return
                    }
                    guard inflateReset(&stream) == Z_OK else {
                        failure = Failure(reason: "zlib could not restart")
                        return
                    }
                case Z_BUF_ERROR where stream.avail_in == 0:
                    failure = Failure(reason: "truncated stream")
                    return
                case Z_DATA_ERROR:
                    let message = stream.msg.map { String(cString: $0) } ?? "corrupt data"
                    failure = Failure(reason: message)
                    return
                default:
                    failure = Failure(reason: "zlib status \(status)")
                    return
                }
            }
        }
        if let failure { throw failure }
        return output
    }

    /// `data` as one gzip member (`level` 0–9, default zlib's 6).
    public static func compress(_ data: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8] {
        var stream = z_stream()
        guard
            deflateInit2_(
                &stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { preconditionFailure("zlib deflateInit2 failed: out of memory") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(data.count))) + 32)
        data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { buffer in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = UInt32(input.count)
                stream.next_out = buffer.baseAddress
                stream.avail_out = UInt32(buffer.count)
                // deflateBound guarantees one Z_FINISH call completes.
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "zlib deflate did not finish within deflateBound")
            }
        }
        return Array(output[0..<Int(stream.total_out)])
    }
}
