import Foundation
import Payments
import Testing

@testable import WeChatPay

/// Refund round trips of both WeChat channels through the channel interface against the sandbox:
/// the API client certificate on v2, partial refunds, the whole combine order and one sub-order,
/// the notifications (and forged ones), and the magic refund amounts.
@Suite(.timeLimit(.minutes(2))) struct WeChatRefundSandboxTests {
    static func paidV2Order(
        _ harness: SandboxHarness, _ channel: WeChatV2Channel, fen: Int64
    ) async throws -> OrderReference {
        let order = WeChatV2SandboxTests.order(harness, fen: fen)
        guard case .prepared(let prepared) = try await channel.create(order) else {
            throw HarnessError(message: "v2 order not prepared")
        }
        #expect(try await harness.pay(.wechatV2, order.outTradeNo) == 200)
        _ = try await harness.waitForCallbacks(order.outTradeNo) { !$0.isEmpty }
        return OrderReference(order: order, memo: prepared.memo)
    }

    static func refund(
        _ harness: SandboxHarness, _ channel: ChannelID, _ payment: OrderReference, fen: Int64, number: String,
        subRefunds: [SubRefund] = []
    ) -> RefundOrder {
        RefundOrder(
            outRefundNo: number, amount: Money(fen: fen), reason: "退货", notifyURL: harness.notifyURL(channel),
            requestedAt: Date(), payment: payment, subRefunds: subRefunds)
    }

    /// Refund notices received for an order so far.
    static func notices(_ received: [SandboxHarness.Received]) -> [RefundNotice] {
        received.compactMap { try? $0.result.get().refund }
    }

    @Test func v2PartialRefundsAddUpToThePayment() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatV2SandboxTests.channel(harness)
            let payment = try await Self.paidV2Order(harness, channel, fen: 1000)
            let first = Self.refund(harness, .wechatV2, payment, fen: 400, number: "RF" + payment.order.outTradeNo)
            guard case .processing(let memo) = try await channel.refund(first) else {
                Issue.record("first refund not processing")
                return
            }
            #expect(memo["refund_id"]?.hasPrefix("50000") == true)
            // Repeating the same refund is idempotent at WeChat (same refund_id).
            #expect(try await channel.refund(first) == .processing(memo: memo))
            let second = Self.refund(harness, .wechatV2, payment, fen: 600, number: "RS" + payment.order.outTradeNo)
            guard case .processing = try await channel.refund(second) else {
                Issue.record("second refund not processing")
                return
            }
            let received = try await harness.waitForCallbacks(payment.order.outTradeNo) {
                Self.notices($0).count >= 2
            }
            let notices = Self.notices(received)
            #expect(Set(notices.map(\.outRefundNo)) == [first.outRefundNo, second.outRefundNo])
            for notice in notices {
                guard case .succeeded(let details) = notice.status else {
                    Issue.record("refund notice not succeeded: \(notice)")
                    continue
                }
                #expect(details.amount == Money(fen: notice.outRefundNo == first.outRefundNo ? 400 : 600))
            }
            guard
                case .succeeded(let queried) = try await channel.queryRefund(RefundReference(refund: first, memo: memo))
            else {
                Issue.record("query not succeeded")
                return
            }
            #expect(queried.amount == Money(fen: 400))
            #expect(queried.vendorRefundIDs == [memo["refund_id"] ?? ""])
            // Nothing is left to refund; the same number with another amount is a conflict.
            let third = Self.refund(harness, .wechatV2, payment, fen: 1, number: "RT" + payment.order.outTradeNo)
            guard case .failed(let beyond) = try await channel.refund(third) else {
                Issue.record("refund beyond the payment not failed")
                return
            }
            #expect(beyond.code == "INVALID_REQUEST")
            var changed = first
            changed.amount = Money(fen: 300)
            guard case .failed(let conflict) = try await channel.refund(changed) else {
                Issue.record("changed refund not failed")
                return
            }
            #expect(conflict.code == "REFUND_FEE_MISMATCH")
            // The order itself now reports REFUND: paid, then refunded.
            guard case .refunded(let paid) = try await channel.query(payment) else {
                Issue.record("order not refunded")
                return
            }
            #expect(paid.amount == Money(fen: 1000))
            // A refund number the vendor never saw.
            let unknown = Self.refund(harness, .wechatV2, payment, fen: 1, number: "RU" + payment.order.outTradeNo)
            #expect(try await channel.queryRefund(RefundReference(refund: unknown)) == .notFound)
        }
    }

    @Test func v2RefundNeedsTheMerchantsClientCertificate() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatV2SandboxTests.channel(harness)
            let payment = try await Self.paidV2Order(harness, channel, fen: 500)
            // Another certificate than the one the sandbox knows for this merchant.
            let other = try WeChatV2SandboxTests.channel(harness) { account in
                let stranger = WeChatV2Channel.sandboxDemoAccount(alias: "x", sandboxBaseURL: "http://127.0.0.1:1")
                account.secrets["apiclient_cert"] = stranger.secrets["apiclient_cert"]
                account.secrets["apiclient_key"] = stranger.secrets["apiclient_key"]
            }
            let refund = Self.refund(harness, .wechatV2, payment, fen: 100, number: "RC" + payment.order.outTradeNo)
            do throws(ChannelError) {
                _ = try await other.refund(refund)
                Issue.record("refund with another certificate accepted")
            } catch {
                #expect(error.vendorCode == "CERT_ERROR")
                #expect(!error.isRetryable)
            }
            guard case .processing = try await channel.refund(refund) else {
                Issue.record("refund with the merchant's certificate not processing")
                return
            }
        }
    }

    @Test func v2MagicRefundAmounts() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatV2SandboxTests.channel(harness)
            let payment = try await Self.paidV2Order(harness, channel, fen: 10_000)
            let staying = Self.refund(harness, .wechatV2, payment, fen: 191, number: "R91" + payment.order.outTradeNo)
            guard case .processing(let memo) = try await channel.refund(staying) else {
                Issue.record("…91 not processing")
                return
            }
            let failing = Self.refund(harness, .wechatV2, payment, fen: 292, number: "R92" + payment.order.outTradeNo)
            guard case .processing = try await channel.refund(failing) else {
                Issue.record("…92 not processing")
                return
            }
            let querying = Self.refund(harness, .wechatV2, payment, fen: 393, number: "R93" + payment.order.outTradeNo)
            #expect(try await channel.refund(querying) == .pending(.needQuery, memo: [:]))
            guard case .succeeded(let found) = try await channel.queryRefund(RefundReference(refund: querying)) else {
                Issue.record("…93 not found succeeded by a query")
                return
            }
            #expect(found.amount == Money(fen: 393))
            let poor = Self.refund(harness, .wechatV2, payment, fen: 494, number: "R94" + payment.order.outTradeNo)
            guard case .failed(let notEnough) = try await channel.refund(poor) else {
                Issue.record("…94 not failed")
                return
            }
            #expect(notEnough.code == "NOTENOUGH")

            let received = try await harness.waitForCallbacks(payment.order.outTradeNo) { received in
                Self.notices(received).contains { $0.outRefundNo == failing.outRefundNo }
            }
            let closed = Self.notices(received).first { $0.outRefundNo == failing.outRefundNo }
            guard case .failed(let failure) = closed?.status else {
                Issue.record("…92 notice not failed")
                return
            }
            #expect(failure.code == "REFUNDCLOSE")
            guard case .failed = try await channel.queryRefund(RefundReference(refund: failing)) else {
                Issue.record("…92 query not failed")
                return
            }
            #expect(try await channel.queryRefund(RefundReference(refund: staying, memo: memo)) == .processing)
            // Neither the processing nor the query-only refund was notified.
            #expect(!Self.notices(received).contains { $0.outRefundNo == staying.outRefundNo })
            #expect(!Self.notices(received).contains { $0.outRefundNo == querying.outRefundNo })
        }
    }

    // MARK: Combine

    static func paidCombineOrder(
        _ harness: SandboxHarness, _ channel: WeChatCombineChannel, fen: [Int64]
    ) async throws -> OrderReference {
        let order = WeChatCombineSandboxTests.order(harness, fen: fen)
        guard case .prepared(let prepared) = try await channel.create(order) else {
            throw HarnessError(message: "combine order not prepared")
        }
        #expect(try await harness.pay(.wechatV3Combine, order.outTradeNo) == 200)
        _ = try await harness.waitForCallbacks(order.outTradeNo) { !$0.isEmpty }
        return OrderReference(order: order, memo: prepared.memo)
    }

    @Test func wholeCombineRefundAggregatesItsSubOrders() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatCombineSandboxTests.channel(harness)
            let payment = try await Self.paidCombineOrder(harness, channel, fen: [1250, 1250])
            let refund = Self.refund(harness, .wechatV3Combine, payment, fen: 2500, number: "RW1")
            guard case .processing = try await channel.refund(refund) else {
                Issue.record("combine refund not processing")
                return
            }
            // Both sub-orders' notifications name the combine order and the client's refund number;
            // each part alone is not the whole refund.
            let received = try await harness.waitForCallbacks(payment.order.outTradeNo) {
                Self.notices($0).count >= 2
            }
            for notice in Self.notices(received) {
                #expect(notice.outRefundNo == "RW1")
                #expect(notice.status == .processing)
            }
            let events = received.compactMap { try? $0.result.get() }.filter { $0.refund != nil }
            #expect(
                Set(events.compactMap { $0.fields["out_trade_no"] }) == [
                    "\(payment.order.outTradeNo)S0", "\(payment.order.outTradeNo)S1",
                ])
            #expect(
                events.allSatisfy {
                    $0.outTradeNo == payment.order.outTradeNo && $0.fields["event_type"] == "REFUND.SUCCESS"
                })
            guard case .succeeded(let details) = try await channel.queryRefund(RefundReference(refund: refund)) else {
                Issue.record("combine refund query not succeeded")
                return
            }
            #expect(details.amount == Money(fen: 2500))
            #expect(details.vendorRefundIDs.count == 2)
            // A repeated request is idempotent (the same vendor numbers): WeChat answers the refunds it has.
            guard case .succeeded(let again) = try await channel.refund(refund) else {
                Issue.record("repeated combine refund not answered with the refunds made")
                return
            }
            #expect(again.vendorRefundIDs == details.vendorRefundIDs)
            // Nothing is left on either sub-order.
            let more = Self.refund(
                harness, .wechatV3Combine, payment, fen: 1, number: "RW2",
                subRefunds: [
                    SubRefund(
                        outTradeNo: "\(payment.order.outTradeNo)S1", amount: Money(fen: 1), paid: Money(fen: 1250))
                ])
            guard case .failed(let failure) = try await channel.refund(more) else {
                Issue.record("refund beyond the sub-order not failed")
                return
            }
            #expect(failure.code == "INVALID_REQUEST")
            #expect(failure.message.contains("\(payment.order.outTradeNo)S1"))
        }
    }

    @Test func oneSubOrderRefundAndForgedNotifications() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatCombineSandboxTests.channel(harness)
            let payment = try await Self.paidCombineOrder(harness, channel, fen: [700, 300])
            let sub = "\(payment.order.outTradeNo)S1"
            let refund = Self.refund(
                harness, .wechatV3Combine, payment, fen: 120, number: "R1@a",
                subRefunds: [SubRefund(outTradeNo: sub, amount: Money(fen: 120), paid: Money(fen: 300))])
            guard case .processing = try await channel.refund(refund) else {
                Issue.record("sub-order refund not processing")
                return
            }
            let received = try await harness.waitForCallbacks(payment.order.outTradeNo) { !Self.notices($0).isEmpty }
            let event = try #require(received.compactMap { try? $0.result.get() }.first { $0.refund != nil })
            #expect(event.outTradeNo == payment.order.outTradeNo)
            #expect(event.fields["out_trade_no"] == sub)
            #expect(event.refund?.outRefundNo == "R1@a")
            guard case .succeeded(let details) = event.refund?.status else {
                Issue.record("single-part refund notice not succeeded")
                return
            }
            #expect(details.amount == Money(fen: 120))
            #expect(try await channel.queryRefund(RefundReference(refund: refund)) == .succeeded(details))

            // Forged: the genuine body with another signature, or a changed body under the genuine one.
            let genuine = try #require(received.first { (try? $0.result.get().refund) != nil }?.raw)
            var badSignature = genuine
            badSignature.headers["wechatpay-signature"] = Data(repeating: 7, count: 256).base64EncodedString()
            await #expect(throws: CallbackError.self) { try await channel.verifyCallback(badSignature) }
            var changed = genuine
            changed.body = Array(
                String(decoding: genuine.body, as: UTF8.self).replacingOccurrences(
                    of: "REFUND.SUCCESS", with: "REFUND.CLOSED"
                ).utf8)
            await #expect(throws: CallbackError.self) { try await channel.verifyCallback(changed) }
        }
    }

    @Test func combineMagicRefundAmounts() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatCombineSandboxTests.channel(harness)
            let payment = try await Self.paidCombineOrder(harness, channel, fen: [5000, 5000])
            let s0 = "\(payment.order.outTradeNo)S0"
            let s1 = "\(payment.order.outTradeNo)S1"
            // One part fails (…92): the refund fails and names the sub-order.
            let failing = Self.refund(
                harness, .wechatV3Combine, payment, fen: 392, number: "RM1",
                subRefunds: [
                    SubRefund(outTradeNo: s0, amount: Money(fen: 100), paid: Money(fen: 5000)),
                    SubRefund(outTradeNo: s1, amount: Money(fen: 292), paid: Money(fen: 5000)),
                ])
            guard case .processing = try await channel.refund(failing) else {
                Issue.record("…92 refund not processing")
                return
            }
            let received = try await harness.waitForCallbacks(payment.order.outTradeNo) { received in
                Self.notices(received).contains { if case .failed = $0.status { true } else { false } }
            }
            let failedNotice = Self.notices(received).first { if case .failed = $0.status { true } else { false } }
            guard case .failed(let failure) = failedNotice?.status else { return }
            #expect(failure.code == "CLOSED")
            #expect(failure.message.contains(s1))
            guard case .failed(let queried) = try await channel.queryRefund(RefundReference(refund: failing)) else {
                Issue.record("…92 query not failed")
                return
            }
            #expect(queried.message.contains(s1))
            // …93: answered SYSTEM_ERROR, only a query finds it.
            let querying = Self.refund(
                harness, .wechatV3Combine, payment, fen: 193, number: "RM2",
                subRefunds: [SubRefund(outTradeNo: s0, amount: Money(fen: 193), paid: Money(fen: 5000))])
            guard case .pending = try await channel.refund(querying) else {
                Issue.record("…93 not pending")
                return
            }
            guard case .succeeded = try await channel.queryRefund(RefundReference(refund: querying)) else {
                Issue.record("…93 query not succeeded")
                return
            }
            // …91 stays processing; …94 is refused NOT_ENOUGH.
            let staying = Self.refund(
                harness, .wechatV3Combine, payment, fen: 91, number: "RM3",
                subRefunds: [SubRefund(outTradeNo: s0, amount: Money(fen: 91), paid: Money(fen: 5000))])
            guard case .processing = try await channel.refund(staying) else {
                Issue.record("…91 not processing")
                return
            }
            #expect(try await channel.queryRefund(RefundReference(refund: staying)) == .processing)
            let poor = Self.refund(
                harness, .wechatV3Combine, payment, fen: 94, number: "RM4",
                subRefunds: [SubRefund(outTradeNo: s0, amount: Money(fen: 94), paid: Money(fen: 5000))])
            guard case .failed(let notEnough) = try await channel.refund(poor) else {
                Issue.record("…94 not failed")
                return
            }
            #expect(notEnough.code == "NOT_ENOUGH")
            let unknown = Self.refund(harness, .wechatV3Combine, payment, fen: 10_000, number: "RM5")
            #expect(try await channel.queryRefund(RefundReference(refund: unknown)) == .notFound)
        }
    }
}
