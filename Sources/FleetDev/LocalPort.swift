import Fleet

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Loopback port helpers for `payfleet dev` and the tests, which must know the sandbox's and the
/// ingress's URLs before they start (the demo accounts and the notify URLs contain them).
public enum LocalPort {
    /// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0).
    /// - Throws: ``ConfigurationError`` when no socket can be bound.
    public static func free() throws(ConfigurationError) -> Int {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ConfigurationError(setting: "port", message: "cannot open a socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw ConfigurationError(setting: "port", message: "cannot bind a loopback port") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw ConfigurationError(setting: "port", message: "cannot read the bound port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
