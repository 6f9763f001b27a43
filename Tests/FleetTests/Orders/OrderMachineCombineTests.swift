import Foundation
import Payments
import Testing

@testable import Fleet

/// WeChat combine (合单): a payment is accepted only when every sub-order matches the order.
@Suite("Order state machine: combine sub-orders")
struct OrderMachineCombineTests {
    static let combineMchID = "1900000109"
    static let partnerMchID = "1900000110"

    /// A prepared combine order of 100 fen: sub-order C1S0 (60 fen, combine_mchid) and C1S1
    /// (40 fen, the partner merchant named in its `mchid` option).
    static func preparedMachine() -> OrderMachine {
        let context = Fixture.context(vendorMerchantID: combineMchID)
        var machine = OrderMachine(state: nil, configuration: OrderMachineConfiguration(), context: context)
        var request = Fixture.request(channel: .wechatV3Combine, amount: 100)
        request.options = [
            "sub_orders": .array([
                .object(["out_trade_no": .string("C1S0"), "amount_fen": .integer(60), "description": .string("a")]),
                .object([
                    "out_trade_no": .string("C1S1"), "amount_fen": .integer(40), "description": .string("b"),
                    "mchid": .string(partnerMchID),
                ]),
            ])
        ]
        _ = machine.requestReceived(request, receivedAt: Fixture.t0, now: Fixture.t0)
        _ = machine.createAnswered(.success(.prepared(Fixture.prepared)), now: Fixture.at(1))
        return machine
    }

    static func payment(_ subs: [(String, String, Int64)]) -> PaymentDetails {
        PaymentDetails(
            transactionID: "4200000001,4200000002", amount: Money(fen: subs.reduce(0) { $0 + $1.2 }),
            paidAt: Fixture.at(60),
            vendorMerchantID: combineMchID,
            subPayments: subs.enumerated().map { index, sub in
                SubPayment(
                    outTradeNo: sub.0, vendorMerchantID: sub.1, transactionID: "420000000\(index + 1)",
                    amount: Money(fen: sub.2), tradeState: "SUCCESS")
            })
    }

    static func callback(_ details: PaymentDetails) -> CallbackInput {
        let verified = VerifiedCallback(
            outTradeNo: "order-1", status: .succeeded(details), vendorMerchantID: combineMchID, amount: details.amount)
        return CallbackInput(merchant: "shop", outTradeNo: "order-1", evidence: "body", check: .verified(verified))
    }

    @Test("every sub-order matching: succeeded, with the sub-payments in the event")
    func matching() throws {
        var machine = Self.preparedMachine()
        let step = machine.callbackReceived(
            Self.callback(Self.payment([("C1S0", Self.combineMchID, 60), ("C1S1", Self.partnerMchID, 40)])),
            now: Fixture.at(60))
        #expect(step.eventKinds == [.succeeded])
        #expect(machine.state?.status == .succeeded)
        let subs = try #require(step.events.first?.data["sub_payments"]?.arrayValue)
        #expect(subs.count == 2)
    }

    @Test(
        "a notification with the right total but wrong sub-order amounts, mchid or numbers: anomaly + dead letter + query, never succeeded",
        arguments: [
            (
                [
                    ("C1S0", OrderMachineCombineTests.combineMchID, 50),
                    ("C1S1", OrderMachineCombineTests.partnerMchID, 50),
                ], RejectionReason.amountMismatch
            ),
            (
                [
                    ("C1S0", OrderMachineCombineTests.combineMchID, 60),
                    ("C1S1", OrderMachineCombineTests.combineMchID, 40),
                ], .merchantMismatch
            ),
            (
                [
                    ("C1S0", OrderMachineCombineTests.partnerMchID, 60),
                    ("C1S1", OrderMachineCombineTests.partnerMchID, 40),
                ], .merchantMismatch
            ),
            (
                [
                    ("C1S0", OrderMachineCombineTests.combineMchID, 60),
                    ("C1S9", OrderMachineCombineTests.partnerMchID, 40),
                ], .outTradeNoMismatch
            ),
            ([("C1S0", OrderMachineCombineTests.combineMchID, 100)], .outTradeNoMismatch),
            (
                [
                    ("C1S0", OrderMachineCombineTests.combineMchID, 60),
                    ("C1S1", OrderMachineCombineTests.partnerMchID, 40),
                    ("C1S2", OrderMachineCombineTests.partnerMchID, 0),
                ], .outTradeNoMismatch
            ),
        ] as [([(String, String, Int64)], RejectionReason)])
    func mismatchingCallback(subs: [(String, String, Int64)], reason: RejectionReason) throws {
        var machine = Self.preparedMachine()
        let step = machine.callbackReceived(Self.callback(Self.payment(subs)), now: Fixture.at(60))
        #expect(step.eventKinds == [.anomaly])
        #expect(step.events.first?.data["anomaly"] == .string(reason.rawValue))
        #expect(step.deadLetters == [reason])
        #expect(step.timers.map(\.reason) == [.anomaly])
        #expect(machine.state?.status == .prepared)

        // The query that follows finds the genuine payment: succeeded from the query, once.
        _ = machine.jobDue(Fixture.job(.anomaly, due: Fixture.at(65)), now: Fixture.at(65))
        let queried = machine.queryAnswered(
            .success(.succeeded(Self.payment([("C1S0", Self.combineMchID, 60), ("C1S1", Self.partnerMchID, 40)]))),
            now: Fixture.at(66))
        #expect(queried.eventKinds == [.succeeded])
        #expect(machine.state?.status == .succeeded)
    }

    @Test("a query answer with a wrong sub-order is an anomaly too, and the order stays open")
    func mismatchingQuery() {
        var machine = Self.preparedMachine()
        _ = machine.jobDue(Fixture.job(.fallback, due: Fixture.at(30)), now: Fixture.at(30))
        let step = machine.queryAnswered(
            .success(.succeeded(Self.payment([("C1S0", Self.combineMchID, 61), ("C1S1", Self.partnerMchID, 39)]))),
            now: Fixture.at(31))
        #expect(step.eventKinds == [.anomaly])
        #expect(step.events.first?.data["anomaly"] == .string("amount_mismatch"))
        #expect(machine.state?.status == .prepared)
    }
}
