import Foundation
import Testing

@testable import Fleet

@Suite("Allocator settings")
struct AllocatorTests {
    #if canImport(Glibc)
    /// glibc marks a chunk served by its own mapping with bit 0x2 of the size word before it.
    private func isMapped(_ pointer: UnsafeMutableRawPointer) -> Bool {
        (pointer - MemoryLayout<Int>.size).load(as: Int.self) & 0x2 != 0
    }

    @Test("with the mapping threshold fixed, a large block freed does not move later blocks into the heap")
    func fixedThreshold() throws {
        #expect(Allocator.mapAllocations(atLeast: DelayScheduler.allocatorMappingThreshold))
        // Freeing a mapped 4 MiB block would raise glibc's threshold to 4 MiB if it were still
        // adjusted: the 1 MiB block after it would then come from the heap and stay resident.
        let large = try #require(malloc(4 << 20))
        #expect(isMapped(large))
        free(large)
        let next = try #require(malloc(1 << 20))
        defer { free(next) }
        #expect(isMapped(next))
        let small = try #require(malloc(64 << 10))
        defer { free(small) }
        #expect(!isMapped(small))
    }
    #endif
}
