import Foundation
import Payments
import Testing

@testable import Fleet

/// The `payfleet.order-state` record formats: format 1 (full JSON, live orders and every record
/// written before terminal summaries existed) and format 2 (a terminal order's binary summary).
@Suite("Order-state records: terminal summary and format 1 records")
struct OrderStateRecordTests {
    /// A terminal (succeeded) order's record as written before terminal summaries existed: the full
    /// state, format 1 JSON.
    static let formatOneSucceeded =
        #"{"amount_fen":100,"attach":"a=1","channel":"wechat-v2","close_attempts":0,"close_requested":false,"create_attempts":1,"created_at":"2027-01-15T08:00:00.000Z","description":"a cup of tea","expires_at":"2027-01-15T10:00:00.000Z","fallback_queries":0,"memo":{"prepay_id":"wx-prepay-1"},"merchant":"shop","options":{},"out_trade_no":"order-1","payment":{"amount_fen":100,"paid_at":"2027-01-15T08:01:00.000Z","sub_payments":[],"transaction_id":"4200001","vendor_merchant_id":"10000100"},"pending_queries":0,"prepared":{"code_url":"weixin://wxpay/bizpayurl?pr=abc","pay_parameters":{},"vendor_order_id":"wx-prepay-1"},"request_digest":"digest-1","retry_attempt":0,"revision":3,"schema":1,"status":"succeeded","terminal_at":"2027-01-15T08:01:00.000Z"}"#

    /// A machine driven to `succeeded` by a callback, `closed` by expiry, or `failed`.
    static func terminalMachine(_ status: OrderState.Status) -> OrderMachine {
        var machine = Fixture.preparedMachine()
        switch status {
        case .succeeded:
            _ = machine.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(60))
        case .closed: _ = machine.close(reason: "expired", atVendor: true, now: Fixture.at(7200))
        default: _ = machine.fail(VendorFailure(code: "PAYERROR", message: "支付失败"), now: Fixture.at(90))
        }
        return machine
    }

    @Test("a format 1 record of a terminal order still restores, byte for byte what the encoder writes")
    func formatOneRestores() throws {
        let data = Data(Self.formatOneSucceeded.utf8)
        let state = try OrderState.decode(data)
        #expect(state.status == .succeeded && state.payment?.transactionID == "4200001" && state.attach == "a=1")
        #expect(state.encodedJSON() == data)
        // Restore keeps it as its summary.
        let record = RestoredRecord(key: "order-1", offset: 0, value: data)
        guard case .terminal(let bytes) = record.content else {
            Issue.record("a terminal format 1 record is not kept as a summary")
            return
        }
        #expect(try TerminalSummary.decode(bytes) == TerminalSummary(state))
        #expect(bytes.count < data.count / 3)
    }

    @Test(
        "terminal summaries round-trip and stay a fixpoint", arguments: [OrderState.Status.succeeded, .closed, .failed])
    func summaryRoundTrip(_ status: OrderState.Status) throws {
        let full = try #require(Self.terminalMachine(status).state)
        let summary = try #require(TerminalSummary(full))
        let bytes = summary.encoded()
        #expect(TerminalSummary.isBinaryRecord(bytes))
        #expect(try TerminalSummary.decode(bytes) == summary)
        let restored = try OrderState.decode(full.encoded())
        #expect(restored == summary.orderState)
        #expect(TerminalSummary(restored) == summary)
        #expect(restored.encoded() == full.encoded())
        #expect(restored.schema == TerminalSummary.formatVersion)
        // The repeated terminal event (query of a terminal order) is byte-identical.
        #expect(OrderMachine.terminalEvent(restored) == OrderMachine.terminalEvent(full))
    }

    @Test("live orders keep their full format 1 record")
    func liveOrdersStayFull() throws {
        let live = try #require(Fixture.preparedMachine().state)
        #expect(TerminalSummary(live) == nil)
        #expect(live.encoded() == live.encodedJSON())
        #expect(try OrderState.decode(live.encoded()) == live)
    }

    @Test("a combine order's summary keeps what a refund needs")
    func combineSummary() throws {
        var machine = OrderMachineCombineTests.preparedMachine()
        _ = machine.callbackReceived(
            OrderMachineCombineTests.callback(
                OrderMachineCombineTests.payment([
                    ("C1S0", OrderMachineCombineTests.combineMchID, 60),
                    ("C1S1", OrderMachineCombineTests.partnerMchID, 40),
                ])), now: Fixture.at(60))
        let full = try #require(machine.state)
        let summary = try TerminalSummary.decode(try #require(TerminalSummary(full)).encoded())
        #expect(summary.channel == .wechatV3Combine && summary.merchant == "shop" && summary.amountFen == 100)
        #expect(summary.payment?.transactionID == "4200000001,4200000002")
        #expect(summary.payment?.vendorMerchantID == OrderMachineCombineTests.combineMchID)
        #expect(summary.payment?.subPayments.map(\.outTradeNo) == ["C1S0", "C1S1"])
        #expect(summary.payment?.subPayments.map(\.amountFen) == [60, 40])
        #expect(summary.payment?.subPayments.map(\.transactionID) == ["4200000001", "4200000002"])
        #expect(summary.subOrders.map(\.outTradeNo) == ["C1S0", "C1S1"])
        #expect(summary.subOrders.map(\.vendorMerchantID) == [nil, OrderMachineCombineTests.partnerMchID])
    }

    @Test(
        "a terminal order answers from its summary exactly as from its full state",
        arguments: [OrderState.Status.succeeded, .closed, .failed])
    func machineAnswersFromSummary(_ status: OrderState.Status) throws {
        let full = try #require(Self.terminalMachine(status).state)
        let summary = try #require(TerminalSummary(full)).orderState
        typealias Input = (String, (inout OrderMachine) -> OrderStep)
        let inputs: [Input] = [
            (
                "duplicate callback",
                { $0.callbackReceived(Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(600)) }
            ),
            (
                "second transaction",
                { $0.callbackReceived(Fixture.callback(.succeeded(Fixture.payment("4200009"))), now: Fixture.at(600)) }
            ),
            (
                "wrong amount",
                {
                    $0.callbackReceived(
                        Fixture.callback(.succeeded(Fixture.payment(amount: 99)), amount: 99), now: Fixture.at(600))
                }
            ),
            ("not paid callback", { $0.callbackReceived(Fixture.callback(.notPaid), now: Fixture.at(600)) }),
            (
                "repeated create",
                { $0.requestReceived(Fixture.request(), receivedAt: Fixture.t0, now: Fixture.at(600)) }
            ),
            (
                "create with other content",
                {
                    $0.requestReceived(
                        Fixture.request(digest: "digest-2"), receivedAt: Fixture.t0, now: Fixture.at(600))
                }
            ),
            (
                "upstream query",
                { $0.requestReceived(Fixture.request(.query), receivedAt: Fixture.t0, now: Fixture.at(600)) }
            ),
            (
                "upstream close",
                { $0.requestReceived(Fixture.request(.close), receivedAt: Fixture.t0, now: Fixture.at(600)) }
            ),
            ("late timer", { $0.jobDue(Fixture.job(.pending, attempt: 9), now: Fixture.at(600)) }),
            ("retention", { $0.jobDue(Fixture.job(.expiry), now: Fixture.at(400_000)) }),
        ]
        for (name, input) in inputs {
            var fromFull = Fixture.machine(full)
            var fromSummary = Fixture.machine(summary)
            let expected = input(&fromFull)
            let actual = input(&fromSummary)
            #expect(actual == expected, "\(name)")
            #expect(
                fromSummary.state.flatMap(TerminalSummary.init) == fromFull.state.flatMap(TerminalSummary.init),
                "\(name)")
        }
        if status == .closed {
            var fromSummary = Fixture.machine(summary)
            let step = fromSummary.callbackReceived(
                Fixture.callback(.succeeded(Fixture.payment())), now: Fixture.at(8000))
            #expect(step.events.first?.data["anomaly"] == .string("paid_after_close"))
        }
    }

    @Test("a damaged binary record is an error, never a crash")
    func damagedRecords() throws {
        let state = try #require(Self.terminalMachine(.succeeded).state)
        let bytes = try #require(TerminalSummary(state)).encoded()
        for length in 0..<bytes.count {
            #expect(throws: OrderStateDecodingError.self) { try OrderState.decode(Data(bytes.prefix(length))) }
        }
        var unknownVersion = bytes
        unknownVersion[1] = 9
        #expect(throws: OrderStateDecodingError.self) { try OrderState.decode(Data(unknownVersion)) }
        #expect(throws: OrderStateDecodingError.self) { try OrderState.decode(Data(bytes + [0])) }
        let record = RestoredRecord(key: "order-1", offset: 0, value: Data(bytes.prefix(10)))
        guard case .undecodable = record.content else {
            Issue.record("a damaged record was accepted")
            return
        }
    }

    @Test("default retention is the longest vendor callback schedule plus the margin")
    func retention() throws {
        #expect(WorkerSettings.callbackRetryWindows.count == ChannelID.allCases.count)
        #expect(WorkerSettings.defaultStateRetention == .seconds(36 * 3600 + 4 * 60))
        #expect(WorkerSettings().stateRetention == WorkerSettings.defaultStateRetention)
        #expect(OrderMachineConfiguration().stateRetention == WorkerSettings.defaultStateRetention)
        let overridden = try WorkerSettings(environment: ["PAYFLEET_STATE_RETENTION": "48h"])
        #expect(overridden.machine.stateRetention == .seconds(48 * 3600))
        #expect(WorkerSettings.changelogDeleteRetention == .seconds(86_400))
    }
}
