import Foundation
import Leshouying
import Payments
import Testing

/// 乐收赢's parsers against `Fixtures/leshouying` (the documented shapes with the vendor's own
/// example values), verified with the test key 乐收赢 publishes for inst_no 900112.
@Suite struct LeshouyingConformanceTests {
    static let vendor = "leshouying"
    /// 接入指引 https://www.showdoc.com.cn/leshouying/10788371225650114 (inst_no 900112).
    static let publishedKey = Secret("1c4d83f0c3c24a7d9fcaa1fed2682076")
    static let traceNo = "51c7d68424e5492199cf7f4734a2b977"
    static let logger = AggregatorHarness.logger

    static func resigned(
        _ name: String, uppercase: Bool = false, change: (inout [String: JSONValue]) -> Void = { _ in }
    ) throws -> [UInt8] {
        var object = try Fixtures.object(vendor, name)
        change(&object)
        return Fixtures.json(
            Fixtures.resigned(object) { LeshouyingSigning.sign($0, key: publishedKey, uppercase: uppercase) })
    }

    static func api(_ name: String) -> String {
        name.hasPrefix("minipay")
            ? "minipay"
            : name.hasPrefix("queryorder") ? "queryorder" : name.hasPrefix("closeorder") ? "closeorder" : "notify"
    }

    /// The parser a fixture is for, by its name.
    static func parse(
        _ name: String, _ body: [UInt8], pluginMode: Bool? = nil, truncate: Bool = true, successMeansClosed: Bool = true
    ) -> Parsed {
        let api = api(name)
        if api == "notify" {
            return Parsed.ofCallback { () throws(CallbackError) in
                try LeshouyingCallback.verify(body, key: publishedKey)
            }
        }
        return Parsed.of { () throws(ChannelError) in
            let answer = try LeshouyingAnswer.decode(body, api: api, key: publishedKey)
            switch api {
            case "minipay":
                let payType = answer.fields["pay_type"] ?? "400"
                return .created(
                    try answer.createOutcome(
                        outTradeNo: traceNo, payType: payType, pluginMode: pluginMode ?? name.contains("plugin"),
                        memo: [:],
                        truncateMilliseconds: truncate, logger: logger))
            case "queryorder": return .status(try answer.tradeStatus(outTradeNo: traceNo, logger: logger))
            default: return .closed(try answer.closeOutcome(successMeansClosed: successMeansClosed, logger: logger))
            }
        }
    }

    @Test func corpusHasEveryVariant() {
        let names = Fixtures.names(Self.vendor)
        #expect(names.count >= 5)
        for prefix in [
            "minipay-wechat", "minipay-alipay", "minipay-plugin", "minipay-fail", "queryorder-paid",
            "queryorder-in-process",
            "queryorder-fail", "closeorder", "notify",
        ] {
            #expect(names.contains { $0.hasPrefix(prefix) }, "no \(prefix) fixture")
        }
    }

    /// The documents' example `sign` does not verify; the payload re-signed with the published key
    /// verifies whichever hex case the digest is in.
    @Test func everyFixtureVerifiesInEitherDigestCase() throws {
        for name in Fixtures.names(Self.vendor) {
            let original = try Fixtures.object(Self.vendor, name)
            if original["sign"] != nil {
                let asPublished = Self.parse(name, try Fixtures.bytes(Self.vendor, name))
                #expect(
                    asPublished.kind == "error bad_response" || asPublished.kind == "callback error bad_signature",
                    "\(name): \(asPublished)")
            }
            let lower = Self.parse(name, try Self.resigned(name))
            let upper = Self.parse(name, try Self.resigned(name, uppercase: true))
            #expect(lower == upper, "\(name)")
            if name != "minipay-fail.json" { #expect(!lower.isError, "\(name): \(lower)") }
            // Every parser meets the fixture: typed outcomes or typed errors, never a trap.
            let body = try Self.resigned(name)
            for api in ["minipay", "queryorder", "closeorder"] {
                _ = Parsed.of { () throws(ChannelError) in
                    let answer = try LeshouyingAnswer.decode(body, api: api, key: Self.publishedKey)
                    _ = try? answer.createOutcome(
                        outTradeNo: Self.traceNo, payType: "400", pluginMode: true, memo: [:], logger: Self.logger)
                    _ = try? answer.createOutcome(
                        outTradeNo: Self.traceNo, payType: "300", pluginMode: false, memo: [:], logger: Self.logger)
                    _ = try? answer.tradeStatus(outTradeNo: Self.traceNo, logger: Self.logger)
                    return .closed(try answer.closeOutcome(logger: Self.logger))
                }
            }
            _ = Parsed.ofCallback { () throws(CallbackError) in
                try LeshouyingCallback.verify(body, key: Self.publishedKey)
            }
        }
    }

    @Test func minipayAnswers() throws {
        let memo = ["trade_no": "20000002814118090716435200001"]
        let wechat = Prepared(
            payParameters: [
                "appId": "wxa0000000000000a0", "timeStamp": "1414561699", "nonceStr": "1234",
                "package": "prepay_id=123456789",
                "signType": "MD5", "paySign": "C380BEC2BFD727A4B6845133519F3AD6",
            ], vendorOrderID: "20000002814118090716435200001", memo: memo)
        #expect(
            Self.parse("minipay-wechat.json", try Self.resigned("minipay-wechat.json")) == .created(.prepared(wechat)))
        // Milliseconds are cut to seconds ("需要转换成秒"), unless the merchant asks for them to be refused.
        let millis = try Self.resigned("minipay-wechat-millis-numbers.json")
        #expect(Self.parse("minipay-wechat-millis-numbers.json", millis) == .created(.prepared(wechat)))
        #expect(
            Self.parse("minipay-wechat-millis-numbers.json", millis, truncate: false).errorMessage?.contains(
                "'timeStamp'") == true)
        let alipay = Self.parse("minipay-alipay.json", try Self.resigned("minipay-alipay.json"))
        #expect(
            alipay
                == .created(
                    .prepared(
                        Prepared(
                            payParameters: ["tradeNO": "2018111622001400000000000001"],
                            vendorOrderID: "20000002814118090716435200001", memo: memo))))
        let refused = Self.parse("minipay-fail.json", try Fixtures.bytes(Self.vendor, "minipay-fail.json"))
        #expect(refused.kind == "error vendor_rejected", "\(refused)")
    }

    /// Plug-in mode (`attach=assPost`): `miniapp_data` is what the payer needs, and it makes the order prepared.
    @Test func pluginModeKeepsMiniappData() throws {
        let body = try Self.resigned("minipay-plugin-asspost.json")
        guard case .created(.prepared(let prepared)) = Self.parse("minipay-plugin-asspost.json", body) else {
            Issue.record("plug-in answer not prepared")
            return
        }
        let miniapp = try #require(prepared.payParameters["miniapp_data"])
        #expect(miniapp.contains("/pages/cashier/cashier?p=20000002814118090716435200001"))
        #expect(prepared.payParameters["paySign"] == nil)
        #expect(prepared.vendorOrderID == "20000002814118090716435200001")
        // The same answer for an order that did not ask for the plug-in is still in progress, not payable.
        #expect(
            Self.parse("minipay-plugin-asspost.json", body, pluginMode: false)
                == .created(.pending(.userPaying, memo: ["trade_no": "20000002814118090716435200001"])))
    }

    @Test func queryAnswers() throws {
        let paid = PaymentDetails(
            transactionID: "20000002814118090716435200001", amount: Money(fen: 100),
            paidAt: ChinaTime.parse("20181116155700", "yyyyMMddHHmmss"), vendorMerchantID: "Y52211090004")
        #expect(
            Self.parse("queryorder-paid.json", try Self.resigned("queryorder-paid.json")) == .status(.succeeded(paid)))
        #expect(
            Self.parse("queryorder-in-process.json", try Self.resigned("queryorder-in-process.json"))
                == .status(.paying))
        #expect(
            Self.parse("queryorder-fail.json", try Self.resigned("queryorder-fail.json"))
                == .status(.failed(VendorFailure(code: "PAY_FAIL", message: "支付失败"))))
        let closedMessage = try Self.resigned("queryorder-fail.json") { $0["return_msg"] = .string("订单已关闭") }
        #expect(Self.parse("queryorder-fail.json", closedMessage) == .status(.closed))
    }

    @Test func closeAnswers() throws {
        let body = try Self.resigned("closeorder-success.json")
        #expect(Self.parse("closeorder-success.json", body) == .closed(.closed))
        // `close_success: query`: the answer is confirmed by a query before the order is called closed.
        #expect(Self.parse("closeorder-success.json", body, successMeansClosed: false) == .closed(nil))
        let paid = try Self.resigned("closeorder-success.json") {
            $0["result_code"] = .string("PAY_FAIL")
            $0["return_msg"] = .string("订单已支付，不能关闭")
        }
        #expect(Self.parse("closeorder-success.json", paid) == .closed(.alreadyPaid))
        let unexplained = try Self.resigned("closeorder-success.json") {
            $0["result_code"] = .string("PAY_FAIL")
            $0["return_msg"] = .string("一个没有见过的答复")
        }
        #expect(Self.parse("closeorder-success.json", unexplained) == .closed(nil))
    }

    @Test(arguments: ["notify-pay-success.json", "notify-pay-success-numbers.json"])
    func callbacks(_ name: String) throws {
        for uppercase in [false, true] {
            guard case .callback(let verified) = Self.parse(name, try Self.resigned(name, uppercase: uppercase)) else {
                Issue.record("\(name) did not verify")
                return
            }
            #expect(verified.outTradeNo == Self.traceNo)
            #expect(verified.amount == Money(fen: 100))
            #expect(verified.vendorMerchantID == "Y52211090004")
            guard case .succeeded(let payment) = verified.status else {
                Issue.record("not a payment")
                return
            }
            #expect(payment.transactionID == "20000002814118090716435200001")
        }
        let forged = try Self.resigned(name) { $0["total_amount"] = .string("1") }
        var tampered = try #require(AnswerFields.object(forged))
        tampered["total_amount"] = .string("100")
        #expect(Self.parse(name, Fixtures.json(tampered)).kind == "callback error bad_signature")
    }

    /// Shape variants: an unknown member, numbers for strings, any member left out.
    @Test func toleratesEveryDocumentedShape() throws {
        for name in Fixtures.names(Self.vendor) {
            let original = try Fixtures.object(Self.vendor, name)
            let signed = { (object: [String: JSONValue]) -> [UInt8] in
                Fixtures.json(Fixtures.resigned(object) { LeshouyingSigning.sign($0, key: Self.publishedKey) })
            }
            let unsigned = original["sign"] == nil
            let body = { (object: [String: JSONValue]) -> [UInt8] in unsigned ? Fixtures.json(object) : signed(object) }
            let expected = Self.parse(name, body(original))
            var variant = Fixtures.numbersAsNumbers(original)
            variant[Fixtures.unknownMember.0] = Fixtures.unknownMember.1
            // (A verified callback keeps every member it got, so callbacks compare by outcome.)
            #expect(Self.parse(name, body(variant)).sameOutcome(expected), "\(name) with numbers and an unknown member")
            for member in original.keys {
                let parsed = Self.parse(name, body(original.filter { $0.key != member }))
                if let message = parsed.errorMessage, parsed.kind != expected.kind {
                    #expect(
                        message.contains("'\(member)'") || message.contains(member),
                        "\(name) without \(member): \(parsed)")
                }
            }
        }
    }
}
