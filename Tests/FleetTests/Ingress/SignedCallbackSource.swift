import AsyncHTTPClient
import Fleet
import FleetDev
import Foundation
import Hummingbird
import Logging
import NIOCore
import Payments
import Sandbox
import ServiceLifecycle
import Synchronization

/// Genuinely signed vendor callbacks of every channel, as the vendor sandbox sends them: orders are
/// created through the channels against an in-process sandbox with a notify URL pointing at a
/// receiver here, paid through `/_sandbox/pay`, and the callbacks the sandbox then sends are kept
/// byte for byte (body and headers). The receiver answers each channel's success, so the sandbox
/// does not retry.
final class SignedCallbackSource: Sendable {
    struct Captured: Sendable {
        var channel: ChannelID
        var merchant: String
        var outTradeNo: String
        var headers: [String: String]
        var body: [UInt8]

        /// The callback as it would arrive at the ingress's notify route.
        func request(receivedAt: Date = Date()) -> IngressRequest {
            IngressRequest(
                channel: channel.rawValue, merchant: merchant, path: "/notify/\(channel.rawValue)/\(merchant)",
                headers: headers, body: body, receivedAt: receivedAt)
        }
    }

    let registry: ChannelRegistry
    let accounts: [String: MerchantAccount]
    let sandboxURL: String
    private let http: VendorHTTP
    private let captured = Mutex<[Captured]>([])
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    private init(
        registry: ChannelRegistry, accounts: [String: MerchantAccount], sandboxURL: String, http: VendorHTTP,
        group: ServiceGroup, running: Task<Void, any Error>
    ) {
        self.registry = registry
        self.accounts = accounts
        self.sandboxURL = sandboxURL
        self.http = http
        self.group = group
        self.running = running
    }

    /// Starts the sandbox and the receiver.
    static func start(
        logger: Logger = Logger(label: "signed-callbacks", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> SignedCallbackSource {
        let placeholder = "http://sandbox.invalid"
        let demo = DevStack.demoAccounts(sandboxBaseURL: placeholder)
        var configuration = SandboxConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.timeScale = 0.001
        let sandbox = DevSandbox.make(
            configuration: configuration, accounts: demo, client: HTTPClient.shared, logger: logger)

        let holder = SourceHolder()
        let receiver = RuntimeHTTPServer(
            settings: HTTPSettings(host: "127.0.0.1", port: 0), health: HealthState(), logger: logger, probes: false
        ) { router in
            router.post("/notify/:channel/:merchant") { request, context -> Response in
                var request = request
                let body = try await request.collectBody(upTo: 1 << 20)
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName] = field.value }
                let merchant = context.parameters.get("merchant") ?? ""
                guard let source = holder.source.withLock({ $0 }), let channel = source.registry.channel(for: merchant)
                else {
                    return Response(status: .serviceUnavailable)
                }
                let bytes = Array(body.readableBytesView)
                let key =
                    (try? channel.callbackOrderKey(RawCallback(body: bytes, headers: headers, receivedAt: Date())))
                    ?? ""
                source.captured.withLock {
                    $0.append(
                        Captured(
                            channel: channel.channel, merchant: merchant, outTradeNo: key, headers: headers, body: bytes
                        ))
                }
                let reply = channel.acknowledgement.success
                var fields = HTTPFields()
                if let type = reply.contentType { fields[.contentType] = type }
                return Response(
                    status: .init(code: reply.status), headers: fields,
                    body: .init(byteBuffer: ByteBuffer(string: reply.body)))
            }
        }
        let group = ServiceGroup(configuration: .init(services: [sandbox, receiver], logger: logger))
        let running = Task { try await group.run() }
        let sandboxURL = "http://127.0.0.1:\(await sandbox.boundPort())"
        let receiverURL = "http://127.0.0.1:\(await receiver.boundPort())"
        var accounts: [String: MerchantAccount] = [:]
        for var account in demo {
            account.settings = account.settings.mapValues { $0.replacingOccurrences(of: placeholder, with: sandboxURL) }
            accounts[account.alias] = account
        }
        let http = VendorHTTP(client: HTTPClient.shared, timeout: .seconds(5))
        let registry = try ChannelRegistry(
            directory: MerchantDirectory(notifyBaseURL: receiverURL, accounts: accounts), http: http, logger: logger)
        let source = SignedCallbackSource(
            registry: registry, accounts: accounts, sandboxURL: sandboxURL, http: http, group: group, running: running)
        holder.source.withLock { $0 = source }
        return source
    }

    /// Runs `body` with a started source and stops it afterwards.
    static func with(_ body: (SignedCallbackSource) async throws -> Void) async throws {
        let source = try await start()
        do {
            try await body(source)
        } catch {
            await source.stop()
            throw error
        }
        await source.stop()
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    /// Creates an order of `channel`'s demo merchant at the sandbox, pays it, and returns the first
    /// callback the sandbox sent for it. The last two digits of `amountFen` pick the sandbox scenario
    /// (`…06`: the callback is signed with a wrong key).
    func callback(_ channel: ChannelID, outTradeNo: String, amountFen: Int64 = 1200) async throws -> Captured {
        let demo = DemoOrder.sample(
            channel: channel, outTradeNo: outTradeNo, amountFen: amountFen, description: "ingress test")
        guard let client = registry.channel(for: demo.merchant) else {
            throw FleetProcessError("no demo merchant for \(channel)")
        }
        let order = PaymentOrder(
            outTradeNo: outTradeNo, amount: Money(fen: amountFen), description: demo.description, createdAt: Date(),
            clientIP: "127.0.0.1", notifyURL: registry.notifyURL(channel: channel, merchant: demo.merchant),
            options: demo.options)
        let outcome = try await client.create(order)
        guard case .prepared = outcome else {
            throw FleetProcessError("create \(outTradeNo) at the sandbox: \(outcome)")
        }
        var request = HTTPClientRequest(url: "\(sandboxURL)/_sandbox/pay/\(channel.rawValue)/\(outTradeNo)")
        request.method = .POST
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        _ = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok else { throw FleetProcessError("pay \(outTradeNo): HTTP \(response.status.code)") }
        return try await FleetProcess.waitFor(timeout: .seconds(20), "the sandbox's callback for \(outTradeNo)") {
            captured.withLock { $0.first { $0.outTradeNo == outTradeNo } }
        }
    }
}

/// The source, once built, for the receiver's route (which exists before it).
final class SourceHolder: Sendable {
    let source = Mutex<SignedCallbackSource?>(nil)
}
