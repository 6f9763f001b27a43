import Foundation

/// Process-wide settings of the C allocator (glibc `malloc`), for a role whose memory is sized by
/// what it holds.
public enum Allocator {
    /// Serves every allocation of at least `bytes` with its own mapping, returned to the system
    /// when freed (glibc `mallopt(M_MMAP_THRESHOLD)`; nothing elsewhere).
    ///
    /// By default glibc raises this threshold to the size of each mapped block freed (up to 32 MiB),
    /// so after the first large buffers are freed the next ones are carved out of the heap, and
    /// their memory stays in the process once freed. The scheduler takes a burst of timers through
    /// librdkafka's fetch buffers (up to 1 MiB a partition per fetch): with the threshold fixed
    /// those buffers are unmapped when freed, instead of staying resident next to the timers it
    /// holds. A fixed threshold also turns off glibc's adjusting of it.
    /// - Returns: Whether the allocator took the setting.
    @discardableResult
    public static func mapAllocations(atLeast bytes: Int32) -> Bool {
        #if canImport(Glibc)
        // malloc.h is not part of the Glibc module: look the function up.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        return unsafeBitCast(symbol, to: Mallopt.self)(mmapThreshold, bytes) == 1
        #else
        return false
        #endif
    }

    /// Returns freed heap memory to the system (glibc `malloc_trim`; nothing elsewhere).
    public static func releaseFreedMemory() {
        #if canImport(Glibc)
        typealias Trim = @convention(c) (Int) -> Int32
        if let symbol = dlsym(nil, "malloc_trim") { _ = unsafeBitCast(symbol, to: Trim.self)(0) }
        #endif
    }
}
