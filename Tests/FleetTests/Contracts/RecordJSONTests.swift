import Foundation
import Payments
import Testing

@testable import Fleet

/// The hand-written record JSON (``RecordJSONWriter``) is byte for byte what `JSONEncoder` writes
/// for the same values, so records written before and after it are identical and consumers see no
/// difference.
@Suite("Record JSON")
struct RecordJSONTests {
    /// Strings that exercise every escape rule: quotes, backslashes, slashes, control characters,
    /// DEL, non-ASCII, line separators and emoji.
    static let awkward = [
        "", "plain", "a/b", "quote \" and back\\slash", "\u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f}\u{7f}",
        "咖啡 ¥9.90", "emoji 😀 \u{2028}\u{2029}", "https://pay.example/qr?x=1&y=2",
    ]

    static func fullState(_ text: String) -> OrderState {
        var state = OrderState(
            outTradeNo: "order-\(text)", merchant: "shop \(text)", channel: .wechatV2, amount: Money(fen: 990),
            description: text, attach: text, clientIP: "127.0.0.1",
            options: [
                "openid": .string(text), "n": .integer(-7), "flag": .bool(true), "none": .null,
                "list": .array([.string(text), .integer(1)]), "nested": .object(["Zeta": .string(text), "a_b": .null]),
            ],
            createdAt: Date(timeIntervalSince1970: 1_795_314_600.123),
            expiresAt: Date(timeIntervalSince1970: 1_795_321_800),
            requestDigest: "dd")
        state.status = .succeeded
        state.memo = ["trade_no": text, "B": "b", "a": "a"]
        state.prepared = .init(
            codeURL: "weixin://wxpay/\(text)", qrImageURL: nil,
            payParameters: ["appId": "wx1", "timeStamp": "1", "package": "prepay_id=\(text)"], vendorOrderID: text)
        state.pendingReason = "need_query"
        state.pendingSince = Date(timeIntervalSince1970: 1_795_314_601)
        state.payment = .init(
            transactionID: "T\(text)", amountFen: 990, paidAt: Date(timeIntervalSince1970: 1_795_314_700.5),
            vendorMerchantID: "mch",
            subPayments: [
                .init(
                    outTradeNo: "s1", vendorMerchantID: "m1", transactionID: nil, amountFen: 1, tradeState: "SUCCESS"),
                .init(outTradeNo: "s2", vendorMerchantID: "m2", transactionID: "t2", amountFen: 2, tradeState: text),
            ])
        state.failure = VendorFailure(code: "X", message: text)
        state.closedAt = Date(timeIntervalSince1970: 1_795_314_800)
        state.closeReason = "expired"
        state.closedAtVendor = false
        state.terminalAt = Date(timeIntervalSince1970: 1_795_314_900)
        state.createAttempts = 2
        state.closeAttempts = 1
        state.pendingQueries = 3
        state.fallbackQueries = 4
        state.retryAttempt = 5
        state.lastQueryAt = Date(timeIntervalSince1970: 1_795_314_950)
        state.lastAnomalyQueryAt = Date(timeIntervalSince1970: 1_795_314_960)
        state.closeRequested = true
        state.revision = 12
        return state
    }

    @Test("an order-state record is what JSONEncoder writes, with every field set and with none", arguments: awkward)
    func orderState(_ text: String) throws {
        let full = Self.fullState(text)
        #expect(full.encodedJSON() == full.encodedWithJSONEncoder())
        // Read back and written again: the same bytes (times are kept to the millisecond).
        #expect(try OrderState.decodeJSON(full.encodedJSON()).encodedJSON() == full.encodedJSON())
        let minimal = OrderState(
            outTradeNo: text, merchant: "m", channel: .storepos, amount: Money(fen: 1), description: text,
            createdAt: Date(timeIntervalSince1970: 0), expiresAt: Date(timeIntervalSince1970: 1), requestDigest: "")
        #expect(minimal.encodedJSON() == minimal.encodedWithJSONEncoder())
    }

    @Test("an order-state record with refunds keeps them, byte for byte what JSONEncoder writes")
    func orderStateWithRefunds() throws {
        var state = Self.fullState("refund")
        state.refunds = [
            .init(
                outRefundNo: "R1", amountFen: 500, reason: "退货", digest: "d1",
                requestedAt: Date(timeIntervalSince1970: 1_795_315_000), status: .succeeded,
                memo: ["refund_no": "v1"], vendorRefundIDs: ["v1"], refundedFen: 500,
                refundedAt: Date(timeIntervalSince1970: 1_795_315_100),
                terminalAt: Date(timeIntervalSince1970: 1_795_315_100)),
            .init(
                outRefundNo: "R2", amountFen: 490, reason: nil, digest: "d2",
                requestedAt: Date(timeIntervalSince1970: 1_795_315_200)),
        ]
        let bytes = state.encodedJSON()
        #expect(bytes == state.encodedWithJSONEncoder())
        let decoded = try OrderState.decodeJSON(bytes)
        #expect(decoded.refunds.map(\.outRefundNo) == ["R1", "R2"])
        #expect(decoded.refunds.first?.refundedFen == 500)
    }

    @Test("a timer job is what JSONEncoder writes (slashes escaped, as before)", arguments: awkward)
    func timerJob(_ text: String) {
        for reason in TimerJob.Reason.allCases {
            let job = TimerJob(
                job: .query, outTradeNo: "o/\(text)", merchant: text, channel: "wechat-v2",
                dueAt: Date(timeIntervalSince1970: 1_795_314_600.25), reason: reason, attempt: 3)
            #expect(job.value == job.valueWithJSONEncoder)
        }
        // A refund timer names its refund; the worker finds the refund by it.
        let refundJob = TimerJob(
            job: .query, outTradeNo: "o/\(text)", merchant: text, channel: "wechat-v3-combine",
            dueAt: Date(timeIntervalSince1970: 1_795_314_600.25), reason: .refund, attempt: 1,
            outRefundNo: "R/\(text)")
        #expect(refundJob.value == refundJob.valueWithJSONEncoder)
        #expect((try? TimerJob.decode(refundJob.value))?.outRefundNo == "R/\(text)")
    }

    @Test(
        "event data is what JSONEncoder writes; a floating-point number falls back to JSONEncoder", arguments: awkward)
    func eventData(_ text: String) {
        let event = PaymentEvent(
            kind: .prepared, outTradeNo: "o", discriminator: "d", time: Date(timeIntervalSince1970: 0),
            data: [
                "code_url": .string("weixin://\(text)"), "amount_fen": .integer(Int64.min), "ok": .bool(false),
                "pay_parameters": .object(["paySign": .string(text), "timeStamp": .string("1")]), "none": .null,
                "list": .array([]), "empty": .object([:]),
            ])
        #expect(event.value == event.valueWithJSONEncoder)
        var withNumber = event
        withNumber.data["ratio"] = .number(0.1)
        #expect(withNumber.value == withNumber.valueWithJSONEncoder)
    }

    @Test(
        "the canonical request digest is unchanged (non-ASCII keys and numbers go through JSONEncoder)",
        arguments: awkward)
    func canonicalDigest(_ text: String) {
        let values: [JSONValue] = [
            .object([
                "out_trade_no": .string(text), "amount_fen": .integer(990),
                "options": .object(["openid": .string(text)]),
            ]),
            .object(["键": .string(text), "key": .null]),
            .object(["amount": .number(9.9), "b": .bool(true)]),
            .array([.string(text)]),
        ]
        for value in values {
            #expect(
                ContentDigest.canonical(value)
                    == ContentDigest.sha256Hex(Array(ContentDigest.canonicalWithJSONEncoder(value))))
        }
    }
}
