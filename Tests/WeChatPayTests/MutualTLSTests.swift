import Foundation
import Payments
import Testing

@testable import WeChatPay

/// The API client certificate really is presented in the TLS handshake: `openssl s_server
/// -Verify 1` refuses a client without a certificate it trusts and, with `-www`, answers a page
/// that prints the client certificate it received.
@Suite(
    .timeLimit(.minutes(1)),
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs /usr/bin/openssl"))
struct MutualTLSTests {
    final class Server {
        var process: Process?
        /// Kept open for the server's life (see `start`).
        var input: Pipe?
        let directory: URL
        var port = 0

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("mtls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }

        func openssl(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.currentDirectoryURL = directory
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw HarnessError(message: "openssl \(arguments[0]) failed") }
        }

        /// Generates the server certificate (for 127.0.0.1) and starts `s_server` trusting `clientCAs`.
        func start(trusting clientCAs: [String]) async throws -> String {
            try openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                "server.key", "-out", "server.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            try clientCAs.map { $0 + "\n" }.joined().write(
                to: directory.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
            // s_server's own output is block-buffered into a file, so the port is chosen here and
            // readiness is seen by connecting (``send(_:_:)`` retries while nothing listens).
            var lastLog = ""
            for _ in 0..<5 {
                let port = Int.random(in: 20_000...60_000)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
                process.arguments = [
                    "s_server", "-accept", "127.0.0.1:\(port)", "-cert", "server.pem", "-key", "server.key", "-CAfile",
                    "ca.pem", "-Verify", "1", "-www",
                ]
                process.currentDirectoryURL = directory
                // A pipe nobody writes to: s_server reads commands from its input and stops at its end.
                let input = Pipe()
                process.standardInput = input
                let log = directory.appendingPathComponent("s_server-\(port).log")
                _ = FileManager.default.createFile(atPath: log.path, contents: nil)
                let output = try FileHandle(forWritingTo: log)
                process.standardOutput = output
                process.standardError = output
                try process.run()
                try await Task.sleep(for: .milliseconds(300))
                lastLog = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                if process.isRunning {
                    self.process = process
                    self.input = input
                    self.port = port
                    return try String(contentsOf: directory.appendingPathComponent("server.pem"), encoding: .utf8)
                }
            }
            throw HarnessError(message: "s_server did not start: \(lastLog.prefix(800))")
        }

        /// One request, retried while the server is not listening yet.
        func send(_ http: VendorHTTP, _ identity: TLSClientIdentity) async throws -> VendorHTTPResponse {
            for _ in 0..<200 {
                switch await attempt(http, identity) {
                case .success(let response): return response
                case .failure(let error) where error.code == .unreachable:
                    try await Task.sleep(for: .milliseconds(20))
                case .failure(let error): throw error
                }
            }
            throw HarnessError(message: "s_server never accepted a connection")
        }

        func attempt(
            _ http: VendorHTTP, _ identity: TLSClientIdentity
        ) async -> Result<VendorHTTPResponse, ChannelError> {
            do throws(ChannelError) {
                return .success(
                    try await http.send(method: .GET, url: "https://127.0.0.1:\(port)/", identity: identity))
            } catch {
                return .failure(error)
            }
        }

        func stop() {
            if let process, process.isRunning {
                // SIGKILL: a server started from the test runner does not act on SIGTERM.
                _ = kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test func eachRequestPresentsItsOwnClientCertificate() async throws {
        let server = try Server()
        defer { server.stop() }
        let first = try #require(WeChatV2Channel.sandboxClientCertificate(mchID: "1900000109"))
        let second = try #require(WeChatV2Channel.sandboxClientCertificate(mchID: "1900000777"))
        let serverPEM = try await server.start(trusting: [first.certificatePEM, second.certificatePEM])
        let http = VendorHTTP(client: SandboxHarness.vendorClient, timeout: .seconds(10))
        let identities = try [first, second].map { pair in
            try TLSClientIdentity(
                certificatePEM: Secret(pair.certificatePEM), privateKeyPEM: Secret(pair.keyPEM),
                trustRootsPEM: serverPEM)
        }
        #expect(identities[0] != identities[1])
        // Alternate: a shared pool would send one merchant's request with the other's certificate.
        for (round, index) in [0, 1, 0, 1].enumerated() {
            let response = try await server.send(http, identities[index])
            #expect(response.status == 200)
            let expected = index == 0 ? "CN=1900000109" : "CN=1900000777"
            let other = index == 0 ? "CN=1900000777" : "CN=1900000109"
            #expect(response.bodyText.contains("Client certificate"), "round \(round)")
            #expect(response.bodyText.contains(expected), "round \(round)")
            #expect(!response.bodyText.contains(other), "round \(round)")
        }
    }

    @Test func identitiesNeverShowTheirKey() throws {
        let pair = try #require(WeChatV2Channel.sandboxClientCertificate(mchID: "1900000109"))
        let identity = try TLSClientIdentity(
            certificatePEM: Secret(pair.certificatePEM), privateKeyPEM: Secret(pair.keyPEM))
        let key = pair.keyPEM.split(separator: "\n")[1]
        #expect(!"\(identity)".contains(key))
        #expect(!String(reflecting: identity).contains(key))
        #expect(identity.fingerprint.count == 64)
        do throws(ChannelError) {
            _ = try TLSClientIdentity(certificatePEM: Secret(pair.keyPEM), privateKeyPEM: Secret(pair.keyPEM))
            Issue.record("a key accepted as a certificate")
        } catch {
            #expect(error.code == .configuration)
            #expect(!error.message.contains(key))
        }
    }
}
