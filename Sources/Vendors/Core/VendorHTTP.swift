import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// An HTTP response from a vendor, fully read.
public struct VendorHTTPResponse: Sendable {
    public var status: Int
    /// Header names lowercased.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// The HTTP transport every vendor client uses: one shared `HTTPClient`, a per-call deadline, a
/// cap on the response size, and failures classified the way the worker needs them:
/// ``ChannelError/Code/unreachable`` when the request cannot have reached the vendor (so a retry
/// or a failover to a backup domain is safe) and ``ChannelError/Code/timeout`` when it may have.
public struct VendorHTTP: Sendable {
    public let client: HTTPClient
    public var timeout: Duration
    public var maximumResponseBytes: Int
    /// One executor per event loop of the client's group: each exchange runs on one of them.
    private let executors: [EventLoopTaskExecutor]

    public init(client: HTTPClient, timeout: Duration = .seconds(10), maximumResponseBytes: Int = 4 << 20) {
        self.client = client
        self.timeout = timeout
        self.maximumResponseBytes = maximumResponseBytes
        self.executors = client.eventLoopGroup.makeIterator().map(EventLoopTaskExecutor.init)
    }

    /// Sends one request. `url` is absolute; `headers` are sent as given.
    ///
    /// `identity`, when given, is the TLS client certificate the request presents (mutual TLS, on
    /// `https` URLs): the shared client keeps one connection pool per identity.
    public func send(
        method: HTTPMethod,
        url: String,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil,
        timeout: Duration? = nil,
        identity: TLSClientIdentity? = nil,
        logger: Logger? = nil
    ) async throws(ChannelError) -> VendorHTTPResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let identity { request.tlsConfiguration = identity.configuration }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let deadline = timeout ?? self.timeout
        let seconds = Int64(deadline.components.seconds)
        let millis = seconds * 1000 + Int64(deadline.components.attoseconds / 1_000_000_000_000_000)
        // The exchange runs on one of the client's event loops, where AsyncHTTPClient does its work:
        // its deadline timer, the request's hand-over to a connection, the answer's head and every
        // body part then stay on that thread instead of each waking another.
        let limit = maximumResponseBytes
        let sent = request
        let exchange = { () async throws -> VendorHTTPResponse in
            let response = try await client.execute(sent, timeout: .milliseconds(max(1, millis)), logger: logger)
            var collected = try await response.body.collect(upTo: limit)
            let bytes = collected.readBytes(length: collected.readableBytes) ?? []
            var names: [String: String] = [:]
            for header in response.headers { names[header.name.lowercased()] = header.value }
            return VendorHTTPResponse(status: Int(response.status.code), headers: names, body: bytes)
        }
        do {
            if let executor = executors.randomElement() {
                return try await withTaskExecutorPreference(executor, operation: exchange)
            }
            return try await exchange()
        } catch {
            throw Self.classify(error, url: url)
        }
    }

    /// Maps a transport failure to a ``ChannelError`` with no request content in the message.
    static func classify(_ error: any Error, url: String) -> ChannelError {
        let host = URLComponents(string: url)?.host ?? "vendor"
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout:
                return ChannelError(.unreachable, "could not connect to \(host): \(error.shortDescription)")
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return ChannelError(.timeout, "no answer from \(host) in time")
            case .remoteConnectionClosed:
                return ChannelError(.timeout, "\(host) closed the connection before answering")
            default:
                return ChannelError(.unreachable, "request to \(host) failed: \(error.shortDescription)")
            }
        }
        if error is NIOTooManyBytesError {
            return ChannelError(.badResponse, "answer from \(host) is too large")
        }
        if error is ChannelError {
            return ChannelError(.unreachable, "could not connect to \(host)")
        }
        let text = String(describing: error)
        if text.contains("connect") || text.contains("Connection refused") || text.contains("resolve") {
            return ChannelError(.unreachable, "could not connect to \(host)")
        }
        return ChannelError(.timeout, "request to \(host) failed before an answer")
    }
}

/// Runs the jobs of tasks that prefer it on one SwiftNIO event loop (`withTaskExecutorPreference`).
/// A job enqueued from that loop's own thread goes onto its task queue without a wake-up.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// `application/x-www-form-urlencoded` encoding and decoding (UTF-8, `+` for space on decode).
public enum FormEncoding {
    /// RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`), which are written as they are.
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }

    public static func encode(_ pairs: [(String, String)]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(pairs.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 2 } * 3 / 2)
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            escape(pair.0, into: &out)
            out.append(UInt8(ascii: "="))
            escape(pair.1, into: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func escape(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        escape(text, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `text` percent-encoded: unreserved bytes as they are, every other byte as `%XX`.
    static func escape(_ text: String, into out: inout [UInt8]) {
        let digits: StaticString = "0123456789ABCDEF"
        let table = digits.utf8Start
        for byte in text.utf8 {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(table[Int(byte >> 4)])
                out.append(table[Int(byte & 0x0F)])
            }
        }
    }

    /// Decodes a form body. Fails on malformed percent escapes or invalid UTF-8; a repeated name keeps the last value.
    public static func decode(_ text: String) -> [String: String]? {
        var text = text
        return text.withUTF8 { decode(bytes: $0) }
    }

    /// Decodes the bytes of a form body (see ``decode(_:)``): `&`-separated `name=value` pairs,
    /// empty pairs skipped, a pair without `=` has an empty value, names must not be empty.
    public static func decode(bytes: UnsafeBufferPointer<UInt8>) -> [String: String]? {
        var result: [String: String] = [:]
        var start = 0
        let end = bytes.count
        while start < end {
            var stop = start
            while stop < end, bytes[stop] != UInt8(ascii: "&") { stop += 1 }
            if stop > start {
                var equals = start
                while equals < stop, bytes[equals] != UInt8(ascii: "=") { equals += 1 }
                guard let name = unescape(UnsafeBufferPointer(rebasing: bytes[start..<equals])), !name.isEmpty
                else { return nil }
                let valueStart = min(equals + 1, stop)
                guard let value = unescape(UnsafeBufferPointer(rebasing: bytes[valueStart..<stop])) else { return nil }
                result[name] = value
            }
            start = stop + 1
        }
        return result
    }

    static func unescape(_ text: String) -> String? {
        var text = text
        return text.withUTF8 { unescape($0) }
    }

    /// `+` is a space, `%XX` (two hex digits) a byte; the result must be UTF-8.
    static func unescape(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        if !bytes.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) {
            return String(validating: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "+"):
                out.append(UInt8(ascii: " "))
                index += 1
            case UInt8(ascii: "%"):
                guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
                    let low = hexValue(bytes[index + 2])
                else { return nil }
                out.append(high << 4 | low)
                index += 3
            default:
                out.append(byte)
                index += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension VendorHTTP {
    /// The `HTTPClient` configuration for vendor calls: a short connect timeout and no silent
    /// re-dialling of a refused connection, so an unreachable primary host fails fast as
    /// ``ChannelError/Code/unreachable`` and a channel can fail over to its backup host well
    /// inside the request deadline.
    ///
    /// The pool allows `connectionsPerHost` HTTP/1 connections per vendor host (AsyncHTTPClient's
    /// default of 8 makes a worker with 64 orders in flight queue for connections until
    /// "get connection from pool timeout"). Requests open no tracing spans.
    public static func clientConfiguration(
        connectTimeout: Duration = .seconds(3),
        connectionsPerHost: Int = 64
    ) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .milliseconds(Int64(connectTimeout.components.seconds * 1000))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connectionsPerHost
        // PayFleet bootstraps no distributed tracer: without this, each request still opens a span on
        // the no-op global tracer and builds its attributes (about 1 % of a worker's CPU).
        configuration.tracing.tracer = nil
        return configuration
    }

    /// A shared-event-loop `HTTPClient` configured by ``clientConfiguration(connectTimeout:)``.
    /// Shut it down with `shutdown()` when the process stops.
    public static func makeClient(connectTimeout: Duration = .seconds(3)) -> HTTPClient {
        HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: clientConfiguration(connectTimeout: connectTimeout))
    }
}
