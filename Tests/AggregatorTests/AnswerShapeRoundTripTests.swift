import Foundation
import Leshouying
import Payments
import Sandbox
import StorePOS
import Testing
import YunGouOS

/// The sandbox shapes each order's answers and callbacks by its `out_trade_no`; these round trips
/// pick order numbers that cover every combination of shape variations, so the clients' tolerant
/// decoding is exercised end to end, not one fixed shape.
@Suite(.timeLimit(.minutes(3))) struct AnswerShapeRoundTripTests {
    /// Order numbers ending in `suffix`, one for each of the 16 combinations of the four shape variations.
    static func numbers(_ suffix: String) -> [String] {
        var found: [UInt64: String] = [:]
        var index = 0
        while found.count < 16 {
            let number = "SHAPE\(index)\(suffix)"
            let bits = SandboxAnswerShape(outTradeNo: number).bits & 0xF
            if found[bits] == nil { found[bits] = number }
            index += 1
        }
        return found.keys.sorted().compactMap { found[$0] }
    }

    @Test func shapesCoverEveryCombination() {
        for suffix in ["Y", "L", "P", "C"] {
            #expect(Set(Self.numbers(suffix).map { SandboxAnswerShape(outTradeNo: $0).bits & 0xF }).count == 16)
        }
        // Deterministic per order.
        #expect(SandboxAnswerShape(outTradeNo: "T123") == SandboxAnswerShape(outTradeNo: "T123"))
    }

    @Test func yungouosInEveryShape() async throws {
        try await withHarness { harness in
            let channel = try harness.yungouos()
            for (number, unpaidNumber) in zip(Self.numbers("Y"), Self.numbers("C")) {
                let order = harness.order(.yungouos, fen: 1250, number: number)
                guard case .prepared(let prepared) = try await channel.create(order) else {
                    Issue.record("\(number) not prepared")
                    continue
                }
                let reference = OrderReference(order: order, memo: prepared.memo)
                #expect(try await channel.query(reference) == .notPaid, "\(number)")
                try await harness.pay(.yungouos, order.outTradeNo)
                let callbacks = try await harness.waitForCallbacks(.yungouos, outTradeNo: order.outTradeNo) {
                    try? YunGouOSCallback.orderKey($0.body)
                }
                let verified = try await channel.verifyCallback(try #require(callbacks.first))
                #expect(verified.amount == Money(fen: 1250), "\(number)")
                guard case .succeeded(let queried) = try await channel.query(reference) else {
                    Issue.record("\(number) not paid")
                    continue
                }
                #expect(queried.amount == Money(fen: 1250))
                let unpaid = harness.order(.yungouos, fen: 1304, number: unpaidNumber)
                _ = try await channel.create(unpaid)
                #expect(try await channel.close(OrderReference(order: unpaid)) == .closed, "\(number)")
            }
        }
    }

    @Test func leshouyingInEveryShape() async throws {
        try await withHarness { harness in
            let channel = try harness.leshouying()
            for (number, unpaidNumber) in zip(Self.numbers("L"), Self.numbers("C")) {
                let order = harness.order(
                    .leshouying, fen: 1250, options: LeshouyingRoundTripTests.wechat, number: number)
                guard case .prepared(let prepared) = try await channel.create(order) else {
                    Issue.record("\(number) not prepared")
                    continue
                }
                #expect(prepared.payParameters["timeStamp"]?.count == 10)
                let reference = OrderReference(order: order, memo: prepared.memo)
                #expect(try await channel.query(reference) == .paying, "\(number)")
                try await harness.pay(.leshouying, order.outTradeNo)
                let callbacks = try await harness.waitForCallbacks(
                    .leshouying, outTradeNo: order.outTradeNo, key: LeshouyingRoundTripTests.key)
                let verified = try await channel.verifyCallback(try #require(callbacks.first))
                #expect(verified.amount == Money(fen: 1250), "\(number)")
                guard case .succeeded = try await channel.query(reference) else {
                    Issue.record("\(number) not paid")
                    continue
                }
                let unpaid = harness.order(
                    .leshouying, fen: 1304, options: LeshouyingRoundTripTests.wechat, number: unpaidNumber)
                guard case .prepared(let second) = try await channel.create(unpaid) else {
                    Issue.record("\(number) not prepared")
                    continue
                }
                #expect(
                    try await channel.close(OrderReference(order: unpaid, memo: second.memo)) == .closed, "\(number)")
            }
        }
    }

    @Test func storeposInEveryShape() async throws {
        try await withHarness { harness in
            let channel = try harness.storepos()
            for (number, unpaidNumber) in zip(Self.numbers("P"), Self.numbers("C")) {
                let order = harness.order(.storepos, fen: 1250, number: number)
                guard case .prepared(let prepared) = try await channel.create(order) else {
                    Issue.record("\(number) not prepared")
                    continue
                }
                #expect(prepared.codeURL?.hasPrefix("weixin://") == true)
                let reference = OrderReference(order: order, memo: prepared.memo)
                #expect(try await channel.query(reference) == .notPaid, "\(number)")
                try await harness.pay(.storepos, order.outTradeNo)
                let callbacks = try await harness.waitForCallbacks(
                    .storepos, outTradeNo: order.outTradeNo, key: StorePOSRoundTripTests.key)
                let verified = try await channel.verifyCallback(try #require(callbacks.first))
                #expect(verified.amount == Money(fen: 1250), "\(number)")
                guard case .succeeded(let queried) = try await channel.query(reference) else {
                    Issue.record("\(number) not paid")
                    continue
                }
                #expect(queried.amount == Money(fen: 1250))
                let unpaid = harness.order(.storepos, fen: 1304, number: unpaidNumber)
                guard case .prepared(let second) = try await channel.create(unpaid) else {
                    Issue.record("\(number) not prepared")
                    continue
                }
                #expect(
                    try await channel.close(OrderReference(order: unpaid, memo: second.memo)) == .closed, "\(number)")
            }
        }
    }
}
