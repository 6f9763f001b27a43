import Foundation
import Payments
import Sandbox
import StorePOS
import Testing
import YunGouOS

/// Refunds against the sandbox: storepos (synchronous + refundquery) and YunGouOS (asynchronous +
/// refund callback), partial refunds, the refund magic amounts (…97 stays processing, …98 fails,
/// …99 needs a query), duplicates by out_refund_no and refunds beyond what was paid.
@Suite(.timeLimit(.minutes(2))) struct RefundRoundTripTests {
    static func refund(
        _ reference: OrderReference, _ number: String, fen: Int64, transactionID: String? = nil
    ) -> RefundOrder {
        RefundOrder(
            outRefundNo: number, amount: Money(fen: fen), reason: "退货", notifyURL: reference.order.notifyURL,
            requestedAt: Date(), payment: reference, transactionID: transactionID)
    }

    @Test func storeposPartialRefunds() async throws {
        try await withHarness { harness in
            let channel = try harness.storepos()
            // An order whose answers keep their optional members: without `trade_state` (否 in the
            // refund answer's table) a refund answer is only known through a query.
            var number = AggregatorHarness.number()
            while SandboxAnswerShape(outTradeNo: number).omitsOptional { number = AggregatorHarness.number() }
            let order = harness.order(.storepos, fen: 990, number: number)
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            let reference = OrderReference(order: order, memo: prepared.memo)
            try await harness.pay(.storepos, order.outTradeNo)
            let first = Self.refund(reference, "RF-\(order.outTradeNo.suffix(8))-1", fen: 500)
            guard case .succeeded(let done) = try await channel.refund(first) else {
                Issue.record("first refund not done")
                return
            }
            #expect(done.amount == Money(fen: 500) && done.vendorRefundIDs.count == 1)
            // The same out_refund_no again is the same refund ("只会退一次款").
            #expect(try await channel.refund(first) == .succeeded(done))
            guard case .succeeded(let queried) = try await channel.queryRefund(RefundReference(refund: first)) else {
                Issue.record("refundquery does not say SUCCESS")
                return
            }
            #expect(queried.vendorRefundIDs == done.vendorRefundIDs && queried.amount == Money(fen: 500))
            let second = Self.refund(reference, "RF-\(order.outTradeNo.suffix(8))-2", fen: 490)
            guard case .succeeded = try await channel.refund(second) else {
                Issue.record("second refund not done")
                return
            }
            let third = Self.refund(reference, "RF-\(order.outTradeNo.suffix(8))-3", fen: 1)
            guard case .failed(let failure) = try await channel.refund(third) else {
                Issue.record("a refund beyond the payment was not refused")
                return
            }
            #expect(failure.code == "10006")
            // The order now reads as refunded (转入退款), which is still a payment.
            guard case .refunded(let payment) = try await channel.query(reference) else {
                Issue.record("not refunded")
                return
            }
            #expect(payment.amount == Money(fen: 990))
        }
    }

    @Test func storeposRefundMagicAmounts() async throws {
        try await withHarness { harness in
            let channel = try harness.storepos()
            let order = harness.order(.storepos, fen: 1000)
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            let reference = OrderReference(order: order, memo: prepared.memo)
            try await harness.pay(.storepos, order.outTradeNo)
            let stays = Self.refund(reference, "P\(order.outTradeNo.suffix(10))", fen: 97)
            guard case .pending(.needQuery, let memo) = try await channel.refund(stays) else {
                Issue.record("…97 not processing")
                return
            }
            #expect(try await channel.queryRefund(RefundReference(refund: stays, memo: memo)) == .processing)
            let fails = Self.refund(reference, "F\(order.outTradeNo.suffix(10))", fen: 98)
            guard case .failed = try await channel.refund(fails) else {
                Issue.record("…98 did not fail")
                return
            }
            guard case .failed = try await channel.queryRefund(RefundReference(refund: fails)) else {
                Issue.record("…98 query not failed")
                return
            }
            let query = Self.refund(reference, "Q\(order.outTradeNo.suffix(10))", fen: 199)
            guard case .pending(.unknownResult, _) = try await channel.refund(query) else {
                Issue.record("…99 not unknown")
                return
            }
            guard case .succeeded(let done) = try await channel.queryRefund(RefundReference(refund: query)) else {
                Issue.record("…99 query not refunded")
                return
            }
            #expect(done.amount == Money(fen: 199))
            #expect(
                try await channel.queryRefund(RefundReference(refund: Self.refund(reference, "NOPE1", fen: 1)))
                    == .notFound)
        }
    }

    @Test func yungouosRefundWithCallback() async throws {
        try await withHarness { harness in
            let channel = try harness.yungouos()
            let order = harness.order(.yungouos, fen: 300)
            guard case .prepared(let prepared) = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            let reference = OrderReference(order: order, memo: prepared.memo)
            try await harness.pay(.yungouos, order.outTradeNo)
            let refund = Self.refund(reference, "RF\(order.outTradeNo.suffix(12))", fen: 120)
            guard case .processing(let memo) = try await channel.refund(refund) else {
                Issue.record("refund not taken")
                return
            }
            let vendorNo = try #require(memo[RefundReference.vendorRefundNoMemoKey])
            // The payment callback and the refund callback (time-scaled delay): each is sent on its
            // own, so under load they may arrive in either order.
            let callbacks = try await harness.waitForCallbacks(
                .yungouos, outTradeNo: order.outTradeNo, count: 2,
                key: { try? YunGouOSCallback.orderKey($0.body) })
            #expect(callbacks.count == 2)
            var verified: [VerifiedCallback] = []
            for callback in callbacks { verified.append(try await channel.verifyCallback(callback)) }
            #expect(verified.filter { $0.refund == nil }.count == 1)  // the payment's
            let notice = try #require(verified.compactMap(\.refund).first)
            #expect(notice.vendorRefundNo == vendorNo)
            guard case .succeeded(let details) = notice.status else {
                Issue.record("refund callback not refunded")
                return
            }
            #expect(details.amount == Money(fen: 120))
            // The query by YunGouOS's number and by the merchant's agree.
            guard case .succeeded = try await channel.queryRefund(RefundReference(refund: refund, memo: memo)),
                case .succeeded = try await channel.queryRefund(RefundReference(refund: refund))
            else {
                Issue.record("getRefundResult not refunded")
                return
            }
            let over = Self.refund(reference, "OV\(order.outTradeNo.suffix(12))", fen: 181)
            guard case .failed = try await channel.refund(over) else {
                Issue.record("a refund beyond the payment was not refused")
                return
            }
            let fails = Self.refund(reference, "FA\(order.outTradeNo.suffix(12))", fen: 98)
            guard case .failed = try await channel.refund(fails) else {
                Issue.record("…98 did not fail")
                return
            }
            let query = Self.refund(reference, "NQ\(order.outTradeNo.suffix(12))", fen: 99)
            guard case .pending(.unknownResult, _) = try await channel.refund(query) else {
                Issue.record("…99 not unknown")
                return
            }
            guard case .succeeded = try await channel.queryRefund(RefundReference(refund: query)) else {
                Issue.record("…99 query not refunded")
                return
            }
        }
    }
}
