import Foundation
import Logging
import Payments
import StorePOS
import Testing
import YunGouOS

/// Refund answers and callbacks against the vendors' own published samples: storepos `refund` and
/// `refundquery` from CY-UnifiedPay-New `api/micropay.md` (交易退款 / 退款查询 响应结果示例, their
/// placeholder `sign` re-made with a test key), and the YunGouOS refund callback's signed field list
/// from YunGouOS-PAY-SDK `PaySignUtil.checkRefundNotifySign`.
@Suite struct RefundAnswerTests {
    static let storeposKey = Secret("PAYFLEETSTOREPOSCONFORMANCEKEY00")

    /// `api/micropay.md` 交易退款 响应结果示例.
    static let storeposRefundSample: [String: String] = [
        "state": "SUCCESS", "code": "10000", "trade_state": "SUCCESS", "msg": "SUCCESS", "mch_id": "00000001",
        "out_trade_no": "T0020190517145341153", "transaction_id": "4200000330201905173095298659",
        "out_transaction_id": "4200000330201905173095298659", "out_refund_no": "TKT0020190517145341153-B",
        "refund_id": "50000300412019051709584177333", "base_fee": "8", "total_fee": "6", "base_refund_fee": "2",
        "refund_fee": "1", "coupon_refund_fee": "1", "nonce_str": "78GTQmdylSxwFXxE",
    ]

    /// `api/micropay.md` 退款查询 响应结果示例 (`refund_list` is a JSON text).
    static let storeposRefundQuerySample: [String: String] = [
        "state": "SUCCESS", "code": "10000", "trade_state": "SUCCESS", "msg": "SUCCESS", "mch_id": "00000001",
        "appid": "wx4da448cd29920000", "transaction_id": "4200000334201905246610520000",
        "out_transaction_id": "4200000334201905246610520000", "out_trade_no": "T0020190524102840000",
        "base_refund_fee_summary": "4", "refund_fee_summary": "2", "refund_count": "1",
        "refund_list":
            #"[{"serial_no":"0","refund_id":"50000000482019052409653860000","out_refund_id":"50000000482019052409653860000","out_refund_no":"TKT0020190524102840000","base_refund_fee":"4","refund_fee":"2","coupon_refund_fee":"2","refund_status":"SUCCESS","refund_channel":"ORIGINAL","refund_time":"2019-05-24 11:11:33"}]"#,
        "nonce_str": "DjRzpkdtpM0Sl6HW", "wx_mch_id": "1264300000", "wx_sub_mch_id": "1266500000",
    ]

    static func signedAnswer(_ fields: [String: String], method: String) throws -> StorePOSAnswer {
        var fields = fields
        fields["sign"] = StorePOSSigning.sign(fields, key: storeposKey)
        let object = fields.mapValues { JSONValue.string($0) }
        let body = Array(try JSONEncoder().encode(JSONValue.object(object)))
        return try StorePOSAnswer.decode(body, method: method, key: storeposKey)
    }

    @Test("storepos refund sample: refunded, base_refund_fee (申请退款金额) is the refund amount")
    func storeposRefundSample() throws {
        let answer = try Self.signedAnswer(Self.storeposRefundSample, method: "refund")
        let outcome = try answer.refundOutcome(outRefundNo: "TKT0020190517145341153-B", memo: [:])
        #expect(
            outcome
                == .succeeded(
                    RefundDetails(vendorRefundIDs: ["50000300412019051709584177333"], amount: Money(fen: 2))))
        #expect(throws: Payments.ChannelError.self) {
            try answer.refundOutcome(outRefundNo: "ANOTHER", memo: [:])
        }
    }

    @Test(
        "storepos refund answers: FAIL is a refusal, NEED_QUERY and system errors are queried, unsigned success refused"
    )
    func storeposRefundShapes() throws {
        let fail = try Self.signedAnswer(
            ["state": "SUCCESS", "code": "10006", "trade_state": "FAIL", "msg": "退款失败"], method: "refund")
        #expect(
            try fail.refundOutcome(outRefundNo: "R1", memo: [:])
                == .failed(VendorFailure(code: "10006", message: "退款失败")))
        let query = try Self.signedAnswer(
            ["state": "SUCCESS", "code": "10000", "trade_state": "NEED_QUERY"], method: "refund")
        #expect(
            try query.refundOutcome(outRefundNo: "R1", memo: ["paytype": "WECHAT"])
                == .pending(.needQuery, memo: ["paytype": "WECHAT"]))
        let system = try StorePOSAnswer.decode(
            Array(#"{"state":"FAIL","code":"20006","msg":"系统错误"}"#.utf8), method: "refund", key: Self.storeposKey)
        #expect(try system.refundOutcome(outRefundNo: "R1", memo: [:]) == .pending(.unknownResult, memo: [:]))
        var unsigned = Self.storeposRefundSample
        unsigned.removeValue(forKey: "sign")
        let body = Array(try JSONEncoder().encode(JSONValue.object(unsigned.mapValues { .string($0) })))
        let answer = try StorePOSAnswer.decode(body, method: "refund", key: Self.storeposKey)
        #expect(throws: Payments.ChannelError.self) {
            try answer.refundOutcome(outRefundNo: "TKT0020190517145341153-B", memo: [:])
        }
    }

    @Test("storepos refundquery sample: SUCCESS with refund_id, amount and GMT+8 refund_time")
    func storeposRefundQuerySample() throws {
        let answer = try Self.signedAnswer(Self.storeposRefundQuerySample, method: "refundquery")
        let status = try answer.refundStatus(outRefundNo: "TKT0020190524102840000")
        let time = ChinaTime.parse("2019-05-24 11:11:33", "yyyy-MM-dd HH:mm:ss")
        #expect(time == Date(timeIntervalSince1970: 1_558_667_493))
        #expect(
            status
                == .succeeded(
                    RefundDetails(
                        vendorRefundIDs: ["50000000482019052409653860000"], amount: Money(fen: 4), refundedAt: time)))
        #expect(try answer.refundStatus(outRefundNo: "NOT-IN-THE-LIST") == .notFound)
    }

    @Test(
        "storepos refund_status: PROCESSING queried, NOTSURE sent again, CHANGE and FAIL final failures",
        arguments: ["PROCESSING", "NOTSURE", "CHANGE", "FAIL"])
    func storeposRefundStatuses(_ word: String) throws {
        var sample = Self.storeposRefundQuerySample
        sample["refund_list"] = sample["refund_list"]?.replacingOccurrences(
            of: #""refund_status":"SUCCESS""#, with: "\"refund_status\":\"\(word)\"")
        let status = try Self.signedAnswer(sample, method: "refundquery").refundStatus(
            outRefundNo: "TKT0020190524102840000")
        switch word {
        case "PROCESSING": #expect(status == .processing)
        case "NOTSURE": #expect(status == .notFound)
        case "CHANGE":
            #expect(
                status
                    == .failed(
                        VendorFailure(
                            code: "CHANGE",
                            message: "转入代发: the refund went back to the merchant's account; refund by hand")))
        default:
            guard case .failed(let failure) = status else {
                Issue.record("FAIL is not a failure")
                return
            }
            #expect(failure.code == "FAIL")
        }
    }

    static let yungouosKey = Secret("DEMO0YUNGOUOS0WXPAY0KEY000000000")

    /// A refund callback with `PaySignUtil.checkRefundNotifySign`'s twelve fields, signed with the
    /// SDK's rule (`createSign`: sorted, blanks skipped, `&key=`, uppercase MD5).
    static func yungouosRefundCallback(code: String = "1", extra: [String: String] = [:]) -> [UInt8] {
        var fields: [String: String] = [
            "code": code, "refundNo": "R17200911248111", "orderNo": "Y194506551713811", "outTradeNo": "T1001",
            "payNo": "4200001234", "mchId": "1600000001", "payName": "沙箱商户", "refundMoney": "0.10",
            "channel": "wxpay", "refundTime": "2026-11-22 10:30:00", "payRefundNo": "50300001",
            "applyTime": "2026-11-22 10:29:58",
        ]
        fields["sign"] = YunGouOSSigning.sign(fields, api: .refundNotify, key: yungouosKey)
        for (name, value) in extra { fields[name] = value }
        return Array(FormEncoding.encode(fields.sorted { $0.key < $1.key }).utf8)
    }

    @Test(
        "YunGouOS refund callback: the twelve signed fields verify, an unsigned extra does not matter, a changed signed one does"
    )
    func yungouosRefundCallback() throws {
        let signed = YunGouOSSigning.API.refundNotify.signedFields
        #expect(
            signed == [
                "code", "refundNo", "orderNo", "outTradeNo", "payNo", "mchId", "payName", "refundMoney", "channel",
                "refundTime", "payRefundNo", "applyTime",
            ])
        let verified = try YunGouOSCallback.verify(Self.yungouosRefundCallback(extra: ["note": "x"])) { _ in
            Self.yungouosKey
        }
        #expect(verified.outTradeNo == "T1001" && verified.vendorMerchantID == "1600000001")
        #expect(verified.amount == nil)
        let notice = try #require(verified.refund)
        #expect(notice.vendorRefundNo == "R17200911248111")
        #expect(
            notice.status
                == .succeeded(
                    RefundDetails(
                        vendorRefundIDs: ["R17200911248111", "50300001"], amount: Money(fen: 10),
                        refundedAt: ChinaTime.parse("2026-11-22 10:30:00", "yyyy-MM-dd HH:mm:ss"))))
        let tampered = String(decoding: Self.yungouosRefundCallback(), as: UTF8.self).replacingOccurrences(
            of: "refundMoney=0.10", with: "refundMoney=9.10")
        #expect(throws: CallbackError.self) {
            try YunGouOSCallback.verify(Array(tampered.utf8)) { _ in Self.yungouosKey }
        }
        // A payment callback is still a payment callback.
        #expect(try YunGouOSCallback.orderKey(Self.yungouosRefundCallback()) == "T1001")
    }

    @Test("YunGouOS refund answers: refundStatus 0 processing (refundNo remembered), 1 refunded; refusals fail")
    func yungouosRefundAnswers() throws {
        let logger = AggregatorHarness.logger
        let taken = try YunGouOSAnswer.decode(
            Array(
                #"{"code":0,"msg":"退款申请成功","data":{"refundNo":"R1","outTradeRefundNo":"RF1","refundMoney":"0.10","refundStatus":0}}"#
                    .utf8),
            api: "refundOrder")
        #expect(
            try taken.refundOutcome(outRefundNo: "RF1", logger: logger) == .processing(memo: ["vendor_refund_no": "R1"])
        )
        let done = try YunGouOSAnswer.decode(
            Array(
                #"{"code":0,"data":{"refundNo":"R1","refundMoney":"0.10","refundStatus":1,"apiRefundTime":"2026-11-22 10:30:00"}}"#
                    .utf8),
            api: "getRefundResult")
        guard case .succeeded(let details) = try done.refundStatus(logger: logger) else {
            Issue.record("not refunded")
            return
        }
        #expect(details.amount == Money(fen: 10))
        let refused = try YunGouOSAnswer.decode(Array(#"{"code":1,"msg":"退款金额超过订单可退金额"}"#.utf8), api: "refundOrder")
        guard case .failed = try refused.refundOutcome(outRefundNo: "RF1", logger: logger) else {
            Issue.record("a refusal is not a failure")
            return
        }
    }
}
