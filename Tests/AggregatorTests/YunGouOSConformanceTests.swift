import Foundation
import Payments
import Testing
import YunGouOS

/// YunGouOS's parsers against `Fixtures/yungouos` (vendor page sample, SDK shapes, callbacks
/// signed with the demo key the PHP SDK publishes).
@Suite struct YunGouOSConformanceTests {
    static let vendor = "yungouos"
    /// Published in `YunGouOS-PHP-SDK/demo/notify.php` for both channels.
    static let demoKey = Secret("6BA371F4CFAB4465AA04DAEADBAC4161")
    static let outTradeNo = "R17200911248111"
    static let logger = AggregatorHarness.logger

    static func answer(_ body: [UInt8], api: String) -> (YunGouOSAnswer?, Parsed?) {
        do { return (try YunGouOSAnswer.decode(body, api: api), nil) } catch {
            return (nil, .channelError(error.code, error.message))
        }
    }

    /// The parser a fixture is for, by its name.
    static func parse(_ name: String, _ body: [UInt8], qrType: String? = nil, key: Secret = demoKey) -> Parsed {
        if name.hasPrefix("callback") {
            return Parsed.ofCallback { () throws(CallbackError) in try YunGouOSCallback.verify(body) { _ in key } }
        }
        let api =
            name.hasPrefix("nativepay")
            ? "nativePay" : name.hasPrefix("getpayorderinfo") ? "getPayOrderInfo" : "closeOrder"
        let (decoded, failure) = answer(body, api: api)
        guard let decoded else { return failure! }
        return Parsed.of { () throws(ChannelError) in
            switch api {
            case "nativePay":
                let type = qrType ?? (name.contains("type1") ? "1" : "2")
                return .created(try decoded.createOutcome(qrType: type, memo: [:], logger: logger))
            case "getPayOrderInfo": return .status(try decoded.tradeStatus(outTradeNo: outTradeNo, logger: logger))
            default: return .closed(try decoded.closeOutcome(logger: logger))
            }
        }
    }

    @Test func corpusHasEveryVariant() {
        let names = Fixtures.names(Self.vendor)
        #expect(names.count >= 5)
        for prefix in ["nativepay", "getpayorderinfo", "closeorder", "callback-wxpay", "callback-alipay"] {
            #expect(names.contains { $0.hasPrefix(prefix) }, "no \(prefix) fixture")
        }
    }

    /// Every parser meets every fixture: the right one understands it, the others end in a typed error or an outcome, never a trap.
    @Test func everyParserOnEveryFixture() throws {
        for name in Fixtures.names(Self.vendor) {
            let body = try Fixtures.bytes(Self.vendor, name)
            for api in ["nativePay", "getPayOrderInfo", "closeOrder"] {
                if let decoded = Self.answer(body, api: api).0 {
                    _ = Parsed.of { () throws(ChannelError) in
                        .created(try decoded.createOutcome(qrType: "1", memo: [:], logger: Self.logger))
                    }
                    _ = Parsed.of { () throws(ChannelError) in
                        .created(try decoded.createOutcome(qrType: "2", memo: [:], logger: Self.logger))
                    }
                    _ = Parsed.of { () throws(ChannelError) in
                        .status(try decoded.tradeStatus(outTradeNo: Self.outTradeNo, logger: Self.logger))
                    }
                    _ = Parsed.of { () throws(ChannelError) in .closed(try decoded.closeOutcome(logger: Self.logger)) }
                }
            }
            _ = Parsed.ofCallback { () throws(CallbackError) in try YunGouOSCallback.verify(body) { _ in Self.demoKey }
            }
            let own = Self.parse(name, body)
            #expect(!own.isError, "\(name): \(own)")
        }
    }

    @Test func nativePayAnswers() throws {
        let image = Self.parse(
            "nativepay-type2-success.json", try Fixtures.bytes(Self.vendor, "nativepay-type2-success.json"))
        #expect(
            image
                == .created(
                    .prepared(Prepared(qrImageURL: "http://images.yungouos.com/wxpay/native/code/1556529600703.png"))))
        // The seed's sample is a type=2 answer: read as type=1 it is not a weixin:// link.
        let wrongType = Self.parse(
            "nativepay-type2-success.json", try Fixtures.bytes(Self.vendor, "nativepay-type2-success.json"), qrType: "1"
        )
        #expect(wrongType.kind == "error bad_response")
        let link = Self.parse(
            "nativepay-type1-success.json", try Fixtures.bytes(Self.vendor, "nativepay-type1-success.json"))
        #expect(link == .created(.prepared(Prepared(codeURL: "weixin://wxpay/bizpayurl?pr=Cxh6bq5"))))
        guard
            case .created(.failed(let failure)) = Self.parse(
                "nativepay-failure.json", try Fixtures.bytes(Self.vendor, "nativepay-failure.json"))
        else {
            Issue.record("failure answer not a failed create")
            return
        }
        #expect(failure.code == "1")
    }

    @Test func queryAnswers() throws {
        let paid = PaymentDetails(
            transactionID: "Y194506551713811", amount: Money(fen: 1), vendorMerchantID: "1529637931")
        #expect(
            Self.parse("getpayorderinfo-paid.json", try Fixtures.bytes(Self.vendor, "getpayorderinfo-paid.json"))
                == .status(.succeeded(paid)))
        #expect(
            Self.parse(
                "getpayorderinfo-paid-mixed-types.json",
                try Fixtures.bytes(Self.vendor, "getpayorderinfo-paid-mixed-types.json")) == .status(.succeeded(paid)))
        #expect(
            Self.parse("getpayorderinfo-unpaid.json", try Fixtures.bytes(Self.vendor, "getpayorderinfo-unpaid.json"))
                == .status(.notPaid))
        // An answer about another order is never taken for this one.
        let decoded = try YunGouOSAnswer.decode(
            try Fixtures.bytes(Self.vendor, "getpayorderinfo-paid.json"), api: "getPayOrderInfo")
        #expect(throws: ChannelError.self) {
            try decoded.tradeStatus(outTradeNo: "SOMEOTHERORDER", logger: Self.logger)
        }
    }

    @Test func closeAnswers() throws {
        #expect(
            Self.parse("closeorder-success.json", try Fixtures.bytes(Self.vendor, "closeorder-success.json"))
                == .closed(.closed))
        #expect(
            Self.parse("closeorder-already-paid.json", try Fixtures.bytes(Self.vendor, "closeorder-already-paid.json"))
                == .closed(.alreadyPaid))
    }

    @Test(arguments: ["callback-wxpay.form", "callback-alipay.form", "callback-wxpay-wxpayno.form"])
    func callbacksVerifyWithThePublishedDemoKey(_ name: String) throws {
        let body = try Fixtures.bytes(Self.vendor, name)
        guard case .callback(let verified) = Self.parse(name, body) else {
            Issue.record("\(name) did not verify")
            return
        }
        #expect(verified.outTradeNo == Self.outTradeNo)
        #expect(verified.amount == Money(fen: 1))
        #expect(verified.vendorMerchantID == "1529637931")
        guard case .succeeded(let payment) = verified.status else {
            Issue.record("\(name) is not a payment")
            return
        }
        #expect(payment.transactionID == "Y194506551713811")
        #expect(payment.paidAt == ChinaTime.parse("2020-01-01 12:00:30", "yyyy-MM-dd HH:mm:ss"))
        #expect(
            Self.parse(name, body, key: Secret("0000000000000000000000000000000A")).kind
                == "callback error bad_signature")
        // The key is chosen by payChannel: an alipay callback with no alipay key configured is refused.
        let byChannel = Parsed.ofCallback { () throws(CallbackError) in
            try YunGouOSCallback.verify(body) { $0 == "alipay" ? nil : Self.demoKey }
        }
        #expect(name.contains("alipay") ? byChannel.kind == "callback error bad_signature" : !byChannel.isError)
    }

    /// Shape variants the vendor may send: an unknown member, numbers for strings and back, any member left out.
    @Test func toleratesEveryDocumentedShape() throws {
        for name in Fixtures.names(Self.vendor) where name.hasSuffix(".json") {
            var object = try Fixtures.object(Self.vendor, name)
            let expected = Self.parse(name, Fixtures.json(object))
            if case .object(var data)? = object["data"] {
                data[Fixtures.unknownMember.0] = Fixtures.unknownMember.1
                object["data"] = .object(Fixtures.numbersAsNumbers(data))
            }
            object[Fixtures.unknownMember.0] = Fixtures.unknownMember.1
            #expect(
                Self.parse(name, Fixtures.json(Fixtures.numbersAsNumbers(object))) == expected,
                "\(name) with numbers and an unknown member")
            try Self.eachMemberRemoved(name, expected: expected)
        }
    }

    /// With any one member removed, the answer still parses, or the error names that member.
    static func eachMemberRemoved(_ name: String, expected: Parsed) throws {
        let object = try Fixtures.object(vendor, name)
        var variants: [(String, [String: JSONValue])] = object.keys.map { member in
            (member, object.filter { $0.key != member })
        }
        if case .object(let data)? = object["data"] {
            for member in data.keys {
                var copy = object
                copy["data"] = .object(data.filter { $0.key != member })
                variants.append((member, copy))
            }
        }
        for (member, variant) in variants {
            let parsed = parse(name, Fixtures.json(variant))
            if let message = parsed.errorMessage {
                #expect(
                    message.contains("'\(member)'") || parsed.kind == expected.kind,
                    "\(name) without \(member): \(parsed)")
            }
        }
    }

    @Test func unmatchedMessagesAreCountedAndQueriedLater() throws {
        let metrics = RecordingMetrics.shared
        let dimensions = [("channel", "yungouos")]
        let before = metrics.value("payfleet_vendor_unmatched_messages_total", dimensions)
        let answer = try YunGouOSAnswer.decode(Array(#"{"code":1,"msg":"一个没有见过的答复"}"#.utf8), api: "nativePay")
        #expect(
            try answer.createOutcome(qrType: "1", memo: ["qr_type": "1"], logger: Self.logger)
                == .pending(.unknownResult, memo: ["qr_type": "1"]))
        do {
            _ = try answer.tradeStatus(outTradeNo: Self.outTradeNo, logger: Self.logger)
            Issue.record("an unexplained query failure was taken as an answer")
        } catch {
            #expect(error.isRetryable)
        }
        #expect(try answer.closeOutcome(logger: Self.logger) == nil)
        // (Other suites run alongside, so the count is at least the three made here.)
        #expect(metrics.value("payfleet_vendor_unmatched_messages_total", dimensions) >= before + 3)
        let known = try YunGouOSAnswer.decode(Array(#"{"code":1,"msg":"订单不存在"}"#.utf8), api: "getPayOrderInfo")
        #expect(try known.tradeStatus(outTradeNo: Self.outTradeNo, logger: Self.logger) == .notFound)
        #expect(YunGouOSMessages.table.meaning(of: "一个没有见过的答复") == nil)
    }
}
