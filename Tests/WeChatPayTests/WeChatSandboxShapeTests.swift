import Foundation
import Payments
import Testing

@testable import WeChatPay

/// The sandbox answers in every documented shape (chosen per order number), so the round trips
/// exercise the tolerant decoders; combine across merchants; the wrong-sub-order notifications; v2 `detail`.
@Suite(.timeLimit(.minutes(2))) struct WeChatSandboxShapeTests {
    static let partnerMchID = "1900000210"

    static func combineOrder(
        _ harness: SandboxHarness, id: String, fen: [Int64], mchids: [String?] = []
    ) -> PaymentOrder {
        let subs: [JSONValue] = fen.enumerated().map { index, amount in
            var object: [String: JSONValue] = [
                "out_trade_no": .string("\(id)S\(index)"), "amount_fen": .integer(amount),
                "description": .string("子单\(index)"),
            ]
            if index < mchids.count, let mchid = mchids[index] { object["mchid"] = .string(mchid) }
            return .object(object)
        }
        return PaymentOrder(
            outTradeNo: id, amount: Money(fen: fen.reduce(0, +)), description: "合单", createdAt: Date(),
            expiresAt: Date().addingTimeInterval(3600), clientIP: "203.0.113.9",
            notifyURL: harness.notifyURL(.wechatV3Combine),
            options: ["sub_orders": .array(subs)])
    }

    static func resource(_ received: SandboxHarness.Received) throws -> [String: Any] {
        let text = try #require(try received.result.get().fields["resource"])
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func combineAnswersAndNotificationsVaryTheirDocumentedShapesPerOrder() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatCombineSandboxTests.channel(harness)
            var scenes: Set<String> = []
            var promotions = 0
            var withoutPayer = 0
            var unknownMembers = 0
            // Fixed order numbers: the shape is a function of the number, so this test is deterministic.
            for index in 0..<12 {
                let order = Self.combineOrder(harness, id: "C3SHAPE\(index)0000", fen: [60, 40])
                guard case .prepared = try await channel.create(order) else {
                    Issue.record("\(index) not prepared")
                    return
                }
                #expect(try await harness.pay(.wechatV3Combine, order.outTradeNo) == 200)
                let callbacks = try await harness.waitForCallbacks(order.outTradeNo) { !$0.isEmpty }
                let verified = try callbacks[0].result.get()
                guard case .succeeded(let paid) = verified.status else {
                    Issue.record("\(index): \(verified.status)")
                    return
                }
                #expect(paid.subPayments.map(\.amount) == [Money(fen: 60), Money(fen: 40)])
                guard case .succeeded(let queried) = try await channel.query(OrderReference(order: order)) else {
                    Issue.record("\(index): query not succeeded")
                    return
                }
                #expect(queried.transactionID == paid.transactionID)

                let resource = try Self.resource(callbacks[0])
                switch resource["scene_info"] {
                case nil: scenes.insert("absent")
                case let scene as [String: Any] where scene.isEmpty: scenes.insert("empty")
                case let scene as [String: Any] where scene.keys.sorted() == ["device_id"]: scenes.insert("device_id")
                default: scenes.insert("extra")
                }
                let subs = resource["sub_orders"] as? [[String: Any]] ?? []
                if subs.contains(where: { $0["promotion_detail"] != nil }) { promotions += 1 }
                if resource["combine_payer_info"] == nil { withoutPayer += 1 }
                if subs.contains(where: { $0["trade_state_desc"] != nil }) { unknownMembers += 1 }
            }
            #expect(scenes == ["absent", "empty", "device_id", "extra"])
            #expect(promotions > 0 && promotions < 12)
            #expect(withoutPayer > 0 && withoutPayer < 12)
            #expect(unknownMembers > 0 && unknownMembers < 12)
        }
    }

    @Test func v2AnswersAndNotificationsVaryTheirOptionalMembersPerOrder() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatV2Channel(account: harness.v2Account, http: harness.http, logger: harness.logger)
            harness.useForCallbacks(channel)
            var shapes: Set<[String]> = []
            for index in 0..<10 {
                let order = PaymentOrder(
                    outTradeNo: "V2SHAPE\(index)", amount: Money(fen: 250), description: "咖啡", attach: "table \(index)",
                    createdAt: Date(), notifyURL: harness.notifyURL(.wechatV2))
                guard case .prepared = try await channel.create(order) else {
                    Issue.record("\(index) not prepared")
                    return
                }
                #expect(try await channel.query(OrderReference(order: order)) == .notPaid)
                #expect(try await harness.pay(.wechatV2, order.outTradeNo) == 200)
                let callbacks = try await harness.waitForCallbacks(order.outTradeNo) { !$0.isEmpty }
                let verified = try callbacks[0].result.get()
                guard case .succeeded(let paid) = verified.status else {
                    Issue.record("\(index): \(verified.status)")
                    return
                }
                #expect(paid.amount == Money(fen: 250))
                guard case .succeeded = try await channel.query(OrderReference(order: order)) else {
                    Issue.record("query")
                    return
                }
                shapes.insert(verified.fields.keys.sorted())
            }
            #expect(shapes.count >= 4)
        }
    }

    @Test func combineAcrossMerchantsNamesEachSubOrdersMchid() async throws {
        try await SandboxHarness.with(v3Settings: ["sub_order_mchids": Self.partnerMchID]) { harness in
            let channel = try WeChatCombineSandboxTests.channel(harness)
            let combineMchID = try #require(harness.v3Account.settings["combine_mchid"])
            let order = Self.combineOrder(
                harness, id: SandboxHarness.orderNumber("C3X"), fen: [70, 30], mchids: [nil, Self.partnerMchID])
            guard case .prepared = try await channel.create(order) else {
                Issue.record("not prepared")
                return
            }
            #expect(try await harness.pay(.wechatV3Combine, order.outTradeNo) == 200)
            let callbacks = try await harness.waitForCallbacks(order.outTradeNo) { !$0.isEmpty }
            guard case .succeeded(let paid) = try callbacks[0].result.get().status else {
                Issue.record("not paid")
                return
            }
            #expect(paid.subPayments.map(\.vendorMerchantID) == [combineMchID, Self.partnerMchID])
            #expect(paid.vendorMerchantID == combineMchID)

            // A sub-order naming a merchant id the account does not list is refused before any call.
            let stranger = Self.combineOrder(
                harness, id: SandboxHarness.orderNumber("C3Y"), fen: [70, 30], mchids: [nil, "1900000999"])
            do throws(ChannelError) {
                _ = try await channel.create(stranger)
                Issue.record("unlisted sub-order mchid accepted")
            } catch {
                #expect(error.code == .invalidRequest)
                #expect(error.message.contains("sub_orders[1].mchid"))
            }
        }
        // Without the setting the partner id is refused by the client.
        try await SandboxHarness.with { harness in
            let channel = try WeChatCombineSandboxTests.channel(harness)
            let order = Self.combineOrder(
                harness, id: SandboxHarness.orderNumber("C3Z"), fen: [70, 30], mchids: [nil, Self.partnerMchID])
            #expect(throws: ChannelError.self) { try channel.validate(order) }
        }
    }

    @Test func notificationsWithAWrongSubOrderAmountOrMchidAreGenuineButDiffer() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatCombineSandboxTests.channel(harness)
            let combineMchID = try #require(harness.v3Account.settings["combine_mchid"])
            let moved = Self.combineOrder(harness, id: SandboxHarness.orderNumber("C3M"), fen: [60, 51])  // …11
            let otherMerchant = Self.combineOrder(harness, id: SandboxHarness.orderNumber("C3N"), fen: [60, 52])  // …12
            for order in [moved, otherMerchant] {
                guard case .prepared = try await channel.create(order) else {
                    Issue.record("not prepared")
                    return
                }
                #expect(try await harness.pay(.wechatV3Combine, order.outTradeNo) == 200)
            }
            let movedCallback = try await harness.waitForCallbacks(moved.outTradeNo) { !$0.isEmpty }[0].result.get()
            #expect(movedCallback.amount == Money(fen: 111))  // the total is right…
            guard case .succeeded(let movedPaid) = movedCallback.status else {
                Issue.record("not verified")
                return
            }
            #expect(movedPaid.subPayments.map(\.amount) == [Money(fen: 59), Money(fen: 52)])  // …the sub-orders are not
            let otherCallback = try await harness.waitForCallbacks(otherMerchant.outTradeNo) { !$0.isEmpty }[0].result
                .get()
            guard case .succeeded(let otherPaid) = otherCallback.status else {
                Issue.record("not verified")
                return
            }
            #expect(otherPaid.subPayments.map(\.vendorMerchantID) != [combineMchID, combineMchID])
            #expect(otherPaid.subPayments[0].vendorMerchantID == combineMchID)
            // The query tells the truth.
            for order in [moved, otherMerchant] {
                guard case .succeeded(let real) = try await channel.query(OrderReference(order: order)) else {
                    Issue.record("query")
                    return
                }
                #expect(real.subPayments.allSatisfy { $0.vendorMerchantID == combineMchID })
                #expect(
                    real.subPayments.map(\.amount.fen)
                        == (order.options["sub_orders"]?.arrayValue ?? []).compactMap { $0["amount_fen"]?.integerValue }
                )
            }
        }
    }

    @Test func v2SendsTheGoodsListAsTheDocumentedDetail() async throws {
        try await SandboxHarness.with { harness in
            let channel = try WeChatV2Channel(account: harness.v2Account, http: harness.http, logger: harness.logger)
            let goods: JSONValue = .array([
                .object(["goods_id": .string("latte"), "quantity": .integer(2), "price": .integer(150)])
            ])
            for option in [goods, .object(["goods_detail": goods, "cost_price": .integer(300)])] {
                let order = PaymentOrder(
                    outTradeNo: SandboxHarness.orderNumber("V2D"), amount: Money(fen: 300), description: "咖啡",
                    createdAt: Date(),
                    notifyURL: harness.notifyURL(.wechatV2), options: ["goods_detail": option])
                guard case .prepared = try await channel.create(order) else {
                    Issue.record("not prepared with \(option)")
                    return
                }
            }
            let bad = PaymentOrder(
                outTradeNo: SandboxHarness.orderNumber("V2E"), amount: Money(fen: 300), description: "咖啡",
                createdAt: Date(),
                notifyURL: harness.notifyURL(.wechatV2),
                options: ["goods_detail": .array([.object(["goods_id": .string("x")])])])
            #expect(throws: ChannelError.self) { try channel.validate(bad) }
        }
    }
}
