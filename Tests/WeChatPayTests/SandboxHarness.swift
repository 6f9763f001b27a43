import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Payments
import Sandbox
import ServiceLifecycle

@testable import WeChatPay

/// An in-process vendor sandbox on 127.0.0.1 plus a callback receiver standing in for the ingress.
/// The receiver verifies each callback with the channel and answers its acknowledgement (or its
/// failure answer when verification fails, so the sandbox retries on WeChat's time-scaled schedule).
final class SandboxHarness: Sendable {
    struct Received: Sendable {
        var channel: String
        /// The order the callback names, found without verifying it (as the ingress does).
        var orderKey: String?
        var raw: RawCallback
        var result: Result<VerifiedCallback, CallbackError>
    }

    let sandbox: VendorSandbox
    let sandboxPort: Int
    let receiverPort: Int
    let v2Account: MerchantAccount
    let v3Account: MerchantAccount
    let http: VendorHTTP
    let logger: Logger
    private let received = NIOLockedValueBox<[Received]>([])
    private let channels = NIOLockedValueBox<[String: any PaymentChannel]>([:])

    var sandboxURL: String { "http://127.0.0.1:\(sandboxPort)" }

    /// The client the channels use, configured as a vendor client should be: a refused connection
    /// fails at once (no re-dialling until the deadline), so failover to the backup host is immediate.
    static let vendorClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    private init(
        sandbox: VendorSandbox, sandboxPort: Int, receiverPort: Int, v2: MerchantAccount, v3: MerchantAccount,
        http: VendorHTTP, logger: Logger
    ) {
        self.sandbox = sandbox
        self.sandboxPort = sandboxPort
        self.receiverPort = receiverPort
        self.v2Account = v2
        self.v3Account = v3
        self.http = http
        self.logger = logger
    }

    /// Runs `body` with a fresh sandbox and receiver, then shuts both down.
    static func with(
        timeScale: Double = 0.001,
        slowAnswer: Duration = .seconds(2),
        httpTimeout: Duration = .seconds(5),
        autopayAfter: Duration? = nil,
        v3Settings: [String: String] = [:],
        _ body: (SandboxHarness) async throws -> Void
    ) async throws {
        let logger = Logger(label: "wechat-sandbox-tests", factory: { _ in SwiftLogNoOpLogHandler() })
        let placeholder = "http://127.0.0.1:1"
        let v2 = WeChatV2Channel.sandboxDemoAccount(alias: "demo-wechat-v2", sandboxBaseURL: placeholder)
        var v3 = WeChatCombineChannel.sandboxDemoAccount(alias: "demo-wechat-v3-combine", sandboxBaseURL: placeholder)
        for (name, value) in v3Settings { v3.settings[name] = value }

        var configuration = SandboxConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.timeScale = timeScale
        configuration.slowAnswer = slowAnswer
        configuration.autopayAfter = autopayAfter
        configuration.merchants = [v2, v3].map {
            SandboxMerchant(
                channel: $0.channel.rawValue, settings: $0.settings, secrets: $0.secrets.mapValues { $0.reveal() })
        }
        let dispatcher = CallbackDispatcher(client: HTTPClient.shared, configuration: configuration, logger: logger)
        let context = SandboxContext(configuration: configuration, dispatcher: dispatcher, logger: logger)
        let sandbox = VendorSandbox(context: context, simulators: VendorSandbox.standardSimulators(context: context))

        let receiverPort = NIOLockedValueBox<Int?>(nil)
        let holder = HarnessHolder()
        let router = Router()
        router.post("/notify/:channel/:merchant") { request, context in
            var request = request
            let buffer = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let raw = RawCallback(body: Array(buffer.readableBytesView), headers: headers, receivedAt: Date())
            let channelName = context.parameters.get("channel") ?? ""
            guard let harness = holder.harness.withLockedValue({ $0 }) else {
                return Response(status: .serviceUnavailable)
            }
            return await harness.receive(channel: channelName, raw: raw)
        }
        let receiver = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "test-receiver"),
            onServerRunning: { channel in receiverPort.withLockedValue { $0 = channel.localAddress?.port } },
            logger: logger
        )
        let group = ServiceGroup(services: [sandbox, receiver], logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }

        let port = await sandbox.boundPort()
        var receiverBound: Int?
        for _ in 0..<500 {
            receiverBound = receiverPort.withLockedValue { $0 }
            if receiverBound != nil { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard let receiverBound else { throw HarnessError(message: "receiver did not start") }

        let base = "http://127.0.0.1:\(port)"
        var liveV2 = v2
        liveV2.settings["api_base_url"] = base
        liveV2.settings["backup_api_base_url"] = base
        var liveV3 = v3
        liveV3.settings["api_base_url"] = base
        liveV3.settings["backup_api_base_url"] = base
        let harness = SandboxHarness(
            sandbox: sandbox, sandboxPort: port, receiverPort: receiverBound, v2: liveV2, v3: liveV3,
            http: VendorHTTP(client: Self.vendorClient, timeout: httpTimeout), logger: logger
        )
        holder.harness.withLockedValue { $0 = harness }
        do {
            try await body(harness)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    func notifyURL(_ channel: ChannelID) -> String {
        "http://127.0.0.1:\(receiverPort)/notify/\(channel.rawValue)/demo"
    }

    /// The channel callbacks are verified with (set by the test).
    func useForCallbacks(_ channel: any PaymentChannel) {
        channels.withLockedValue { $0[channel.channel.rawValue] = channel }
    }

    func receive(channel: String, raw: RawCallback) async -> Response {
        guard let client = channels.withLockedValue({ $0[channel] }) else { return Response(status: .notFound) }
        let result: Result<VerifiedCallback, CallbackError>
        do {
            result = .success(try await client.verifyCallback(raw))
        } catch {
            result = .failure(error)
        }
        let orderKey = try? client.callbackOrderKey(raw)
        received.withLockedValue { $0.append(Received(channel: channel, orderKey: orderKey, raw: raw, result: result)) }
        let reply: CallbackReply
        switch result {
        case .success: reply = client.acknowledgement.success
        case .failure: reply = client.acknowledgement.failure
        }
        var headers = HTTPFields()
        if let type = reply.contentType { headers[.contentType] = type }
        return Response(
            status: HTTPResponse.Status(code: reply.status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: reply.body))
        )
    }

    /// Callbacks received for an order so far.
    func callbacks(for outTradeNo: String) -> [Received] {
        received.withLockedValue { $0.filter { $0.orderKey == outTradeNo } }
    }

    /// Waits until `condition` holds for the callbacks of an order (or fails after `timeout`).
    func waitForCallbacks(
        _ outTradeNo: String, timeout: Duration = .seconds(10), until condition: ([Received]) -> Bool
    ) async throws -> [Received] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let current = callbacks(for: outTradeNo)
            if condition(current) { return current }
            try await Task.sleep(for: .milliseconds(20))
        }
        let attempts = sandbox.context.dispatcher.history.filter { $0.outTradeNo == outTradeNo }.map {
            "\($0.attempt):\($0.status.map(String.init) ?? "-")"
        }
        let results = callbacks(for: outTradeNo).map { received in
            switch received.result {
            case .success: "verified"
            case .failure(let error): error.description
            }
        }
        throw HarnessError(
            message: "callbacks for \(outTradeNo) did not arrive as expected: \(results), sandbox attempts \(attempts)")
    }

    func pay(_ channel: ChannelID, _ outTradeNo: String) async throws -> Int {
        var request = HTTPClientRequest(url: "\(sandboxURL)/_sandbox/pay/\(channel.rawValue)/\(outTradeNo)")
        request.method = .POST
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        _ = try await response.body.collect(upTo: 1 << 16)
        return Int(response.status.code)
    }

    /// The order as the sandbox holds it (`GET /_sandbox/orders/<channel>/<out_trade_no>`).
    func view(_ channel: ChannelID, _ outTradeNo: String) async throws -> SandboxOrderView? {
        let request = HTTPClientRequest(url: "\(sandboxURL)/_sandbox/orders/\(channel.rawValue)/\(outTradeNo)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok else { return nil }
        return try JSONDecoder().decode(SandboxOrderView.self, from: Data(body.readableBytesView))
    }

    static func orderNumber(_ prefix: String) -> String {
        prefix + String(UInt64.random(in: 100_000_000...999_999_999))
    }
}

final class HarnessHolder: Sendable {
    let harness = NIOLockedValueBox<SandboxHarness?>(nil)
}

struct HarnessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
