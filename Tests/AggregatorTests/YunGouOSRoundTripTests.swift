import Foundation
import Payments
import Testing
import YunGouOS

@Suite(.timeLimit(.minutes(2))) struct YunGouOSRoundTripTests {
    static func key(_ callback: RawCallback) -> String? { try? YunGouOSCallback.orderKey(callback.body) }

    @Test func createQueryPayCallbackQueryClose() async throws {
        try await withHarness { harness in
            let channel = try harness.yungouos()
            let order = harness.order(.yungouos, fen: 9900)
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            #expect(prepared.codeURL?.hasPrefix("weixin://") == true)
            let reference = OrderReference(order: order, memo: prepared.memo)
            #expect(try await channel.query(reference) == .notPaid)
            #expect(try await harness.pay(.yungouos, order.outTradeNo) == 200)
            let callbacks = try await harness.waitForCallbacks(.yungouos, outTradeNo: order.outTradeNo, key: Self.key)
            #expect(callbacks.count == 1)
            let verified = try await channel.verifyCallback(try #require(callbacks.first))
            #expect(verified.amount == Money(fen: 9900))
            #expect(verified.fields["money"] == "99.00")
            guard case .succeeded(let callbackPayment) = verified.status else {
                Issue.record("callback not paid")
                return
            }
            guard case .succeeded(let queried) = try await channel.query(reference) else {
                Issue.record("query not paid")
                return
            }
            #expect(queried.amount == Money(fen: 9900))
            #expect(queried.transactionID == callbackPayment.transactionID)
            #expect(try await channel.close(reference) == .alreadyPaid)
            // The sandbox saw our acknowledgement (`SUCCESS`) and stopped.
            let view = try await harness.sandboxOrder(.yungouos, order.outTradeNo)
            #expect(view?.callbacksSent == 1)
        }
    }

    @Test func qrImageAndClose() async throws {
        try await withHarness { harness in
            let channel = try harness.yungouos()
            let order = harness.order(.yungouos, fen: 1, options: ["qr_type": .integer(2)])
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            #expect(prepared.qrImageURL?.hasSuffix(".png") == true)
            #expect(prepared.codeURL == nil)
            let reference = OrderReference(order: order, memo: prepared.memo)
            #expect(try await channel.close(reference) == .closed)
            #expect(try await channel.close(reference) == .closed)
            #expect(try await harness.pay(.yungouos, order.outTradeNo) == 409)
            #expect(try await channel.close(OrderReference(order: harness.order(.yungouos, fen: 100))) == .notFound)
            #expect(try await channel.query(OrderReference(order: harness.order(.yungouos, fen: 100))) == .notFound)
        }
    }

    @Test func duplicateCreateBecomesDuplicate() async throws {
        try await withHarness { harness in
            let channel = try harness.yungouos()
            let order = harness.order(.yungouos, fen: 250)
            guard case .prepared = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            #expect(try await channel.create(order) == .duplicate)
        }
    }

    @Test func scenarios() async throws {
        try await withHarness(clientTimeout: .milliseconds(500)) { harness in
            let channel = try harness.yungouos()
            // …01 pending: there is no pending create at YunGouOS; the order pays on its second query.
            let pending = harness.order(.yungouos, fen: 101)
            guard case .prepared = try await channel.create(pending) else {
                Issue.record("not prepared")
                return
            }
            #expect(try await channel.query(OrderReference(order: pending)) == .notPaid)
            guard case .succeeded = try await channel.query(OrderReference(order: pending)) else {
                Issue.record("not paid")
                return
            }
            // …02 vendor error: HTTP 502.
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.yungouos, fen: 102))
                } == .vendorUnavailable)
            // …03 timeout: unknown outcome, query later.
            let slow = harness.order(.yungouos, fen: 103)
            #expect(try await channel.create(slow) == .pending(.unknownResult, memo: [:]))
            #expect(try await channel.query(OrderReference(order: slow)) == .notPaid)
            // …08 refused.
            guard case .failed(let failure) = try await channel.create(harness.order(.yungouos, fen: 108)) else {
                Issue.record("not failed")
                return
            }
            #expect(failure.code == "1")
            // …09 garbage.
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.create(harness.order(.yungouos, fen: 109))
                } == .badResponse)
            // …10: YunGouOS answers are unsigned, so there is no signature to break.
            guard case .prepared = try await channel.create(harness.order(.yungouos, fen: 110)) else {
                Issue.record("not prepared")
                return
            }
        }
    }

    @Test func callbackScenarios() async throws {
        try await withHarness { harness in
            let channel = try harness.yungouos()
            // …05 duplicate callbacks: two, both genuine.
            let twice = harness.order(.yungouos, fen: 105)
            _ = try await channel.create(twice)
            try await harness.pay(.yungouos, twice.outTradeNo)
            let duplicates = try await harness.waitForCallbacks(
                .yungouos, outTradeNo: twice.outTradeNo, count: 2, key: Self.key)
            #expect(duplicates.count == 2)
            for callback in duplicates { _ = try await channel.verifyCallback(callback) }
            // …06 forged: wrong signature; the order is really paid.
            let forged = harness.order(.yungouos, fen: 106)
            _ = try await channel.create(forged)
            try await harness.pay(.yungouos, forged.outTradeNo)
            let forgedCallbacks = try await harness.waitForCallbacks(
                .yungouos, outTradeNo: forged.outTradeNo, key: Self.key)
            let forgedCallback = try #require(forgedCallbacks.first)
            #expect(
                await callbackErrorKind { () async throws(CallbackError) in
                    try await channel.verifyCallback(forgedCallback)
                } == .badSignature)
            guard case .succeeded = try await channel.query(OrderReference(order: forged)) else {
                Issue.record("not paid")
                return
            }
            // …07 amount mismatch: signed, one fen more.
            let mismatch = harness.order(.yungouos, fen: 107)
            _ = try await channel.create(mismatch)
            try await harness.pay(.yungouos, mismatch.outTradeNo)
            let mismatched = try await harness.waitForCallbacks(
                .yungouos, outTradeNo: mismatch.outTradeNo, key: Self.key)
            let verified = try await channel.verifyCallback(try #require(mismatched.first))
            #expect(verified.amount == Money(fen: 108))
        }
    }

    @Test func neverPaidAndAutopay() async throws {
        try await withHarness(autopay: .milliseconds(50)) { harness in
            let channel = try harness.yungouos()
            let paid = harness.order(.yungouos, fen: 300)
            let never = harness.order(.yungouos, fen: 304)
            _ = try await channel.create(paid)
            _ = try await channel.create(never)
            _ = try await harness.waitForCallbacks(.yungouos, outTradeNo: paid.outTradeNo, key: Self.key)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await harness.sandboxOrder(.yungouos, paid.outTradeNo)?.state == "SUCCESS")
            #expect(try await harness.sandboxOrder(.yungouos, never.outTradeNo)?.state == "NOTPAY")
            #expect(try await channel.close(OrderReference(order: never)) == .closed)
        }
    }

    @Test func wrongKeyAndRangeAndThrottle() async throws {
        try await withHarness(adjust: { $0[.yungouos]?.settings["sandbox_query_interval_seconds"] = "10000" }) {
            harness in
            let wrongKey = try harness.yungouos { $0.secrets["api_key"] = Secret("WRONGKEY000000000000000000000000") }
            let error = await channelErrorCode { () async throws(ChannelError) in
                try await wrongKey.create(harness.order(.yungouos, fen: 100))
            }
            #expect(error == .vendorRejected)
            let channel = try harness.yungouos()
            for fen: Int64 in [0, -1, 99_999_901] {
                #expect(
                    await channelErrorCode { () async throws(ChannelError) in
                        try await channel.create(harness.order(.yungouos, fen: fen))
                    } == .invalidRequest)
            }
            guard case .prepared = try await channel.create(harness.order(.yungouos, fen: 99_999_900)) else {
                Issue.record("999999.00 yuan must be accepted")
                return
            }
            // The sandbox enforces the per-order query limit (10 s scaled ×0.001 = 10 s here via the setting).
            let order = harness.order(.yungouos, fen: 200)
            _ = try await channel.create(order)
            #expect(try await channel.query(OrderReference(order: order)) == .notPaid)
            #expect(
                await channelErrorCode { () async throws(ChannelError) in
                    try await channel.query(OrderReference(order: order))
                } == .rateLimited)
            // The client's own throttle refuses before calling.
            let throttled = try harness.yungouos { $0.settings["query_min_interval_seconds"] = "10" }
            #expect(throttled.policy.minimumQueryInterval == .seconds(10))
            let other = harness.order(.yungouos, fen: 200)
            _ = try await throttled.create(other)
            #expect(try await throttled.query(OrderReference(order: other)) == .notPaid)
            let local = await channelErrorCode { () async throws(ChannelError) in
                try await throttled.query(OrderReference(order: other))
            }
            #expect(local == .rateLimited)
        }
    }
}
