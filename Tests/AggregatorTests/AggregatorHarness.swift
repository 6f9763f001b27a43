import AsyncHTTPClient
import Foundation
import Hummingbird
import Leshouying
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Payments
import Sandbox
import StorePOS
import Testing
import YunGouOS

/// A vendor sandbox and a callback receiver on 127.0.0.1, with the three aggregator channels
/// pointed at them.
final class AggregatorHarness: Sendable {
    let client: HTTPClient
    let sandbox: VendorSandbox
    let sandboxTask: Task<Void, any Error>
    let receiverTask: Task<Void, any Error>
    let sandboxURL: String
    let notifyBase: String
    let received: NIOLockedValueBox<[String: [RawCallback]]>
    /// Per-channel answer the receiver gives instead of the channel's acknowledgement.
    let replies: NIOLockedValueBox<[String: CallbackReply]>
    let http: VendorHTTP
    let accounts: [ChannelID: MerchantAccount]
    /// The logger the channels and the sandbox log to.
    let logger: Logger

    static let logger = Logger(label: "aggregator-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// - Parameters:
    ///   - autopay: the sandbox's autopay delay, if any.
    ///   - adjust: changes to the client accounts (and, through them, the sandbox's merchants).
    static func start(
        autopay: Duration? = nil,
        clientTimeout: Duration = .seconds(2),
        timeScale: Double = 0.001,
        logger: Logger = AggregatorHarness.logger,
        adjust: (inout [ChannelID: MerchantAccount]) -> Void = { _ in }
    ) async throws -> AggregatorHarness {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let received = NIOLockedValueBox<[String: [RawCallback]]>([:])
        let replies = NIOLockedValueBox<[String: CallbackReply]>([:])
        let receiver = try await startReceiver(received, replies: replies)
        let receiverPort = await receiver.port()

        // The sandbox merchants must be known before it starts, and the client accounts need its port:
        // reserve the names first with a placeholder base URL, then rewrite it.
        var accounts: [ChannelID: MerchantAccount] = [
            .yungouos: YunGouOSChannel.sandboxDemoAccount(alias: "demo-yungouos", sandboxBaseURL: "http://127.0.0.1:1"),
            .leshouying: LeshouyingChannel.sandboxDemoAccount(
                alias: "demo-leshouying", sandboxBaseURL: "http://127.0.0.1:1"),
            .storepos: StorePOSChannel.sandboxDemoAccount(alias: "demo-storepos", sandboxBaseURL: "http://127.0.0.1:1"),
        ]
        accounts[.yungouos]?.settings["query_min_interval_seconds"] = "0"
        adjust(&accounts)
        var configuration = SandboxConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.timeScale = timeScale
        configuration.autopayAfter = autopay
        configuration.slowAnswer = clientTimeout + .seconds(1)
        configuration.merchants = accounts.values.map { account in
            var settings = account.settings
            if account.channel == .yungouos {
                settings["sandbox_query_interval_seconds"] = settings["sandbox_query_interval_seconds"] ?? "0"
            }
            return SandboxMerchant(
                channel: account.channel.rawValue,
                settings: settings,
                secrets: account.secrets.mapValues { $0.reveal() }
            )
        }
        let context = SandboxContext(
            configuration: configuration,
            dispatcher: CallbackDispatcher(client: client, configuration: configuration, logger: logger),
            logger: logger
        )
        let sandbox = VendorSandbox(context: context, simulators: VendorSandbox.standardSimulators(context: context))
        let sandboxTask = Task { try await sandbox.run() }
        let port = await sandbox.boundPort()
        let base = "http://127.0.0.1:\(port)"
        accounts[.yungouos]?.settings["api_base_url"] = base
        accounts[.leshouying]?.settings["api_base_url"] = base + "/yfpay"
        accounts[.storepos]?.settings["gateway_url"] = base + "/v2/UnifiedPay/Gateway"
        return AggregatorHarness(
            client: client, sandbox: sandbox, sandboxTask: sandboxTask, receiverTask: receiver.task,
            sandboxURL: base, notifyBase: "http://127.0.0.1:\(receiverPort)/notify",
            received: received, replies: replies, http: VendorHTTP(client: client, timeout: clientTimeout),
            accounts: accounts,
            logger: logger
        )
    }

    private init(
        client: HTTPClient, sandbox: VendorSandbox, sandboxTask: Task<Void, any Error>,
        receiverTask: Task<Void, any Error>,
        sandboxURL: String, notifyBase: String, received: NIOLockedValueBox<[String: [RawCallback]]>,
        replies: NIOLockedValueBox<[String: CallbackReply]>, http: VendorHTTP, accounts: [ChannelID: MerchantAccount],
        logger: Logger
    ) {
        self.client = client
        self.sandbox = sandbox
        self.sandboxTask = sandboxTask
        self.receiverTask = receiverTask
        self.sandboxURL = sandboxURL
        self.notifyBase = notifyBase
        self.received = received
        self.replies = replies
        self.http = http
        self.accounts = accounts
        self.logger = logger
    }

    func shutdown() async {
        sandbox.context.dispatcher.cancelAll()
        sandboxTask.cancel()
        receiverTask.cancel()
        _ = try? await sandboxTask.value
        _ = try? await receiverTask.value
        try? await client.shutdown()
    }

    // MARK: Channels

    func yungouos(_ change: (inout MerchantAccount) -> Void = { _ in }) throws(Payments.ChannelError) -> YunGouOSChannel
    {
        var account = accounts[.yungouos]!
        change(&account)
        return try YunGouOSChannel(account: account, http: http, logger: logger)
    }

    func leshouying(
        _ change: (inout MerchantAccount) -> Void = { _ in }
    ) throws(Payments.ChannelError) -> LeshouyingChannel {
        var account = accounts[.leshouying]!
        change(&account)
        return try LeshouyingChannel(account: account, http: http, logger: logger)
    }

    func storepos(_ change: (inout MerchantAccount) -> Void = { _ in }) throws(Payments.ChannelError) -> StorePOSChannel
    {
        var account = accounts[.storepos]!
        change(&account)
        return try StorePOSChannel(account: account, http: http, logger: logger)
    }

    /// A fresh order number (letters and digits only, ≤ 32, valid for every vendor).
    static func number(_ prefix: String = "T") -> String {
        prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24)
    }

    func order(
        _ channel: ChannelID, fen: Int64, options: [String: JSONValue] = [:], number: String = number(),
        createdAt: Date = Date(), expiresAt: Date? = nil
    ) -> PaymentOrder {
        PaymentOrder(
            outTradeNo: number, amount: Money(fen: fen), description: "PayFleet 测试订单", attach: "a1",
            createdAt: createdAt, expiresAt: expiresAt, clientIP: "127.0.0.1",
            notifyURL: "\(notifyBase)/\(channel.rawValue)/demo-\(channel.rawValue)", options: options
        )
    }

    // MARK: Sandbox controls

    /// `POST /_sandbox/pay/<channel>/<out_trade_no>`; returns the HTTP status.
    @discardableResult
    func pay(_ channel: ChannelID, _ outTradeNo: String) async throws -> Int {
        var request = HTTPClientRequest(url: "\(sandboxURL)/_sandbox/pay/\(channel.rawValue)/\(outTradeNo)")
        request.method = .POST
        let response = try await client.execute(request, timeout: .seconds(5))
        _ = try await response.body.collect(upTo: 1 << 16)
        return Int(response.status.code)
    }

    /// `GET /_sandbox/orders/<channel>/<out_trade_no>`.
    func sandboxOrder(_ channel: ChannelID, _ outTradeNo: String) async throws -> SandboxOrderView? {
        let request = HTTPClientRequest(url: "\(sandboxURL)/_sandbox/orders/\(channel.rawValue)/\(outTradeNo)")
        let response = try await client.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok else { return nil }
        return try JSONDecoder().decode(SandboxOrderView.self, from: Data(buffer: body))
    }

    /// Callbacks received for an order so far.
    func callbacks(_ channel: ChannelID, key: (RawCallback) -> String?, outTradeNo: String) -> [RawCallback] {
        received.withLockedValue { $0[channel.rawValue] ?? [] }.filter { key($0) == outTradeNo }
    }

    /// Waits until `count` callbacks for the order arrived (or 5 s passed).
    func waitForCallbacks(
        _ channel: ChannelID, outTradeNo: String, count: Int = 1, key: @escaping (RawCallback) -> String?
    ) async throws -> [RawCallback] {
        for _ in 0..<250 {
            let found = callbacks(channel, key: key, outTradeNo: outTradeNo)
            if found.count >= count { return found }
            try await Task.sleep(for: .milliseconds(20))
        }
        return callbacks(channel, key: key, outTradeNo: outTradeNo)
    }

    // MARK: Receiver

    struct Receiver {
        var task: Task<Void, any Error>
        var ports: NIOLockedValueBox<Int?>
        func port() async -> Int {
            while true {
                if let port = ports.withLockedValue({ $0 }) { return port }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// A merchant-side notify endpoint that keeps every callback and answers with the channel's acknowledgement.
    static func startReceiver(
        _ received: NIOLockedValueBox<[String: [RawCallback]]>, replies: NIOLockedValueBox<[String: CallbackReply]>
    ) async throws -> Receiver {
        let router = Router()
        router.post("/notify/:channel/:merchant") { request, context -> Response in
            let channel = try context.parameters.require("channel")
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let callback = RawCallback(body: Array(body.readableBytesView), headers: headers, receivedAt: Date())
            received.withLockedValue { $0[channel, default: []].append(callback) }
            let override = replies.withLockedValue { $0[channel] }
            let reply: CallbackReply =
                if let override { override } else {
                    switch channel {
                    case "yungouos": YunGouOSCallback.acknowledgement.success
                    case "leshouying": LeshouyingCallback.jsonAcknowledgement.success
                    default: StorePOSCallback.acknowledgement.success
                    }
                }
            return Response(
                status: .init(code: reply.status),
                headers: [.contentType: reply.contentType ?? "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: reply.body))
            )
        }
        let ports = NIOLockedValueBox<Int?>(nil)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ports.withLockedValue { $0 = channel.localAddress?.port } },
            logger: logger
        )
        let task = Task { try await app.run() }
        return Receiver(task: task, ports: ports)
    }
}

/// Runs `body` with a started harness and always shuts it down.
func withHarness(
    autopay: Duration? = nil,
    clientTimeout: Duration = .seconds(2),
    timeScale: Double = 0.001,
    logger: Logger = AggregatorHarness.logger,
    adjust: (inout [ChannelID: MerchantAccount]) -> Void = { _ in },
    _ body: (AggregatorHarness) async throws -> Void
) async throws {
    let harness = try await AggregatorHarness.start(
        autopay: autopay, clientTimeout: clientTimeout, timeScale: timeScale, logger: logger, adjust: adjust)
    do {
        try await body(harness)
    } catch {
        await harness.shutdown()
        throw error
    }
    await harness.shutdown()
}

/// The code of a ``ChannelError`` thrown by `body`, or `nil` when it did not throw.
func channelErrorCode<T>(_ body: () async throws(Payments.ChannelError) -> T) async -> Payments.ChannelError.Code? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error.code
    }
}

/// The kind of ``CallbackError`` thrown by `body`, or `nil` when it did not throw.
func callbackErrorKind<T>(_ body: () async throws(CallbackError) -> T) async -> CallbackError.Kind? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error.kind
    }
}
