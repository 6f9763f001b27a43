import Crypto
import Foundation
import Payments
import Testing
import Zlib

/// The gzip decoder trade bills go through (system zlib, `Sources/Zlib`).
@Suite struct GzipTests {
    /// `seq 1 300 | tr '\n' ','` compressed by GNU gzip -9 (dynamic Huffman blocks).
    static let gzipDynamic =
        "H4sIAAAAAAACAx3TyxEFIQwDwYR0QAIM5J/Yjvfuep9pYUVTS1ulo6snD9ly5CkvecslH/nKTxmKlShTWcpWSjnKVZ7m0LQmHzk1l+bWLM2jeTWf1tCyVrT4xqW1tUrraF2tpz20rR3tqc0P2tqlfbSv9lMNlVVRTdVS8XtLdVRX9XSGjnWiM3WWztbh7xydq/N0h651ozt1l+7WLV3+7dV9ekPPetGbektv65Xe0SNG1yDHoMcgyKDIIMmgySDKoMogy+Duz8Zdh+tyna7bdbyu1/noZwI63Zc7GpqIpqLJaDqakKakSWlaejYEd+Q0PU1QU9QkNU1NVFPVZPVqMe4oa9KatiauqWvymr4msCns3bTcEdlUNplNZxPalDapTWsT29Ub4I7eJrgpbpKb5ia6qW6ym+4+PRbuSG/am/imvslv+hsAI2AIfHtV3KFgGIyDgTAShsJYGAyj4dfz6/0xQDyCR/AIHsEjeASP4BE84h4qd3gEj+ARPIJH8Age6T33oP9Fc9eb7lH3qnvWveseNh7BI3hk9vS5wyN4BI/gETyCR/AIHsEjq98Id3gEj+ARPIJH8AgewSN4ZPdj4g6P4BE8gkfwCB7BI3gEj1S/Ou7wCB7BI3gEj+ARPIJH8Mjp58kdHsEjeASP4BE8gkfwCB65/Y65wyN4BI/gETyCR/AIHsEjrx98v/ihD/ZhjtNEBAAA"
    static let expected = (1...300).map(String.init).joined(separator: ",") + ","

    @Test func decodesGNUOutputAndChecksTheTrailer() throws {
        let compressed = try #require(Data(base64Encoded: Self.gzipDynamic))
        let plain = try Gzip.decompress(Array(compressed))
        #expect(String(decoding: plain, as: UTF8.self) == Self.expected)
        #expect(Hex.encode(Insecure.SHA1.hash(data: plain)) == "63285fd9d8d9e2d7caf1fffd827c304b06679262")

        var corrupted = Array(compressed)
        corrupted[corrupted.count - 6] ^= 0x01  // CRC-32
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(corrupted) }
        var wrongLength = Array(compressed)
        wrongLength[wrongLength.count - 3] ^= 0x01  // ISIZE
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(wrongLength) }
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(compressed.prefix(40))) }
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array("not gzip at all, not gzip".utf8)) }
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(compressed) + Array("garbage, not gzip".utf8)) }
    }

    @Test func compressRoundTripsAtEveryLevelAndConcatenatedMembersDecode() throws {
        let text = Array((Self.expected + "交易时间,商户订单号\r\n").utf8)
        for level: Int32 in [0, 1, 6, 9] {
            let member = Gzip.compress(text, level: level)
            #expect(member.prefix(2) == [0x1F, 0x8B])
            #expect(try Gzip.decompress(member) == text)
        }
        let twice = Gzip.compress(text) + Gzip.compress(Array("tail".utf8))
        #expect(try Gzip.decompress(twice) == text + Array("tail".utf8))
        #expect(try Gzip.decompress(Gzip.compress([])) == [])
    }

    @Test func outputIsBounded() throws {
        let big = Gzip.compress([UInt8](repeating: 0x41, count: 1 << 20))
        #expect(big.count < 4096)
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(big, maximumOutput: 1 << 16) }
        #expect(try Gzip.decompress(big).count == 1 << 20)
    }
}
