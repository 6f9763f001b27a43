import Foundation
import Payments
import Testing

@testable import Fleet

/// Refunds in the order-state record: a paid order is terminal, so its refunds live in the terminal
/// summary (format 3); format 2 summaries written before refunds still restore.
@Suite struct RefundRecordTests {
    static func paidWithRefunds() throws -> OrderState {
        var machine = OrderMachineRefundTests.paidMachine()
        _ = machine.requestReceived(
            OrderMachineRefundTests.refund("RF1", amount: 30, reason: "破损"), receivedAt: Fixture.at(90),
            now: Fixture.at(90))
        _ = machine.refundAnswered(
            "RF1", result: .success(OrderMachineRefundTests.done(amount: 30)), now: Fixture.at(91))
        _ = machine.requestReceived(
            OrderMachineRefundTests.refund("RF2", amount: 20), receivedAt: Fixture.at(92), now: Fixture.at(92))
        _ = machine.refundAnswered(
            "RF2", result: .success(.processing(memo: ["vendor_refund_no": "Y9"])), now: Fixture.at(93))
        return try #require(machine.state)
    }

    @Test("a paid order's summary carries its refunds, finished and in flight, and round-trips exactly")
    func summaryCarriesRefunds() throws {
        let state = try Self.paidWithRefunds()
        let bytes = state.encoded()
        #expect(TerminalSummary.isBinaryRecord(bytes))
        #expect(bytes[1] == UInt8(TerminalSummary.formatVersion))
        let restored = try OrderState.decode(bytes)
        #expect(restored.refunds == state.refunds)
        #expect(restored.memo == state.memo)
        #expect(restored.encoded() == bytes)
        #expect(restored.refund("RF1")?.status == .succeeded && restored.refund("RF1")?.reason == "破损")
        #expect(restored.refund("RF2")?.memo["vendor_refund_no"] == "Y9")
        // The repeated refund events after a restore are identical.
        for refund in state.refunds {
            #expect(OrderMachine.refundEvent(restored, refund) == OrderMachine.refundEvent(state, refund))
        }
    }

    @Test("a format 2 summary (written before refunds) still restores, with no refunds")
    func formatTwoRestores() throws {
        var state = try #require(OrderStateRecordTests.terminalMachine(.succeeded).state)
        state.memo = [:]
        let v3 = try #require(TerminalSummary(state)).encoded()
        // Format 2 is format 3 without the trailing memo and refund counts (two zero varints).
        #expect(Array(v3.suffix(2)) == [0, 0])
        var v2 = Array(v3.dropLast(2))
        v2[1] = 2
        let restored = try OrderState.decode(Data(v2))
        #expect(restored.status == .succeeded && restored.payment?.transactionID == "4200001")
        #expect(restored.refunds.isEmpty)
        #expect(OrderMachine.terminalEvent(restored) == OrderMachine.terminalEvent(state))
    }

    @Test("a format 1 (JSON) record without refunds decodes, and refunds survive the JSON form too")
    func jsonRefunds() throws {
        let state = try Self.paidWithRefunds()
        let json = state.encodedJSON()
        #expect(try OrderState.decodeJSON(json) == state)
        let old = try OrderState.decode(Data(OrderStateRecordTests.formatOneSucceeded.utf8))
        #expect(old.refunds.isEmpty)
    }

    @Test("damaged refund bytes are an error, never a crash")
    func damaged() throws {
        let bytes = Array(try Self.paidWithRefunds().encoded())
        for length in stride(from: 0, to: bytes.count, by: 3) {
            #expect(throws: OrderStateDecodingError.self) { try OrderState.decode(Data(bytes.prefix(length))) }
        }
    }
}
