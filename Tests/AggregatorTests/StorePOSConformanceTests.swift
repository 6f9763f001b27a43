import Foundation
import Payments
import StorePOS
import Testing

/// storepos's parsers against `Fixtures/storepos`: the vendor's own samples (seed 002 and
/// `554393109/CY-UnifiedPay-New`), whose placeholder signatures are replaced by a test key's.
@Suite struct StorePOSConformanceTests {
    static let vendor = "storepos"
    static let testKey = Secret("PAYFLEETSTOREPOSCONFORMANCEKEY00")
    static let logger = AggregatorHarness.logger

    static func method(_ name: String) -> String {
        name.hasPrefix("preorder")
            ? "PreOrder" : name.hasPrefix("orderquery") ? "orderquery" : name.hasPrefix("cancel") ? "cancel" : "notify"
    }

    static func resignedJSON(_ object: [String: JSONValue], uppercase: Bool = true) -> [UInt8] {
        Fixtures.json(
            Fixtures.resigned(object) { fields in
                let signature = StorePOSSigning.sign(fields, key: testKey)
                return uppercase ? signature : signature.lowercased()
            })
    }

    static func resignedForm(_ fields: [String: String], uppercase: Bool = true) -> [UInt8] {
        var fields = fields
        fields.removeValue(forKey: "sign")
        let signature = StorePOSSigning.sign(fields, key: testKey)
        fields["sign"] = uppercase ? signature : signature.lowercased()
        return Fixtures.formBody(fields)
    }

    /// The fixture re-signed with the test key (forms and JSON alike).
    static func resigned(_ name: String, uppercase: Bool = true) throws -> [UInt8] {
        if name.hasSuffix(".form") { return resignedForm(try Fixtures.form(vendor, name), uppercase: uppercase) }
        return resignedJSON(try Fixtures.object(vendor, name), uppercase: uppercase)
    }

    static func hasSign(_ name: String) throws -> Bool {
        if name.hasSuffix(".form") { return try Fixtures.form(vendor, name)["sign"] != nil }
        return try Fixtures.object(vendor, name)["sign"] != nil
    }

    /// The out_trade_no a fixture names (each sample names its own order).
    static func outTradeNo(_ body: [UInt8]) -> String {
        if let object = AnswerFields.object(body) {
            return AnswerFields(json: object, context: "").values["out_trade_no"] ?? "1497769914931"
        }
        return FormEncoding.decode(
            String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))?["out_trade_no"]
            ?? ""
    }

    /// The parser a fixture is for, by its name.
    static func parse(_ name: String, _ body: [UInt8], requireSign: Bool = true) -> Parsed {
        let method = method(name)
        if method == "notify" {
            return Parsed.ofCallback { () throws(CallbackError) in try StorePOSCallback.verify(body, key: testKey) }
        }
        let outTradeNo = outTradeNo(body)
        return Parsed.of { () throws(ChannelError) in
            let answer = try StorePOSAnswer.decode(body, method: method, key: testKey)
            switch method {
            case "PreOrder":
                return .created(
                    try answer.createOutcome(outTradeNo: outTradeNo, memo: [:], requireSign: false, logger: logger))
            case "orderquery": return .status(try answer.tradeStatus(outTradeNo: outTradeNo, requireSign: requireSign))
            default: return .closed(try answer.cancelOutcome())
            }
        }
    }

    @Test func corpusHasEveryVariant() {
        let names = Fixtures.names(Self.vendor)
        #expect(names.count >= 5)
        for prefix in [
            "preorder-wechat", "preorder-alipay", "preorder-ecny", "preorder-need-query", "orderquery-paid",
            "orderquery-paying",
            "orderquery-notfound", "cancel", "notify-wechat", "notify-alipay", "notify-ecny",
        ] {
            #expect(names.contains { $0.hasPrefix(prefix) }, "no \(prefix) fixture")
        }
    }

    /// The placeholder `sign` of the samples is refused; re-signed, every fixture is understood by its
    /// parser whichever hex case the digest is in, and every other parser ends in a typed result.
    @Test func everyParserOnEveryFixture() throws {
        for name in Fixtures.names(Self.vendor) {
            let published = try Fixtures.bytes(Self.vendor, name)
            if try Self.hasSign(name) {
                let asPublished = Self.parse(name, published)
                #expect(
                    asPublished.kind == "error bad_response" || asPublished.kind == "callback error bad_signature",
                    "\(name): \(asPublished)")
            }
            let upper = Self.parse(name, try Self.resigned(name))
            let lower = Self.parse(name, try Self.resigned(name, uppercase: false))
            #expect(upper == lower, "\(name)")
            #expect(!upper.isError, "\(name): \(upper)")
            let body = try Self.resigned(name)
            for method in ["PreOrder", "orderquery", "cancel"] {
                _ = Parsed.of { () throws(ChannelError) in
                    let answer = try StorePOSAnswer.decode(body, method: method, key: Self.testKey)
                    _ = try? answer.createOutcome(outTradeNo: "1497769914931", memo: [:], logger: Self.logger)
                    _ = try? answer.tradeStatus(outTradeNo: "1497769914931")
                    return .closed(try answer.cancelOutcome())
                }
            }
            _ = Parsed.ofCallback { () throws(CallbackError) in try StorePOSCallback.verify(body, key: Self.testKey) }
        }
    }

    @Test func preOrderAnswers() throws {
        // The vendor's PreOrder samples are unsigned (the v2 response table lists no sign): accepted as published.
        guard
            case .created(.prepared(let wechat)) = Self.parse(
                "preorder-wechat-jspay.json", try Fixtures.bytes(Self.vendor, "preorder-wechat-jspay.json"))
        else {
            Issue.record("WeChat sample not prepared")
            return
        }
        #expect(wechat.payParameters["package"] == "prepay_id=wx2017112917262941a3a33e980001282756")
        #expect(wechat.payParameters["paySign"] == "CD871BCD09B3D0C6339B2D0DE72DE7EE")
        // pay_info is passed on as the vendor signed it: its 13-digit timeStamp is part of paySign.
        #expect(wechat.payParameters["timeStamp"] == "1511947589427")
        #expect(wechat.payParameters["token_id"] == "16c5f40274e084b123a08f1313d53da57")
        let alipay = Self.parse(
            "preorder-alipay-native.json", try Fixtures.bytes(Self.vendor, "preorder-alipay-native.json"))
        #expect(
            alipay
                == .created(
                    .prepared(
                        Prepared(
                            codeURL: "https://qr.alipay.com/bax04486r0vgbxds3h55805a",
                            qrImageURL:
                                "https://pay.storepos.cn/pay/qrcode?uuid=https%3A%2F%2Fqr.alipay.com%2Fbax04486r0vgbxds3h55805a"
                        ))))
        let ecny = Self.parse("preorder-ecny-native.json", try Fixtures.bytes(Self.vendor, "preorder-ecny-native.json"))
        #expect(
            ecny
                == .created(
                    .prepared(Prepared(codeURL: "https://qr.pbcdci.cn/004043112022083115224300703035700000004"))))
        #expect(
            Self.parse("preorder-need-query.json", try Fixtures.bytes(Self.vendor, "preorder-need-query.json"))
                == .created(.pending(.needQuery, memo: [:])))
        #expect(
            Self.parse("preorder-system-error.json", try Fixtures.bytes(Self.vendor, "preorder-system-error.json"))
                == .created(.pending(.unknownResult, memo: [:])))
        // A merchant that insists on signed PreOrder answers refuses the unsigned sample, naming the field.
        let strict = try StorePOSAnswer.decode(
            try Fixtures.bytes(Self.vendor, "preorder-ecny-native.json"), method: "PreOrder", key: Self.testKey)
        do {
            _ = try strict.createOutcome(outTradeNo: "1523265111702", memo: [:], requireSign: true, logger: Self.logger)
            Issue.record("unsigned answer accepted under require_preorder_sign")
        } catch {
            #expect(error.message.contains("'sign'"))
        }
    }

    @Test func queryAndCancelAnswers() throws {
        // base_fee (the order amount) is the amount, not total_fee (paid after a 2-fen voucher).
        let paid = PaymentDetails(
            transactionID: "4200000334201905246610520000", amount: Money(fen: 4),
            paidAt: ChinaTime.parse("20190524103044", "yyyyMMddHHmmss"), vendorMerchantID: "00000001")
        #expect(
            Self.parse("orderquery-paid.json", try Self.resigned("orderquery-paid.json")) == .status(.succeeded(paid)))
        #expect(
            Self.parse("orderquery-paying.json", try Fixtures.bytes(Self.vendor, "orderquery-paying.json"))
                == .status(.paying))
        #expect(
            Self.parse("orderquery-closed.json", try Fixtures.bytes(Self.vendor, "orderquery-closed.json"))
                == .status(.closed))
        #expect(
            Self.parse("orderquery-notfound.json", try Fixtures.bytes(Self.vendor, "orderquery-notfound.json"))
                == .status(.notFound))
        #expect(Self.parse("cancel-success.json", try Self.resigned("cancel-success.json")) == .closed(.closed))
        // A paid query answer without its sign is refused by default ("仅业务正确时返回签名").
        var unsigned = try Fixtures.object(Self.vendor, "orderquery-paid.json")
        unsigned.removeValue(forKey: "sign")
        #expect(Self.parse("orderquery-paid.json", Fixtures.json(unsigned)).errorMessage?.contains("'sign'") == true)
        #expect(
            Self.parse("orderquery-paid.json", Fixtures.json(unsigned), requireSign: false) == .status(.succeeded(paid))
        )
    }

    @Test(arguments: [
        "notify-wechat.form", "notify-alipay-encoded.form", "notify-alipay-seed.form", "notify-ecny.form",
    ])
    func callbacks(_ name: String) throws {
        guard case .callback(let verified) = Self.parse(name, try Self.resigned(name)) else {
            Issue.record("\(name) did not verify")
            return
        }
        #expect(verified.amount == Money(fen: 1))
        guard case .succeeded(let payment) = verified.status else {
            Issue.record("\(name) is not a payment")
            return
        }
        #expect(!payment.transactionID.isEmpty)
        #expect(payment.paidAt != nil)
        if name.contains("alipay") {
            #expect(verified.fields["buyer_logon_id"] == "13800000000@qq.com")
            #expect(verified.fields["fund_bill_list"] == #"[{"amount":"0.01","fundChannel":"ALIPAYACCOUNT"}]"#)
        }
        // A changed amount breaks the signature.
        var fields = try #require(FormEncoding.decode(String(decoding: try Self.resigned(name), as: UTF8.self)))
        fields["total_fee"] = "100"
        #expect(Self.parse(name, Fixtures.formBody(fields)).kind == "callback error bad_signature")
    }

    /// Shape variants: numbers for strings, an unknown member, any member left out.
    @Test func toleratesEveryDocumentedShape() throws {
        for name in Fixtures.names(Self.vendor) where name.hasSuffix(".json") {
            let original = try Fixtures.object(Self.vendor, name)
            let expected = Self.parse(name, Self.resignedJSON(original))
            var variant = Fixtures.numbersAsNumbers(original)
            variant[Fixtures.unknownMember.0] = Fixtures.unknownMember.1
            #expect(
                Self.parse(name, Self.resignedJSON(variant)) == expected, "\(name) with numbers and an unknown member")
            for member in original.keys where member != "sign" {
                let parsed = Self.parse(name, Self.resignedJSON(original.filter { $0.key != member }))
                if let message = parsed.errorMessage, parsed.kind != expected.kind {
                    #expect(message.contains(member), "\(name) without \(member): \(parsed)")
                }
            }
        }
        for name in Fixtures.names(Self.vendor) where name.hasSuffix(".form") {
            let original = try Fixtures.form(Self.vendor, name)
            let expected = Self.parse(name, Self.resignedForm(original))
            for member in original.keys where member != "sign" {
                let parsed = Self.parse(name, Self.resignedForm(original.filter { $0.key != member }))
                if let message = parsed.errorMessage, parsed.kind != expected.kind {
                    #expect(message.contains(member), "\(name) without \(member): \(parsed)")
                }
            }
        }
    }
}
