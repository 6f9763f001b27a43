import Foundation
import Payments
import Testing

@testable import Fleet

@Suite("Refund request decoding")
struct RefundRequestDecoderTests {
    let decoder = OrderRequestDecoder()

    func decode(_ json: String, key: String? = "order-1") -> Result<OrderRequest, RequestRejection> {
        decoder.decode(value: Data(json.utf8), key: key)
    }

    func reason(_ json: String) -> RejectionReason? {
        if case .failure(let rejection) = decode(json) { return rejection.reason }
        return nil
    }

    @Test("a refund decodes with out_refund_no, amount and reason")
    func valid() throws {
        let request = try decode(
            #"{"action":"refund","out_trade_no":"order-1","merchant":"shop","channel":"storepos","out_refund_no":"RF-1","amount_fen":500,"reason":"退货"}"#
        ).get()
        #expect(request.action == .refund)
        #expect(request.amount == Money(fen: 500))
        #expect(request.refund == OrderRequest.Refund(outRefundNo: "RF-1", reason: "退货"))
    }

    @Test("out_refund_no and amount_fen are required; bad values are named")
    func required() {
        let base = #""action":"refund","out_trade_no":"order-1","merchant":"shop","channel":"storepos""#
        #expect(reason("{\(base),\"amount_fen\":1}") == .missingField)
        #expect(reason("{\(base),\"out_refund_no\":\"R1\"}") == .missingField)
        #expect(reason("{\(base),\"out_refund_no\":\"R1\",\"amount_fen\":0}") == .badAmount)
        #expect(reason("{\(base),\"out_refund_no\":\"R 1\",\"amount_fen\":1}") == .invalidField)
        #expect(
            reason("{\(base),\"out_refund_no\":\"\(String(repeating: "R", count: 65))\",\"amount_fen\":1}")
                == .invalidField)
        #expect(
            reason(
                "{\(base),\"out_refund_no\":\"R1\",\"amount_fen\":1,\"reason\":\"\(String(repeating: "因", count: 81))\"}"
            ) == .invalidField)
        #expect(
            reason(
                "{\(base),\"out_refund_no\":\"R1\",\"amount_fen\":1,\"options\":{\"sub_orders\":[{\"out_trade_no\":\"S\",\"amount_fen\":1}]}}"
            )
                == .invalidField)
    }

    @Test("wechat-v3-combine refunds name sub-orders whose amounts sum to amount_fen")
    func combineSubOrders() throws {
        let base =
            #""action":"refund","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v3-combine","out_refund_no":"R1""#
        let request = try decode(
            "{\(base),\"amount_fen\":30,\"options\":{\"sub_orders\":[{\"out_trade_no\":\"S1\",\"amount_fen\":10},{\"out_trade_no\":\"S2\",\"amount_fen\":20}]}}"
        ).get()
        #expect(request.refund?.subOrders.map(\.outTradeNo) == ["S1", "S2"])
        #expect(
            reason(
                "{\(base),\"amount_fen\":31,\"options\":{\"sub_orders\":[{\"out_trade_no\":\"S1\",\"amount_fen\":10},{\"out_trade_no\":\"S2\",\"amount_fen\":20}]}}"
            ) == .subOrdersMismatch)
        #expect(
            reason(
                "{\(base),\"amount_fen\":20,\"options\":{\"sub_orders\":[{\"out_trade_no\":\"S1\",\"amount_fen\":10},{\"out_trade_no\":\"S1\",\"amount_fen\":10}]}}"
            )
                == .subOrdersMismatch)
        let whole = try decode("{\(base),\"amount_fen\":30}").get()
        #expect(whole.refund?.subOrders.isEmpty == true)
    }
}
