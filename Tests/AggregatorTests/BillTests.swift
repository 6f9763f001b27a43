import Foundation
import Payments
import StorePOS
import Testing
import YunGouOS

/// The storepos and YunGouOS bills: parsers on the vendors' own samples, and downloads from the
/// sandbox consistent with its orders.
@Suite(.timeLimit(.minutes(2))) struct BillTests {
    static let day = BillDate("2023-10-23")!

    /// `CY-UnifiedPay-New` `api/micropay.md`, 对账文件内容示例 (verbatim).
    static let storeposSample = """
        mch_id,out_trade_no,op_shop_id,op_device_id,op_user_id,base_fee,total_fee,return_amount,pay_status,rq_create,rq_pay,pay_type,type,channel_payid,transaction_id,out_transaction_id,channel_mchid,body
        `00000001`,T0020231023170944729,shop_yzq,`,user_yzq,0.01,0.01,0.01,0,`2023-10-23 17:10:03,`2023-10-23 17:10:07,WECHAT,1,VBILL,`,`,`,测试金额1分
        `00000001`,T0020231023171230769,shop_yzq,`,user_yzq,0.01,0.01,0.00,1,`2023-10-23 17:12:40,`2023-10-23 17:12:46,WECHAT,1,YINFEI,`,`,Y52310000000,测试金额1分
        `00000001`,T0020231023173531721,shop_yzq,`,user_yzq,0.01,0.01,0.00,1,`2023-10-23 17:35:58,`2023-10-23 17:36:07,WECHAT,1,YINFEI,`,`,Y52310000000,测试金额1分
        """

    @Test func storeposVendorSample() throws {
        let bill = try StorePOSBill.parse(Array(Self.storeposSample.utf8), date: Self.day)
        #expect(bill.channel == .storepos)
        // The refunded order (pay_status 0, return_amount 0.01) is a payment and a refund.
        #expect(bill.rows.map(\.status) == [.paid, .refunded, .paid, .paid])
        #expect(
            bill.rows.map(\.outTradeNo) == [
                "T0020231023170944729", "T0020231023170944729", "T0020231023171230769", "T0020231023173531721",
            ])
        #expect(bill.rows.allSatisfy { $0.amount == Money(fen: 1) })
        #expect(bill.rows.allSatisfy { $0.transactionID == nil && $0.outRefundNo == nil })
        #expect(bill.rows[0].time == ChinaTime.parse("2023-10-23 17:10:07", "yyyy-MM-dd HH:mm:ss"))
    }

    @Test func storeposRevokedPartialRefundAndBadLines() throws {
        let header = "out_trade_no,base_fee,total_fee,return_amount,pay_status,rq_pay,transaction_id\n"
        let bill = try StorePOSBill.parse(
            Array(
                (header + "A1001,99.00,98.00,10.50,1,`2023-10-23 10:00:00,`4200001\nA1002,5.00,5.00,0.00,4,`,`\n").utf8),
            date: Self.day)
        #expect(bill.rows.map(\.status) == [.paid, .refunded, .revoked])
        #expect(bill.rows.map(\.amount) == [Money(fen: 9900), Money(fen: 1050), Money(fen: 500)])
        #expect(bill.rows[0].transactionID == "4200001")
        #expect(throws: BillError.self) {
            try StorePOSBill.parse(Array((header + "A1003,0.001,1,0,1,`,`\n").utf8), date: Self.day)
        }
        #expect(throws: BillError.self) {
            try StorePOSBill.parse(Array((header + "A1003,1.00,1.00,0,7,`,`\n").utf8), date: Self.day)
        }
        #expect(throws: BillError.self) {
            try StorePOSBill.parse(Array("mch_id,base_fee\n1,1.00\n".utf8), date: Self.day)
        }
        #expect(try StorePOSBill.parse([], date: Self.day).rows.isEmpty)
    }

    /// The members of YunGouOS-PAY-SDK `WxDownloadBillInfoBiz` in the `{code, msg, data}` envelope.
    @Test func yungouosAnswer() throws {
        let body = """
            {"code":0,"msg":"获取成功","data":{"url":"https://example.invalid/bill.xlsx","total":{},"list":[
            {"date":"2020-01-29 10:00:00","mchId":"1600000001","payNo":"4200000001","orderNo":"Y2020012900001","outTradeNo":"O1","payStatus":"SUCCESS","money":"0.01","refundNo":"0","refundMoney":"0.00"},
            {"date":"2020-01-29 11:00:00","mchId":"1600000001","payNo":"4200000002","orderNo":"Y2020012900002","outTradeNo":"O2","payStatus":"REFUND","money":"1.00","refundNo":"R2","refundMoney":"0.50"},
            {"date":"2020-01-29 12:00:00","mchId":"1600000001","orderNo":"Y2020012900003","outTradeNo":"O3","payStatus":"NOTPAY","money":"2.00"}
            ]}}
            """
        let answer = try YunGouOSAnswer.decode(Array(body.utf8), api: "downloadBill")
        let bill = try YunGouOSBill.parse(answer, date: BillDate("2020-01-29")!)
        #expect(bill.rows.count == 2)
        #expect(
            bill.rows[0]
                == VendorBillRow(
                    status: .paid, outTradeNo: "O1", transactionID: "Y2020012900001", amount: Money(fen: 1),
                    time: ChinaTime.parse("2020-01-29 10:00:00", "yyyy-MM-dd HH:mm:ss"), vendorStatus: "SUCCESS"))
        #expect(bill.rows[1].status == .refunded)
        #expect(bill.rows[1].amount == Money(fen: 50))
        #expect(bill.rows[1].outRefundNo == "R2")
        let refused = try YunGouOSAnswer.decode(Array(#"{"code":1,"msg":"签名错误","data":null}"#.utf8), api: "d")
        #expect(throws: BillError.self) { try YunGouOSBill.parse(refused, date: Self.day) }
        let empty = try YunGouOSAnswer.decode(Array(#"{"code":0,"msg":"ok","data":null}"#.utf8), api: "d")
        #expect(try YunGouOSBill.parse(empty, date: Self.day).rows.isEmpty)
    }

    @Test func sandboxBillsListThePaidOrdersOfTheDay() async throws {
        try await withHarness { harness in
            let storepos = try harness.storepos {
                $0.settings["bill_url"] = harness.sandboxURL + "/v2/Open/DownloadBill"
            }
            let yungouos = try harness.yungouos()
            var paid: [ChannelID: String] = [:]
            for channel in [ChannelID.storepos, .yungouos] {
                let order = harness.order(channel, fen: 3300)
                let unpaid = harness.order(channel, fen: 3300)
                for created in [order, unpaid] {
                    if channel == .storepos {
                        _ = try await storepos.create(created)
                    } else {
                        _ = try await yungouos.create(created)
                    }
                }
                try await harness.pay(channel, order.outTradeNo)
                paid[channel] = order.outTradeNo
            }
            let today = BillDate(containing: Date())
            for bill in [try await storepos.downloadBill(date: today), try await yungouos.downloadBill(date: today)] {
                #expect(bill.rows.count == 1)
                #expect(bill.rows.first?.status == .paid)
                #expect(bill.rows.first?.outTradeNo == paid[bill.channel])
                #expect(bill.rows.first?.amount == Money(fen: 3300))
                #expect(bill.rows.first?.transactionID != nil)
            }
            #expect(try await storepos.downloadBill(date: today.previous).rows.isEmpty)
            // Documented fault: a day of 2001 is still being generated.
            await #expect(
                throws: BillError.notAvailable(
                    "storepos: the bill of 2001-03-01 is being generated (trade_state=PROCESSING)")
            ) {
                try await storepos.downloadBill(date: BillDate("2001-03-01")!)
            }
            await #expect(throws: BillError.self) { try await yungouos.downloadBill(date: BillDate("2001-03-01")!) }
            // A wrong key is refused by the vendor, not read as an empty bill.
            let forged = try harness.storepos {
                $0.settings["bill_url"] = harness.sandboxURL + "/v2/Open/DownloadBill"
                $0.secrets["merchant_key"] = Secret("WRONG0STOREPOS0MERCHANT0KEY00000")
            }
            do throws(BillError) {
                _ = try await forged.downloadBill(date: today)
                Issue.record("a wrongly signed DownloadBill was answered")
            } catch {
                guard case .vendor(let failure) = error else {
                    Issue.record("not a vendor error: \(error)")
                    return
                }
                #expect(failure.vendorCode == "20002")
            }
        }
    }

    /// The bills list the refunds the simulators hold: storepos in the order's line (`pay_status`
    /// 0, `return_amount` the refunded sum), YunGouOS as a `REFUND` line per refund with the
    /// merchant's refund number; a refund still processing moved no money and is not listed.
    @Test func sandboxBillsListTheRefunds() async throws {
        try await withHarness { harness in
            let storepos = try harness.storepos {
                $0.settings["bill_url"] = harness.sandboxURL + "/v2/Open/DownloadBill"
            }
            let yungouos = try harness.yungouos()
            let today = BillDate(containing: Date())

            let storeposOrder = harness.order(.storepos, fen: 3300)
            guard case .prepared(let storeposPrepared) = try await storepos.create(storeposOrder) else {
                Issue.record("storepos order not prepared")
                return
            }
            try await harness.pay(.storepos, storeposOrder.outTradeNo)
            let storeposReference = OrderReference(order: storeposOrder, memo: storeposPrepared.memo)
            let tag = String(storeposOrder.outTradeNo.suffix(10))
            // Two partial refunds that succeed at once, and one that stays processing (…97).
            for (number, fen) in [("A\(tag)", Int64(1000)), ("B\(tag)", 200), ("P\(tag)", 97)] {
                _ = try await storepos.refund(Self.refund(storeposReference, number, fen: fen))
            }
            let storeposBill = try await storepos.downloadBill(date: today)
            #expect(storeposBill.rows.map(\.status) == [.paid, .refunded])
            #expect(storeposBill.rows.map(\.amount) == [Money(fen: 3300), Money(fen: 1200)])
            #expect(storeposBill.rows.allSatisfy { $0.outTradeNo == storeposOrder.outTradeNo })
            #expect(storeposBill.rows.last?.vendorStatus == "pay_status=0")
            #expect(storeposBill.rows.last?.outRefundNo == nil)

            let yungouosOrder = harness.order(.yungouos, fen: 3300)
            guard case .prepared(let yungouosPrepared) = try await yungouos.create(yungouosOrder) else {
                Issue.record("yungouos order not prepared")
                return
            }
            try await harness.pay(.yungouos, yungouosOrder.outTradeNo)
            let yungouosReference = OrderReference(order: yungouosOrder, memo: yungouosPrepared.memo)
            let yTag = String(yungouosOrder.outTradeNo.suffix(10))
            // …99: refunded at once (the answer asks for a query); …97 stays processing.
            _ = try await yungouos.refund(Self.refund(yungouosReference, "Q\(yTag)", fen: 1299))
            _ = try await yungouos.refund(Self.refund(yungouosReference, "P\(yTag)", fen: 97))
            let yungouosBill = try await yungouos.downloadBill(date: today)
            #expect(yungouosBill.rows.map(\.status) == [.paid, .refunded])
            #expect(yungouosBill.rows.map(\.amount) == [Money(fen: 3300), Money(fen: 1299)])
            #expect(yungouosBill.rows.last?.outRefundNo == "Q\(yTag)")
            #expect(yungouosBill.rows.last?.outTradeNo == yungouosOrder.outTradeNo)
            #expect(yungouosBill.rows.last?.vendorStatus == "REFUND")
            #expect(try await yungouos.downloadBill(date: today.previous).rows.isEmpty)
        }
    }

    static func refund(_ reference: OrderReference, _ number: String, fen: Int64) -> RefundOrder {
        RefundOrder(
            outRefundNo: number, amount: Money(fen: fen), reason: "退货", notifyURL: reference.order.notifyURL,
            requestedAt: Date(), payment: reference)
    }
}
