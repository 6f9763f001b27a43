import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// The vendor simulator: the server side of all five vendors on one HTTP port, plus control
/// endpoints under `/_sandbox/` (see `docs/sandbox.md`).
public final class VendorSandbox: Service, Sendable {
    public let context: SandboxContext
    private let simulators: [any VendorSimulator]
    private let port = NIOLockedValueBox<Int?>(nil)
    private let portWaiters = NIOLockedValueBox<[CheckedContinuation<Int, Never>]>([])

    /// A sandbox with the given simulators; ``standardSimulators(context:)`` gives all five vendors.
    public init(context: SandboxContext, simulators: [any VendorSimulator]) {
        self.context = context
        self.simulators = simulators
    }

    /// Serves until cancelled or gracefully shut down.
    public func run() async throws {
        let router = Router()
        router.get("/livez") { _, _ in "ok" }
        for simulator in simulators { simulator.addRoutes(to: router) }
        addControlRoutes(to: router)
        let app = Application(
            router: router,
            configuration: .init(
                address: .hostname(context.configuration.host, port: context.configuration.port),
                serverName: "payfleet-sandbox"),
            onServerRunning: { [self] channel in
                let bound = channel.localAddress?.port ?? self.context.configuration.port
                let waiters = self.port.withLockedValue { port in
                    port = bound
                    return self.portWaiters.withLockedValue { waiters in
                        defer { waiters.removeAll() }
                        return waiters
                    }
                }
                for waiter in waiters { waiter.resume(returning: bound) }
            },
            logger: context.logger
        )
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            self.context.dispatcher.cancelAll()
        }
        context.dispatcher.cancelAll()
    }

    /// The port the server listens on, once it does.
    public func boundPort() async -> Int {
        if let port = port.withLockedValue({ $0 }) { return port }
        return await withCheckedContinuation { continuation in
            let ready: Int? = port.withLockedValue { port in
                if let port { return port }
                portWaiters.withLockedValue { $0.append(continuation) }
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func simulator(for channel: String) -> (any VendorSimulator)? {
        simulators.first { $0.channels.contains(channel) }
    }

    private func addControlRoutes(to router: Router<BasicRequestContext>) {
        router.post("/_sandbox/pay/:channel/:outTradeNo") { [self] _, context in
            let channel = try context.parameters.require("channel")
            let outTradeNo = try context.parameters.require("outTradeNo")
            guard let simulator = self.simulator(for: channel) else {
                throw HTTPError(.notFound, message: "unknown channel \(channel)")
            }
            do {
                let view = try await simulator.pay(channel: channel, outTradeNo: outTradeNo)
                return try Self.json(view)
            } catch let error as SandboxError {
                throw HTTPError(HTTPResponse.Status(code: error.status), message: error.message)
            }
        }
        router.get("/_sandbox/orders/:channel/:outTradeNo") { [self] _, context in
            let channel = try context.parameters.require("channel")
            let outTradeNo = try context.parameters.require("outTradeNo")
            guard let simulator = self.simulator(for: channel),
                let view = await simulator.order(channel: channel, outTradeNo: outTradeNo)
            else { throw HTTPError(.notFound, message: "no order \(outTradeNo) on \(channel)") }
            return try Self.json(view)
        }
        router.get("/_sandbox/callbacks") { [self] _, _ in
            try Self.json(self.context.dispatcher.history)
        }
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(value)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

extension VendorSandbox {
    /// All vendor simulators, one list: a new channel adds its simulator here (a test checks the
    /// list serves exactly the channels PayFleet registers).
    ///
    /// The combine simulator generates its platform identity (certificate and public key) here;
    /// if RSA key generation fails the v3 simulator is left out and the failure is logged.
    public static func standardSimulators(context: SandboxContext) -> [any VendorSimulator] {
        let combine: (any VendorSimulator)?
        do {
            combine = WeChatCombineSimulator(context: context, keys: try WeChatPlatformKeys.generate())
        } catch {
            context.logger.error(
                "sandbox: cannot generate the WeChat platform keys; wechat-v3-combine is not simulated",
                metadata: [
                    "error": "\(error)"
                ])
            combine = nil
        }
        let simulators: [(any VendorSimulator)?] = [
            WeChatV2Simulator(context: context),
            combine,
            YunGouOSSimulator(context: context),
            LeshouyingSimulator(context: context),
            StorePOSSimulator(context: context),
        ]
        return simulators.compactMap { $0 }
    }
}
