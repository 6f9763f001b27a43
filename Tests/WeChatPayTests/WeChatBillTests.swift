import Foundation
import Payments
import Testing
import Zlib

@testable import WeChatPay

/// WeChat's trade bill: the parser on SDK samples, v2 `downloadbill` and the APIv3 trade bill
/// against the sandbox.
@Suite(.timeLimit(.minutes(2))) struct WeChatBillTests {
    static let day = BillDate("2019-07-25")!

    /// WxJava `weixin-java-pay/src/test/java/com/github/binarywang/wxpay/bean/result/WxPayBillResultTest.java`
    /// `PAY_BILL_RESULT_ALL_CONTENT` (verbatim).
    static let wxJavaAll =
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n"
        + "`2019-07-25 08:35:41,`WWWW,`XXXXXXXX,`0,`,`XXXXXXXXXXXXX,`XXXXXXXXXX,`XXXXXXXXXXX,`JSAPI,`SUCCESS,`PSBC_DEBIT,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,`XXXXXX,`XXXXXXX,`0.04000,`0.60%,`6.00,`0.00,`\n"
        + "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
        + "`48,`5.76,`1.42,`0.00,`0.01000,`5.76,`1.42\n"

    /// The same file's `PAY_BILL_RESULT_REFUND_CONTENT` (verbatim).
    static let wxJavaRefund =
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n"
        + "`2019-07-23 20:53:36,`xxx,`xxx,`xxx,`,`xxx,`xxxx,`xxxxx,`JSAPI,`REFUND,`CFT,`CNY,`0.00,`0.00,`2019-07-23 20:53:36,`2019-07-23 20:53:40,`xxxx,`xxx,`0.01,`0.00,`ORIGINAL,`SUCCESS,`xxxx,`xxxx,`0.00000,`0.60%,`0.00,`0.01,`\n"
        + "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
        + "`4,`0.00,`2.02,`0.00,`-0.02000,`0.00,`2.02"

    /// The same file's `PAY_BILL_RESULT_ALL_CONTENT_1` first line: the older layout (`总金额`, `子商户号`).
    static let wxJavaOldLayout =
        "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率\n"
        + "`2014-11-10 16：33：45,`wx2421b1c4370ec43b,`10000100,`0,`1000,`1001690740201411100005734289,`1415640626,`085e9858e3ba5186aafcbaed1,`MICROPAY,`SUCCESS,`OTHERS,`CNY,`0.01,`0.0,`0,`0,`0,`0,`,`,`被扫支付测试,`订单额外描述,`0,`0.60%\n"

    @Test func wxJavaSamples() throws {
        let all = try WeChatBill.parse(Array(Self.wxJavaAll.utf8), channel: .wechatV2, date: Self.day)
        #expect(
            all.rows == [
                VendorBillRow(
                    status: .paid, outTradeNo: "XXXXXXXXXX", transactionID: "XXXXXXXXXXXXX", amount: Money(fen: 600),
                    time: ChinaTime.parse("2019-07-25 08:35:41", "yyyy-MM-dd HH:mm:ss"), vendorStatus: "SUCCESS")
            ])
        let refund = try WeChatBill.parse(Array(Self.wxJavaRefund.utf8), channel: .wechatV2, date: Self.day)
        #expect(refund.rows.count == 1)
        #expect(refund.rows[0].status == .refunded)
        #expect(refund.rows[0].outTradeNo == "xxxx")
        #expect(refund.rows[0].outRefundNo == "xxx")
        #expect(refund.rows[0].amount == Money(fen: 1))
        #expect(refund.rows[0].vendorStatus == "REFUND/SUCCESS")
        let old = try WeChatBill.parse(Array(Self.wxJavaOldLayout.utf8), channel: .wechatV2, date: Self.day)
        #expect(old.rows.map(\.outTradeNo) == ["1415640626"])
        #expect(old.rows.map(\.amount) == [Money(fen: 1)])
        #expect(old.rows[0].time == nil)  // full-width colons: no time, still a row
    }

    @Test func malformedBillsAreErrors() {
        let header = "交易时间,微信订单号,商户订单号,交易状态,订单金额\n"
        for body in [
            header + "`2019-07-25 08:35:41,`42,`A1,`SUCCESS,`6.001\n",  // three decimals
            header + "`2019-07-25 08:35:41,`42,`,`SUCCESS,`6.00\n",  // no out_trade_no
            "交易时间,微信订单号,交易状态\n`x,`y,`SUCCESS\n",  // no 商户订单号 column
        ] {
            #expect(throws: BillError.self) {
                try WeChatBill.parse(Array(body.utf8), channel: .wechatV2, date: Self.day)
            }
        }
        #expect(throws: BillError.self) {
            try WeChatBill.parse([0xFF, 0xFE, 0x00], channel: .wechatV2, date: Self.day)
        }
        // Unpaid and still-processing refund lines move no money.
        let quiet =
            header.replacingOccurrences(of: "订单金额\n", with: "订单金额,退款状态,退款金额\n")
            + "`2019-07-25 08:35:41,`42,`A1,`NOTPAY,`6.00,`,`0.00\n"
            + "`2019-07-25 08:35:41,`42,`A2,`REFUND,`0.00,`PROCESSING,`1.00\n"
        #expect((try? WeChatBill.parse(Array(quiet.utf8), channel: .wechatV2, date: Self.day).rows.isEmpty) == true)
    }

    @Test func v2DownloadbillAnswers() throws {
        let gz = VendorHTTPResponse(status: 200, headers: [:], body: Gzip.compress(Array(Self.wxJavaAll.utf8)))
        #expect(try WeChatV2Channel.bill(gz, date: Self.day).rows.count == 1)
        func xml(_ message: String) -> VendorHTTPResponse {
            VendorHTTPResponse(
                status: 200, headers: [:],
                body: Array(
                    "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[\(message)]]></return_msg></xml>"
                        .utf8))
        }
        #expect(try WeChatV2Channel.bill(xml("No Bill Exist"), date: Self.day).rows.isEmpty)
        #expect(throws: BillError.notAvailable("WeChat v2: Bill Creating (账单未生成)")) {
            try WeChatV2Channel.bill(xml("Bill Creating"), date: Self.day)
        }
        #expect(throws: BillError.self) { try WeChatV2Channel.bill(xml("SIGN ERROR"), date: Self.day) }
        #expect(throws: BillError.self) {
            try WeChatV2Channel.bill(
                VendorHTTPResponse(status: 200, headers: [:], body: [0x1F, 0x8B, 1, 2, 3]), date: Self.day)
        }
    }

    @Test func v2AndV3BillsFromTheSandbox() async throws {
        try await SandboxHarness.with { harness in
            let v2 = try WeChatV2SandboxTests.channel(harness)
            let order = WeChatV2SandboxTests.order(harness, fen: 1990)
            let unpaid = WeChatV2SandboxTests.order(harness, fen: 1990)
            _ = try await v2.create(order)
            _ = try await v2.create(unpaid)
            let today = BillDate(containing: Date())
            // Nothing paid yet: WeChat answers "No Bill Exist", an empty bill.
            #expect(try await v2.downloadBill(date: today).rows.isEmpty)
            #expect(try await harness.pay(.wechatV2, order.outTradeNo) == 200)
            let bill = try await v2.downloadBill(date: today)
            #expect(bill.rows.map(\.outTradeNo) == [order.outTradeNo])
            #expect(bill.rows.first?.amount == Money(fen: 1990))
            #expect(bill.rows.first?.status == .paid)
            await #expect(throws: BillError.notAvailable("WeChat v2: Bill Creating (账单未生成)")) {
                try await v2.downloadBill(date: BillDate("2001-05-01")!)
            }

            let v3 = try WeChatCombineSandboxTests.channel(harness)
            let combine = WeChatCombineSandboxTests.order(harness, fen: [70, 30])
            _ = try await v3.create(combine)
            _ = try await harness.pay(.wechatV3Combine, combine.outTradeNo)
            let combineBill = try await v3.downloadBill(date: today)
            #expect(
                combineBill.rows.filter { $0.status == .paid }.map(\.amount).sorted() == [
                    Money(fen: 30), Money(fen: 70),
                ])
            #expect(combineBill.rows.allSatisfy { $0.outTradeNo.hasPrefix(combine.outTradeNo) })
        }
    }
}
