import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Sends vendor callbacks the way the vendors do: a POST to `notify_url`, repeated on the vendor's
/// retry schedule until the answer is the acknowledgement the vendor expects, each delay scaled by
/// the sandbox's time scale.
public final class CallbackDispatcher: Sendable {
    /// One delivery attempt, kept for tests and people (`GET /_sandbox/callbacks`).
    public struct Attempt: Sendable, Codable, Hashable {
        public var channel: String
        public var outTradeNo: String
        public var url: String
        public var attempt: Int
        public var status: Int?
        public var acknowledged: Bool
        public var at: Date
    }

    /// A callback to deliver.
    public struct Delivery: Sendable {
        public var channel: String
        public var outTradeNo: String
        public var url: String
        public var headers: [(String, String)]
        public var body: [UInt8]
        /// Delays before each attempt after the first (the first goes at once).
        public var retrySchedule: [Duration]
        /// Whether an answer is the vendor's acknowledgement.
        public var isAcknowledged: @Sendable (_ status: Int, _ body: String) -> Bool

        public init(
            channel: String, outTradeNo: String, url: String, headers: [(String, String)], body: [UInt8],
            retrySchedule: [Duration], isAcknowledged: @escaping @Sendable (Int, String) -> Bool
        ) {
            self.channel = channel
            self.outTradeNo = outTradeNo
            self.url = url
            self.headers = headers
            self.body = body
            self.retrySchedule = retrySchedule
            self.isAcknowledged = isAcknowledged
        }
    }

    private let client: HTTPClient
    private let configuration: SandboxConfiguration
    private let logger: Logger
    private let attempts = NIOLockedValueBox<[Attempt]>([])
    private let tasks = NIOLockedValueBox<[UUID: Task<Void, Never>]>([:])

    public init(client: HTTPClient, configuration: SandboxConfiguration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    /// Starts delivering in the background; returns at once.
    public func dispatch(_ delivery: Delivery) {
        let id = UUID()
        let task = Task { [self] in
            await self.deliver(delivery)
            _ = self.tasks.withLockedValue { $0.removeValue(forKey: id) }
        }
        tasks.withLockedValue { $0[id] = task }
    }

    /// Every attempt so far, oldest first.
    public var history: [Attempt] { attempts.withLockedValue { $0 } }

    /// Cancels pending retries (sandbox shutdown).
    public func cancelAll() {
        let running = tasks.withLockedValue { tasks in
            defer { tasks.removeAll() }
            return Array(tasks.values)
        }
        for task in running { task.cancel() }
    }

    private func deliver(_ delivery: Delivery) async {
        let delays: [Duration] = [.zero] + delivery.retrySchedule
        for (index, delay) in delays.enumerated() {
            if delay > .zero {
                do { try await Task.sleep(for: configuration.scaled(delay)) } catch { return }
            }
            var request = HTTPClientRequest(url: delivery.url)
            request.method = .POST
            for (name, value) in delivery.headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: delivery.body))
            var status: Int?
            var acknowledged = false
            do {
                let response = try await client.execute(request, timeout: .seconds(5))
                let body = try await response.body.collect(upTo: 64 * 1024)
                status = Int(response.status.code)
                acknowledged = delivery.isAcknowledged(Int(response.status.code), String(buffer: body))
            } catch {
                logger.debug(
                    "sandbox callback attempt failed",
                    metadata: [
                        "channel": "\(delivery.channel)", "out_trade_no": "\(delivery.outTradeNo)", "error": "\(error)",
                    ])
            }
            let record = Attempt(
                channel: delivery.channel, outTradeNo: delivery.outTradeNo, url: delivery.url,
                attempt: index + 1, status: status, acknowledged: acknowledged, at: Date()
            )
            attempts.withLockedValue { $0.append(record) }
            if acknowledged { return }
        }
    }
}
