import AsyncHTTPClient
import Foundation
import Logging
import Payments
import Testing
import _CryptoExtras

@testable import WeChatPay

/// The vendor samples of `Fixtures/` (see the README beside them for where each comes from),
/// read by path relative to this file.
enum ConformanceFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures")

    static func names(_ channel: String) -> [String] {
        let files =
            (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(channel).path)) ?? []
        return files.filter { $0 != "README.md" }.sorted()
    }

    static func bytes(_ channel: String, _ name: String) throws -> [UInt8] {
        let url = directory.appendingPathComponent(channel).appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw HarnessError(message: "fixture \(channel)/\(name) cannot be read")
        }
        return Array(data)
    }

    static func json(_ channel: String, _ name: String) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(try bytes(channel, name)))
        guard let object = value as? [String: Any] else { throw HarnessError(message: "\(name) is not a JSON object") }
        return object
    }

    static func data(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}

// MARK: - WeChat Pay APIv3 combine

/// Every combine parser against every `wechat-v3-combine` fixture, and every notification through
/// the verify path of `payfleet verify-callback` (``WeChatOperatorTools/verifyV3Callback``) and of
/// the worker (``WeChatCombineChannel/verifyCallback(_:)``), signed with published SDK test keys.
@Suite struct WeChatCombineConformanceTests {
    static let channelName = "wechat-v3-combine"
    /// wechatpay-java's test APIv3 key (core/src/test/java/com/wechat/pay/java/core/model/TestConfig.java).
    static let apiV3Key = Secret("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb")
    /// The WeChat Pay public key id the notifications name; the key is wechatpay-go's published test key.
    static let publicKeyID = "PUB_KEY_ID_0114232134912410000000000000"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func platformKey() throws -> _RSA.Signing.PrivateKey {
        try WeChatV3Crypto.privateKey(pem: Secret(GoSDKKeyVector.pkcs8))
    }

    static func channel(
        appID: String = "wxd678efh567hg6787", mchID: String, now: Date = WeChatCombineConformanceTests.now
    ) throws -> WeChatCombineChannel {
        let key = try platformKey()
        let account = MerchantAccount(
            alias: "conformance", channel: .wechatV3Combine,
            settings: [
                "combine_appid": appID, "combine_mchid": mchID,
                "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
                "platform_certificates": "off", "wechatpay_public_key_id": publicKeyID,
                "api_base_url": "http://127.0.0.1:1", "backup_api_base_url": "none",
            ],
            secrets: [
                "merchant_private_key": Secret(key.pemRepresentation), "apiv3_key": apiV3Key,
                "wechatpay_public_key": Secret(key.publicKey.pemRepresentation),
            ]
        )
        return try WeChatCombineChannel(
            account: account, http: VendorHTTP(client: HTTPClient.shared), logger: Logger(label: "conformance"),
            now: { now })
    }

    /// A notification as WeChat sends it: the resource encrypted with the APIv3 key into the
    /// documented envelope (the WxJava sample), signed over `timestamp\nnonce\nbody\n`.
    static func notification(
        resource: [UInt8], envelope: [String: Any]? = nil, signingKey: _RSA.Signing.PrivateKey? = nil,
        apiV3Key: Secret = WeChatCombineConformanceTests.apiV3Key,
        serial: String = WeChatCombineConformanceTests.publicKeyID,
        timestamp: Date = WeChatCombineConformanceTests.now
    ) throws -> (headers: [String: String], body: [UInt8]) {
        var object = try envelope ?? ConformanceFixtures.json(channelName, "notify-envelope-wxjava.json")
        var encrypted = object["resource"] as? [String: Any] ?? [:]
        let nonce = "fdasflkja484"
        encrypted["nonce"] = nonce
        encrypted["ciphertext"] = try WeChatV3Crypto.encrypt(
            apiV3Key: apiV3Key, nonce: nonce, associatedData: encrypted["associated_data"] as? String ?? "",
            plaintext: resource)
        object["resource"] = encrypted
        let body = try ConformanceFixtures.data(object)
        let seconds = Int64(timestamp.timeIntervalSince1970)
        let headerNonce = "593BEC0C930BF1AFEB40B4A08C8FB242"
        let message = Array("\(seconds)\n\(headerNonce)\n".utf8) + body + [0x0A]
        let signature = try WeChatV3Crypto.sign(message, with: signingKey ?? platformKey())
        return (
            [
                "wechatpay-serial": serial, "wechatpay-signature": signature, "wechatpay-timestamp": "\(seconds)",
                "wechatpay-nonce": headerNonce, "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
                "content-type": "application/json",
            ], body
        )
    }

    /// The `payfleet verify-callback --channel wechat-v3-combine` check, with the published public key.
    static func verifyAsOperator(
        _ headers: [String: String], _ body: [UInt8], now: Date = WeChatCombineConformanceTests.now
    ) throws(CallbackError) -> [UInt8] {
        let pem = (try? platformKey().publicKey.pemRepresentation) ?? ""
        return try WeChatOperatorTools.verifyV3Callback(
            headers: headers, body: body, apiV3Key: apiV3Key, platformCertificatePEM: nil, publicKeyPEM: pem,
            publicKeyID: publicKeyID, now: now)
    }

    static func rejection(
        _ headers: [String: String], _ body: [UInt8], now: Date = WeChatCombineConformanceTests.now
    ) -> CallbackError? {
        do throws(CallbackError) {
            _ = try verifyAsOperator(headers, body, now: now)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Fixtures

    @Test func everyFixtureIsCovered() {
        let names = ConformanceFixtures.names(Self.channelName)
        #expect(names.count >= 5)
        for name in names {
            #expect(
                ["create-answer-", "query-", "notify-resource-", "notify-envelope-"].contains { name.hasPrefix($0) },
                "\(name) is run by no test")
        }
    }

    @Test func createAnswers() throws {
        for name in ConformanceFixtures.names(Self.channelName) where name.hasPrefix("create-answer-") {
            let answer = try WeChatCombine.decodeAnswer(
                WeChatCombine.CreateAnswer.self, ConformanceFixtures.bytes(Self.channelName, name))
            #expect(answer.code_url.hasPrefix("weixin://"), "\(name)")
        }
    }

    @Test(arguments: [
        ("query-success-skit.json", "paid"),
        ("query-notpay-derived.json", "notPaid"),
        ("query-payerror-derived.json", "failed"),
    ])
    func queryAnswers(name: String, expected: String) throws {
        let object = try ConformanceFixtures.json(Self.channelName, name)
        let channel = try Self.channel(mchID: object["combine_mchid"] as? String ?? "")
        let status = try channel.tradeStatus(
            answer: ConformanceFixtures.bytes(Self.channelName, name),
            outTradeNo: object["combine_out_trade_no"] as? String ?? "")
        switch (expected, status) {
        case ("paid", .succeeded(let details)):
            #expect(details.amount == Money(fen: 10))
            #expect(details.transactionID == "1009660380201506130728806387")
            #expect(details.subPayments.map(\.vendorMerchantID) == ["1900000109"])
            #expect(details.subPayments.map(\.outTradeNo) == ["20150806125346"])
            #expect(details.paidAt == ChinaTime.parseRFC3339("2015-05-20T13:29:35.120+08:00"))
        case ("notPaid", .notPaid):
            break
        case ("failed", .failed(let failure)):
            #expect(failure.code == "PAYERROR")
        default:
            Issue.record("\(name): \(status), expected \(expected)")
        }
        #expect(ConformanceFixtures.names(Self.channelName).contains(name))
    }

    @Test func everyNotificationResourceVerifiesThroughTheOperatorAndWorkerPaths() async throws {
        let names = ConformanceFixtures.names(Self.channelName).filter { $0.hasPrefix("notify-resource-") }
        #expect(names.count >= 2)
        for name in names {
            let resource = try ConformanceFixtures.bytes(Self.channelName, name)
            let (headers, body) = try Self.notification(resource: resource)
            let decrypted = try Self.verifyAsOperator(headers, body)
            #expect(decrypted == resource, "\(name)")

            let object = try ConformanceFixtures.json(Self.channelName, name)
            let channel = try Self.channel(mchID: object["combine_mchid"] as? String ?? "")
            let verified = try await channel.verifyCallback(
                RawCallback(body: body, headers: headers, receivedAt: Self.now))
            #expect(verified.outTradeNo == "20150806125346")
            #expect(verified.amount == Money(fen: 10))
            #expect(verified.notificationID == "EV-2018022511223320873")
            guard case .succeeded(let details) = verified.status else {
                Issue.record("\(name): \(verified.status)")
                continue
            }
            #expect(details.transactionID == "1009660380201506130728806387")
            #expect(
                try channel.callbackOrderKey(RawCallback(body: body, headers: headers, receivedAt: Self.now))
                    == "20150806125346")
        }
    }

    // MARK: Documented shapes

    /// A sub-order's `promotion_detail` as WeChat documents it for combine answers
    /// (https://pay.weixin.qq.com/docs/merchant/apis/combine-payment/orders/query-order.html).
    static var promotionDetail: [[String: Any]] {
        [
            [
                "coupon_id": "109519", "name": "单品惠-6", "scope": "SINGLE", "type": "DISCOUNT", "stock_id": "931386",
                "amount": 5, "wechatpay_contribute": 0, "merchant_contribute": 5, "other_contribute": 0,
                "currency": "CNY",
                "goods_detail": [
                    [
                        "goods_id": "M1006", "quantity": 1, "unit_price": 100, "discount_amount": 1,
                        "goods_remark": "商品备注",
                    ]
                ],
            ]
        ]
    }

    /// The SKIT notification resource in every documented shape: `scene_info` absent, `{}`, with
    /// only `device_id`, with members PayFleet does not know; with `promotion_detail`; without the
    /// optional objects; with unknown members at every level.
    static func shapes() throws -> [(String, [String: Any])] {
        let base = try ConformanceFixtures.json(channelName, "notify-resource-success-skit.json")
        var shapes: [(String, [String: Any])] = [("as published", base)]
        var noScene = base
        noScene["scene_info"] = nil
        shapes.append(("without scene_info", noScene))
        var emptyScene = base
        emptyScene["scene_info"] = [String: Any]()
        shapes.append(("scene_info {}", emptyScene))
        var sceneExtra = base
        sceneExtra["scene_info"] = ["device_id": "POS1:1", "store_info": ["id": "SZTX001"]]
        shapes.append(("scene_info with unknown members", sceneExtra))
        var promotion = base
        var subs = promotion["sub_orders"] as? [[String: Any]] ?? []
        subs[0]["promotion_detail"] = promotionDetail
        var amount = subs[0]["amount"] as? [String: Any] ?? [:]
        amount["payer_amount"] = 5
        subs[0]["amount"] = amount
        promotion["sub_orders"] = subs
        shapes.append(("with promotion_detail", promotion))
        var minimal = base
        minimal["scene_info"] = nil
        minimal["combine_payer_info"] = nil
        minimal["combine_appid"] = nil
        var minimalSubs = minimal["sub_orders"] as? [[String: Any]] ?? []
        for key in ["trade_type", "bank_type", "attach", "success_time"] { minimalSubs[0][key] = nil }
        minimalSubs[0]["amount"] = ["total_amount": 10]
        minimal["sub_orders"] = minimalSubs
        shapes.append(("only the members PayFleet reads", minimal))
        var unknown = promotion
        unknown["combine_transaction_id"] = "4200000000000000000000000000"
        unknown["future_member"] = ["nested": [1, 2, 3]]
        var unknownSubs = unknown["sub_orders"] as? [[String: Any]] ?? []
        unknownSubs[0]["sub_appid"] = "wxd678efh567hg6788"
        unknownSubs[0]["sub_openid"] = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6p"
        unknownSubs[0]["trade_state_desc"] = "支付成功"
        unknownSubs[0]["sub_mchid"] = "1900000109"
        unknown["sub_orders"] = unknownSubs
        shapes.append(("with members PayFleet does not know", unknown))
        return shapes
    }

    @Test func genuineNotificationsInEveryDocumentedShapeAreAccepted() async throws {
        let channel = try Self.channel(mchID: "1900000109")
        var envelope = try ConformanceFixtures.json(Self.channelName, "notify-envelope-wxjava.json")
        for (label, resource) in try Self.shapes() {
            for withOriginalType in [false, true] {
                if withOriginalType {
                    var encrypted = envelope["resource"] as? [String: Any] ?? [:]
                    encrypted["original_type"] = "transaction"
                    envelope["resource"] = encrypted
                    envelope["event_version"] = "2.0"
                }
                let plaintext = try ConformanceFixtures.data(resource)
                let (headers, body) = try Self.notification(resource: plaintext, envelope: envelope)
                #expect(try Self.verifyAsOperator(headers, body) == plaintext, "\(label)")
                let verified = try await channel.verifyCallback(
                    RawCallback(body: body, headers: headers, receivedAt: Self.now))
                #expect(verified.amount == Money(fen: 10), "\(label)")
                guard case .succeeded(let details) = verified.status else {
                    Issue.record("\(label): \(verified.status)")
                    continue
                }
                #expect(details.subPayments.map(\.amount) == [Money(fen: 10)], "\(label)")
            }
        }
    }

    @Test func tamperedStaleAndWrongKeyNotificationsAreRejected() throws {
        let resource = try ConformanceFixtures.bytes(Self.channelName, "notify-resource-success-skit.json")
        let (headers, body) = try Self.notification(resource: resource)
        #expect(Self.rejection(headers, body) == nil)

        // Tampered: any byte of the body changed after signing (here the encrypted amount's neighbourhood).
        var tampered = body
        let index = tampered.firstIndex(of: UInt8(ascii: "E")) ?? 0
        tampered[index] = UInt8(ascii: "F")
        #expect(Self.rejection(headers, tampered)?.kind == .badSignature)
        var otherNonce = headers
        otherNonce["wechatpay-nonce"] = "593BEC0C930BF1AFEB40B4A08C8FB243"
        #expect(Self.rejection(otherNonce, body)?.kind == .badSignature)

        // Stale: replayed 5 minutes or more after (or before) its timestamp.
        #expect(Self.rejection(headers, body, now: Self.now.addingTimeInterval(300))?.kind == .staleTimestamp)
        #expect(Self.rejection(headers, body, now: Self.now.addingTimeInterval(-300))?.kind == .staleTimestamp)
        #expect(Self.rejection(headers, body, now: Self.now.addingTimeInterval(299)) == nil)

        // Wrong key: signed by a key that is not WeChat's, or encrypted with another APIv3 key.
        let forger = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let forged = try Self.notification(resource: resource, signingKey: forger)
        #expect(Self.rejection(forged.headers, forged.body)?.kind == .badSignature)
        let otherAPIv3 = try Self.notification(resource: resource, apiV3Key: Secret("0123456789abcdef0123456789abcdef"))
        #expect(Self.rejection(otherAPIv3.headers, otherAPIv3.body)?.kind == .decryptionFailed)
        let otherSerial = try Self.notification(resource: resource, serial: "PUB_KEY_ID_0114232134912410000000000001")
        #expect(Self.rejection(otherSerial.headers, otherSerial.body)?.kind == .unknownSerial)

        // No error message carries the keys.
        for error in [Self.rejection(headers, tampered), Self.rejection(otherAPIv3.headers, otherAPIv3.body)]
            .compactMap({ $0 })
        {
            #expect(!error.description.contains(Self.apiV3Key.reveal()))
        }
    }

    @Test func aMissingMemberPayFleetNeedsIsATypedErrorNamingIt() async throws {
        let channel = try Self.channel(mchID: "1900000109")
        let base = try ConformanceFixtures.json(Self.channelName, "notify-resource-success-skit.json")
        func removing(_ edit: (inout [String: Any]) -> Void) -> [String: Any] {
            var copy = base
            edit(&copy)
            return copy
        }
        let cases: [(String, [String: Any])] = [
            ("field combine_out_trade_no is missing", removing { $0["combine_out_trade_no"] = nil }),
            ("field sub_orders is missing", removing { $0["sub_orders"] = nil }),
            (
                "field sub_orders[0].out_trade_no is missing",
                removing {
                    var subs = $0["sub_orders"] as? [[String: Any]] ?? []
                    subs[0]["out_trade_no"] = nil
                    $0["sub_orders"] = subs
                }
            ),
            (
                "field sub_orders[0].mchid is missing",
                removing {
                    var subs = $0["sub_orders"] as? [[String: Any]] ?? []
                    subs[0]["mchid"] = nil
                    $0["sub_orders"] = subs
                }
            ),
            (
                "field sub_orders[0].amount.total_amount has the wrong type",
                removing {
                    var subs = $0["sub_orders"] as? [[String: Any]] ?? []
                    subs[0]["amount"] = ["total_amount": "10"]
                    $0["sub_orders"] = subs
                }
            ),
            (
                "field sub_orders[0].amount.total_amount is missing",
                removing {
                    var subs = $0["sub_orders"] as? [[String: Any]] ?? []
                    subs[0]["amount"] = ["payer_amount": 10]
                    $0["sub_orders"] = subs
                }
            ),
            (
                "field sub_orders[0].transaction_id is missing",
                removing {
                    var subs = $0["sub_orders"] as? [[String: Any]] ?? []
                    subs[0]["transaction_id"] = nil
                    $0["sub_orders"] = subs
                }
            ),
        ]
        for (message, resource) in cases {
            let (headers, body) = try Self.notification(resource: try ConformanceFixtures.data(resource))
            do throws(CallbackError) {
                _ = try await channel.verifyCallback(RawCallback(body: body, headers: headers, receivedAt: Self.now))
                Issue.record("accepted without: \(message)")
            } catch {
                #expect(error.kind == .malformed, "\(message)")
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
        // The same for a query answer.
        let answer = try ConformanceFixtures.json(Self.channelName, "query-success-skit.json")
        var broken = answer
        var subs = broken["sub_orders"] as? [[String: Any]] ?? []
        subs[0]["trade_state"] = nil
        broken["sub_orders"] = subs
        let queryChannel = try Self.channel(mchID: "1230000109")
        let brokenBytes = try ConformanceFixtures.data(broken)
        do throws(ChannelError) {
            _ = try queryChannel.tradeStatus(answer: brokenBytes, outTradeNo: "1217752501201407033233368018")
            Issue.record("query answer without trade_state accepted")
        } catch {
            #expect(error.code == .badResponse)
            #expect(error.message.contains("field sub_orders[0].trade_state is missing"))
        }
    }
}

// MARK: - WeChat Pay v2

/// Every v2 parser against every `wechat-v2` fixture, re-signed with a test key (MD5 and
/// HMAC-SHA256) so the full verification runs, and tampering caught.
@Suite struct WeChatV2ConformanceTests {
    static let channelName = "wechat-v2"
    static let testKey = Secret("0123456789abcdef0123456789abcdef")
    /// The key WxJava's WxPayOrderNotifySignatureTest publishes for its sample.
    static let wxJavaKey = Secret("testmchkey1234567890123456789012")

    static func fields(_ name: String) throws -> [String: String] {
        try WeChatXML.decode(ConformanceFixtures.bytes(channelName, name))
    }

    /// The fixture's text with its `sign` replaced (or added) by `signType`'s signature under `key`.
    static func resigned(
        _ name: String, signType: WeChatV2SignType, key: Secret = testKey, edit: (String) -> String = { $0 }
    ) throws -> [UInt8] {
        var text = edit(String(decoding: try ConformanceFixtures.bytes(channelName, name), as: UTF8.self))
        let fields = try WeChatXML.decode(text)
        let sign = signType.sign(fields, key: key)
        if let start = text.range(of: "<sign>"),
            let end = text.range(of: "</sign>", range: start.upperBound..<text.endIndex)
        {
            text.replaceSubrange(start.upperBound..<end.lowerBound, with: "<![CDATA[\(sign)]]>")
        } else if let close = text.range(of: "</xml>", options: .backwards) {
            text.replaceSubrange(close, with: "<sign>\(sign)</sign></xml>")
        }
        return Array(text.utf8)
    }

    static func channel(
        for fields: [String: String], signType: WeChatV2SignType, key: Secret = testKey
    ) throws -> WeChatV2Channel {
        let account = MerchantAccount(
            alias: "conformance", channel: .wechatV2,
            settings: [
                "appid": fields["appid"] ?? "", "mch_id": fields["mch_id"] ?? "", "sign_type": signType.rawValue,
                "api_base_url": "http://127.0.0.1:1", "backup_api_base_url": "none",
            ],
            secrets: ["api_key": key]
        )
        return try WeChatV2Channel(
            account: account, http: VendorHTTP(client: HTTPClient.shared), logger: Logger(label: "conformance"))
    }

    @Test func everyFixtureIsCovered() {
        let names = ConformanceFixtures.names(Self.channelName)
        #expect(names.count >= 5)
        for name in names {
            #expect(
                ["unifiedorder-", "orderquery-", "closeorder-", "notify-"].contains { name.hasPrefix($0) },
                "\(name) is run by no test")
        }
    }

    @Test(arguments: WeChatV2SignType.allCases)
    func answers(signType: WeChatV2SignType) throws {
        for name in ConformanceFixtures.names(Self.channelName) where !name.hasPrefix("notify-") {
            let fields = try Self.fields(name)
            let channel = try Self.channel(for: fields, signType: signType)
            let body = try Self.resigned(name, signType: signType)
            let path =
                name.hasPrefix("unifiedorder-")
                ? "/pay/unifiedorder" : name.hasPrefix("orderquery-") ? "/pay/orderquery" : "/pay/closeorder"
            let verified = try channel.decodeResponse(
                VendorHTTPResponse(status: 200, headers: [:], body: body), path: path)
            switch name {
            case "unifiedorder-success-doc.xml":
                guard case .prepared(let prepared) = try channel.createOutcome(verified, tradeType: "JSAPI") else {
                    Issue.record("\(name) not prepared")
                    continue
                }
                #expect(prepared.vendorOrderID == "wx201411101639507cbf6ffd8b0779950874")
                #expect(prepared.payParameters["package"] == "prepay_id=wx201411101639507cbf6ffd8b0779950874")
            case "unifiedorder-fail-orderpaid-derived.xml":
                #expect(try channel.createOutcome(verified, tradeType: "NATIVE") == .duplicate)
            case "orderquery-success-doc.xml", "orderquery-success-skit-coupon.xml":
                guard case .succeeded(let details) = try channel.tradeStatus(verified, outTradeNo: "1415757673") else {
                    Issue.record("\(name) not succeeded")
                    continue
                }
                #expect(details.amount == Money(fen: 1))
                #expect(details.transactionID == "1008450740201411110005820873")
                #expect(details.paidAt == ChinaTime.parse("20141111170043", "yyyyMMddHHmmss"))
            case "orderquery-notpay-derived.xml":
                #expect(try channel.tradeStatus(verified, outTradeNo: "1415757673") == .notPaid)
            case "orderquery-userpaying-derived.xml":
                #expect(try channel.tradeStatus(verified, outTradeNo: "1415757673") == .paying)
            case "orderquery-payerror-derived.xml":
                guard case .failed(let failure) = try channel.tradeStatus(verified, outTradeNo: "1415757673") else {
                    Issue.record("\(name) not failed")
                    continue
                }
                #expect(failure.code == "PAYERROR")
            case "closeorder-success-skit.xml":
                #expect(try channel.closeOutcome(verified) == .closed)
            default:
                Issue.record("\(name) has no expectation")
            }
            // The same answer with one signed member changed no longer verifies.
            let nonce = try #require(fields["nonce_str"])
            let tampered = Array(
                String(decoding: body, as: UTF8.self).replacingOccurrences(of: nonce, with: nonce + "0").utf8)
            #expect(tampered != body)
            #expect(throws: ChannelError.self, "\(name)") {
                _ = try channel.decodeResponse(
                    VendorHTTPResponse(status: 200, headers: [:], body: tampered), path: path)
            }
        }
    }

    @Test(arguments: WeChatV2SignType.allCases)
    func notifications(signType: WeChatV2SignType) async throws {
        for name in ConformanceFixtures.names(Self.channelName) where name.hasPrefix("notify-") {
            let fields = try Self.fields(name)
            let channel = try Self.channel(for: fields, signType: signType)
            let body = try Self.resigned(name, signType: signType)
            let raw = RawCallback(body: body, headers: ["content-type": "text/xml"], receivedAt: Date())
            let verified = try await channel.verifyCallback(raw)
            #expect(verified.outTradeNo == fields["out_trade_no"], "\(name)")
            #expect(try channel.callbackOrderKey(raw) == fields["out_trade_no"])
            #expect(verified.amount == Money(fen: 1), "\(name)")
            let operatorFields = try WeChatOperatorTools.verifyV2Callback(body: body, key: Self.testKey)
            #expect(operatorFields["out_trade_no"] == fields["out_trade_no"])
            if name == "notify-fail-derived.xml" {
                #expect(verified.status == .failed(VendorFailure(code: "SYSTEMERROR", message: "系统错误")))
            } else {
                guard case .succeeded(let details) = verified.status else {
                    Issue.record("\(name): \(verified.status)")
                    continue
                }
                #expect(details.transactionID == fields["transaction_id"])
                #expect(details.amount == Money(fen: 1))
            }
            // Tampered amount, wrong key: never accepted.
            let tampered = Array(
                String(decoding: body, as: UTF8.self).replacingOccurrences(
                    of: "<total_fee>1</total_fee>", with: "<total_fee>100</total_fee>"
                ).utf8)
            #expect(tampered != body, "\(name)")
            await #expect(throws: CallbackError.self) {
                try await channel.verifyCallback(RawCallback(body: tampered, headers: [:], receivedAt: Date()))
            }
            let other = try Self.channel(
                for: fields, signType: signType, key: Secret("fedcba9876543210fedcba9876543210"))
            await #expect(throws: CallbackError.self) { try await other.verifyCallback(raw) }
        }
    }

    @Test func theWxJavaSampleVerifiesWithItsPublishedKey() async throws {
        let name = "notify-success-wxjava-unsigned.xml"
        let body = try Self.resigned(name, signType: .md5, key: Self.wxJavaKey)
        let fields = try WeChatXML.decode(body)
        #expect(fields["transaction_id"] == "4200002882220251029816273963B")
        let channel = try Self.channel(for: fields, signType: .md5, key: Self.wxJavaKey)
        let verified = try await channel.verifyCallback(RawCallback(body: body, headers: [:], receivedAt: Date()))
        #expect(
            verified.status
                == .succeeded(
                    PaymentDetails(
                        transactionID: "4200002882220251029816273963B", amount: Money(fen: 1),
                        paidAt: ChinaTime.parse("20251029153852", "yyyyMMddHHmmss"), vendorMerchantID: "1545462911")))
        #expect(throws: CallbackError.self) { try WeChatOperatorTools.verifyV2Callback(body: body, key: Self.testKey) }
        _ = try WeChatOperatorTools.verifyV2Callback(body: body, key: Self.wxJavaKey)
    }
}

// MARK: - v2 `detail`

@Suite struct WeChatV2GoodsDetailTests {
    static func decoded(_ text: String) throws -> [String: JSONValue] {
        try #require(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)).objectValue)
    }

    @Test func aListAndAnObjectBothBecomeTheDocumentedObject() throws {
        let goods: JSONValue = .array([
            .object([
                "goods_id": .string("iphone6s_16G"), "wxpay_goods_id": .string("1001"),
                "goods_name": .string("iPhone6s 16G"),
                "quantity": .integer(1), "price": .integer(528800), "goods_category": .string("123456"),
            ]),
            .object(["goods_id": .string("iphone6s_32G"), "quantity": .integer(1), "price": .integer(608800)]),
        ])
        let fromList = try WeChatV2GoodsDetail.detail(from: goods)
        let fromObject = try WeChatV2GoodsDetail.detail(from: .object(["goods_detail": goods]))
        let fromText = try WeChatV2GoodsDetail.detail(from: .string(#"{"goods_detail":\#(goods.description)}"#))
        #expect(fromList == fromObject)
        #expect(fromText == fromList)
        #expect(
            fromList
                == #"{"goods_detail":[{"goods_id":"iphone6s_16G","goods_name":"iPhone6s 16G","price":528800,"quantity":1,"wxpay_goods_id":"1001"},{"goods_id":"iphone6s_32G","price":608800,"quantity":1}]}"#
        )
        let withReceipt = try Self.decoded(
            WeChatV2GoodsDetail.detail(
                from: .object(["cost_price": .integer(608800), "receipt_id": .string("wx123"), "goods_detail": goods])))
        #expect(withReceipt["cost_price"] == .integer(608800))
        #expect(withReceipt["receipt_id"] == .string("wx123"))
        #expect(withReceipt["goods_detail"]?.arrayValue?.count == 2)
    }

    @Test(arguments: [
        JSONValue.array([]), .object(["goods": .array([])]), .string("not json"), .integer(3),
        .array([.object(["quantity": .integer(1), "price": .integer(1)])]),
        .array([.object(["goods_id": .string("a"), "quantity": .integer(0), "price": .integer(1)])]),
        .array([.object(["goods_id": .string("a"), "quantity": .integer(1), "price": .number(1.5)])]),
        .array([.object(["goods_id": .string("a"), "quantity": .integer(1), "price": .string("100")])]),
        .object([
            "goods_detail": .array([.object(["goods_id": .string("a"), "quantity": .integer(1), "price": .integer(1)])]
            ), "cost_price": .string("x"),
        ]),
    ])
    func badGoodsAreAnInvalidRequest(option: JSONValue) {
        do throws(ChannelError) {
            _ = try WeChatV2GoodsDetail.detail(from: option)
            Issue.record("accepted \(option)")
        } catch {
            #expect(error.code == .invalidRequest)
        }
    }
}
