import Foundation
import Leshouying
import Logging
import NIOConcurrencyHelpers
import Payments
import Sandbox
import StorePOS
import Testing

/// The sandbox's callback retry schedules and acknowledgement rules, and that no key reaches a log line or an error.
@Suite(.timeLimit(.minutes(2))) struct CallbackRetryAndSecrecyTests {
    static func attempts(_ harness: AggregatorHarness, _ outTradeNo: String) -> [CallbackDispatcher.Attempt] {
        harness.sandbox.context.dispatcher.history.filter { $0.outTradeNo == outTradeNo }
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<300 where !condition() { try await Task.sleep(for: .milliseconds(20)) }
    }

    @Test func storeposRetriesUntilThePlainLowercaseSuccess() async throws {
        try await withHarness { harness in
            // `SUCCESS` is not `success`: storepos keeps notifying (0/15s/15s/15s/30s/3m/3m/30m… ×0.001).
            harness.replies.withLockedValue {
                $0["storepos"] = CallbackReply(status: 200, contentType: "text/plain", body: "SUCCESS")
            }
            let channel = try harness.storepos()
            let order = harness.order(.storepos, fen: 100)
            _ = try await channel.create(order)
            try await harness.pay(.storepos, order.outTradeNo)
            try await Self.waitUntil { Self.attempts(harness, order.outTradeNo).count >= 7 }
            let early = Self.attempts(harness, order.outTradeNo)
            #expect(early.count == 7)  // 0, 15, 30, 45, 75, 255, 435 ms; the 8th is due at 2235 ms
            #expect(early.allSatisfy { !$0.acknowledged && $0.status == 200 })
            harness.replies.withLockedValue { $0["storepos"] = nil }
            try await Self.waitUntil { Self.attempts(harness, order.outTradeNo).contains { $0.acknowledged } }
            let final = Self.attempts(harness, order.outTradeNo)
            #expect(final.count == 8)
            #expect(final.last?.acknowledged == true)
            try await Task.sleep(for: .milliseconds(300))
            #expect(Self.attempts(harness, order.outTradeNo).count == 8)
        }
    }

    @Test func yungouosNeedsUppercaseSuccess() async throws {
        try await withHarness { harness in
            harness.replies.withLockedValue {
                $0["yungouos"] = CallbackReply(status: 200, contentType: "text/plain", body: "success")
            }
            let channel = try harness.yungouos()
            let order = harness.order(.yungouos, fen: 100)
            _ = try await channel.create(order)
            try await harness.pay(.yungouos, order.outTradeNo)
            try await Self.waitUntil { Self.attempts(harness, order.outTradeNo).count >= 5 }
            #expect(Self.attempts(harness, order.outTradeNo).allSatisfy { !$0.acknowledged })
            harness.replies.withLockedValue { $0["yungouos"] = nil }
            try await Self.waitUntil { Self.attempts(harness, order.outTradeNo).contains { $0.acknowledged } }
            #expect(Self.attempts(harness, order.outTradeNo).last?.acknowledged == true)
        }
    }

    @Test func leshouyingAcceptsEitherAcknowledgement() async throws {
        try await withHarness { harness in
            harness.replies.withLockedValue { $0["leshouying"] = LeshouyingTextAck.reply }
            let channel = try harness.leshouying { $0.settings["ack_format"] = "text" }
            #expect(channel.acknowledgement.success == LeshouyingTextAck.reply)
            let order = harness.order(.leshouying, fen: 100, options: ["openid": .string("o1")])
            _ = try await channel.create(order)
            try await harness.pay(.leshouying, order.outTradeNo)
            try await Self.waitUntil { Self.attempts(harness, order.outTradeNo).contains { $0.acknowledged } }
            #expect(Self.attempts(harness, order.outTradeNo).count == 1)
        }
    }

    @Test func autopayPaysEveryOrderButTheNeverPaidOne() async throws {
        try await withHarness(autopay: .milliseconds(50)) { harness in
            let l = try harness.leshouying()
            let s = try harness.storepos()
            let wechat: [String: JSONValue] = ["openid": .string("o1")]
            let paidL = harness.order(.leshouying, fen: 300, options: wechat)
            let neverL = harness.order(.leshouying, fen: 304, options: wechat)
            let paidS = harness.order(.storepos, fen: 300)
            let neverS = harness.order(.storepos, fen: 304)
            for order in [paidL, neverL] { _ = try await l.create(order) }
            for order in [paidS, neverS] { _ = try await s.create(order) }
            try await Self.waitUntil {
                Self.attempts(harness, paidL.outTradeNo).count + Self.attempts(harness, paidS.outTradeNo).count >= 2
            }
            try await Task.sleep(for: .milliseconds(200))
            guard case .succeeded = try await l.query(OrderReference(order: paidL)) else {
                Issue.record("leshouying not autopaid")
                return
            }
            guard case .succeeded = try await s.query(OrderReference(order: paidS)) else {
                Issue.record("storepos not autopaid")
                return
            }
            #expect(try await l.query(OrderReference(order: neverL)) == .paying)
            #expect(try await s.query(OrderReference(order: neverS)) == .notPaid)
            #expect(try await l.close(OrderReference(order: neverL)) == .closed)
            // (storepos cancel is not tried here: ×0.001 makes its 5-minute window 300 ms.)
        }
    }

    @Test func noKeyInLogsOrErrors() async throws {
        let lines = NIOLockedValueBox<[String]>([])
        let logger = Logger(label: "capture") { _ in CapturingLogHandler(lines: lines) }
        var secrets: [String] = ["WRONGKEY000000000000000000000000"]
        var errors: [String] = []
        try await withHarness(clientTimeout: .milliseconds(500), logger: logger) { harness in
            secrets += harness.accounts.values.flatMap { $0.secrets.values.map { $0.reveal() } }
            let wechat: [String: JSONValue] = ["openid": .string("o1")]
            let y = try harness.yungouos()
            let l = try harness.leshouying()
            let s = try harness.storepos()
            for fen: Int64 in [100, 102, 103, 105, 106, 109] {
                let yo = harness.order(.yungouos, fen: fen)
                let lo = harness.order(.leshouying, fen: fen, options: wechat)
                let so = harness.order(.storepos, fen: fen)
                do {
                    _ = try await y.create(yo)
                    _ = try await y.query(OrderReference(order: yo))
                } catch { errors.append("\(error)") }
                do {
                    _ = try await l.create(lo)
                    _ = try await l.close(OrderReference(order: lo))
                } catch { errors.append("\(error)") }
                do {
                    _ = try await s.create(so)
                    _ = try await s.query(OrderReference(order: so))
                } catch { errors.append("\(error)") }
            }
            let wrong = try harness.storepos { $0.secrets["merchant_key"] = Secret("WRONGKEY000000000000000000000000") }
            do { _ = try await wrong.create(harness.order(.storepos, fen: 100)) } catch { errors.append("\(error)") }
            let forged = harness.order(.storepos, fen: 106)
            _ = try await s.create(forged)
            try await harness.pay(.storepos, forged.outTradeNo)
            let callbacks = try await harness.waitForCallbacks(.storepos, outTradeNo: forged.outTradeNo) {
                try? StorePOSCallbackKey.of($0)
            }
            for callback in callbacks {
                do { _ = try await s.verifyCallback(callback) } catch { errors.append("\(error)") }
            }
        }
        let logged = lines.withLockedValue { $0 }
        #expect(!logged.isEmpty)
        #expect(errors.count >= 5)
        for text in logged + errors {
            for secret in secrets { #expect(!text.contains(secret)) }
        }
    }
}

enum LeshouyingTextAck {
    static let reply = LeshouyingCallback.textAcknowledgement.success
}

enum StorePOSCallbackKey {
    static func of(_ callback: RawCallback) throws -> String { try StorePOSCallback.orderKey(callback.body) }
}

/// Keeps every log line (message and metadata) at trace level.
struct CapturingLogHandler: LogHandler {
    let lines: NIOLockedValueBox<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
        lines.withLockedValue { $0.append("\(event.level) \(event.message) \(merged)") }
    }
}
