import Foundation
import Kafka
import Logging
import Payments
import Testing

@testable import Fleet
@testable import WeChatPay

/// The ingress against genuinely signed callbacks of every channel (from the vendor sandbox) and
/// against forged, unsigned, tampered, wrong-key and stale variants of them.
@Suite("Ingress verifies callbacks of every channel before answering", .serialized, .timeLimit(.minutes(3)))
struct IngressVerificationTests {
    static func ingress(
        _ publisher: IngressRecordingPublisher, source: SignedCallbackSource,
        lookup: CallbackIngress.MerchantLookup? = nil
    ) -> CallbackIngress {
        let registry = source.registry
        return CallbackIngress(
            settings: IngressSettings(), publisher: publisher,
            logger: Logger(label: "ingress-test", factory: { _ in SwiftLogNoOpLogHandler() }),
            lookup: lookup ?? { registry.channel(for: $0) })
    }

    static func run(_ prefix: String) -> String {
        prefix + String(UInt32.random(in: 10_000_000...99_999_999))
    }

    @Test(
        "a genuine callback of every channel is written keyed by its order, then answered with the vendor's success; a broker failure answers failure"
    )
    func genuine() async throws {
        try await SignedCallbackSource.with { source in
            for channel in ChannelID.allCases {
                let captured = try await source.callback(channel, outTradeNo: Self.run("G"))
                let expected = try #require(source.registry.channel(for: captured.merchant)).acknowledgement

                let publisher = IngressRecordingPublisher(.delay(.milliseconds(50)))
                let result = await Self.ingress(publisher, source: source).handle(captured.request())
                #expect(result.outcome == .accepted, "\(channel): \(result)")
                #expect(result.reply == expected.success, "\(channel)")
                // Success is only answered after the publish returned: the record is already stored.
                let record = try #require(publisher.messages.first, "\(channel)")
                #expect(publisher.messages.count == 1)
                #expect(record.topic == FleetTopic.callbacks)
                #expect(record.key == Data(captured.outTradeNo.utf8), "\(channel)")
                #expect(record.value == Data(captured.body), "\(channel): the raw bytes, unchanged")

                let refused = await Self.ingress(IngressRecordingPublisher(.fail), source: source).handle(
                    captured.request())
                #expect(refused.outcome == .notDurable, "\(channel)")
                #expect(refused.reply == expected.failure, "\(channel)")
            }
        }
    }

    @Test(
        "forged (signed with a wrong key), unsigned and tampered callbacks of every channel get the failure answer and write nothing to payfleet.callbacks"
    )
    func forged() async throws {
        try await SignedCallbackSource.with { source in
            for channel in ChannelID.allCases {
                // Sandbox scenario …06: the vendor's callback is signed with a wrong key (v3: the signature is broken).
                let wrongKey = try await source.callback(channel, outTradeNo: Self.run("F"), amountFen: 1206)
                let genuine = try await source.callback(channel, outTradeNo: Self.run("U"))
                let failure = try #require(source.registry.channel(for: genuine.merchant)).acknowledgement.failure
                var variants: [(String, SignedCallbackSource.Captured)] = [("wrong key", wrongKey)]
                variants.append(("unsigned", Self.unsigned(genuine)))
                variants.append(("tampered", Self.tampered(genuine)))
                for (name, variant) in variants {
                    let publisher = IngressRecordingPublisher()
                    let result = await Self.ingress(publisher, source: source).handle(variant.request())
                    #expect(result.outcome == .rejected, "\(channel) \(name): \(result)")
                    #expect(result.reply == failure, "\(channel) \(name)")
                    #expect(!publisher.messages.contains { $0.topic == FleetTopic.callbacks }, "\(channel) \(name)")
                    #expect(publisher.messages.allSatisfy { $0.topic == "payfleet.dead-letters" }, "\(channel) \(name)")
                }
            }
        }
    }

    @Test("a WeChat APIv3 callback whose Wechatpay-Timestamp is more than 5 minutes off is refused as stale")
    func stale() async throws {
        try await SignedCallbackSource.with { source in
            let captured = try await source.callback(.wechatV3Combine, outTradeNo: Self.run("S"))
            let account = try #require(source.accounts[captured.merchant])
            let late = try WeChatCombineChannel(
                account: account, http: VendorHTTP(client: .shared, timeout: .seconds(5)),
                logger: Logger(label: "late", factory: { _ in SwiftLogNoOpLogHandler() }),
                now: { Date().addingTimeInterval(600) })
            let publisher = IngressRecordingPublisher()
            let result = await Self.ingress(publisher, source: source) { merchant -> (any PaymentChannel)? in
                merchant == captured.merchant ? late : nil
            }.handle(captured.request())
            #expect(result.outcome == .rejected)
            #expect(result.reason == "stale_timestamp")
            #expect(result.reply == late.acknowledgement.failure)
            #expect(!publisher.messages.contains { $0.topic == FleetTopic.callbacks })
        }
    }

    @Test(
        "a WeChat APIv3 callback naming an unknown certificate serial is a failure answer (WeChat retries), not an acceptance"
    )
    func unknownSerial() async throws {
        try await SignedCallbackSource.with { source in
            var captured = try await source.callback(.wechatV3Combine, outTradeNo: Self.run("K"))
            let name = try #require(captured.headers.keys.first { $0.lowercased() == "wechatpay-serial" })
            captured.headers[name] =
                "5157F09EFDC096DE15EBE81A47057A72" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
            let publisher = IngressRecordingPublisher()
            let result = await Self.ingress(publisher, source: source).handle(captured.request())
            #expect(result.outcome == .rejected)
            #expect(result.reason == "unknown_serial" || result.reason == "bad_signature", "\(result)")
            #expect(result.reply.status != 200 && result.reply.status != 204)
            #expect(!publisher.messages.contains { $0.topic == FleetTopic.callbacks })
        }
    }

    /// The callback without its signature.
    static func unsigned(_ captured: SignedCallbackSource.Captured) -> SignedCallbackSource.Captured {
        var copy = captured
        switch captured.channel {
        case .wechatV3Combine:
            copy.headers = captured.headers.filter { $0.key.lowercased() != "wechatpay-signature" }
        case .wechatV2:
            let text = String(decoding: captured.body, as: UTF8.self)
            copy.body = Array(
                text.replacingOccurrences(of: #"<sign>.*?</sign>"#, with: "", options: .regularExpression).utf8)
        case .leshouying:
            var object = (try? JSONSerialization.jsonObject(with: Data(captured.body))) as? [String: Any] ?? [:]
            object.removeValue(forKey: "sign")
            copy.body = Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
        case .yungouos, .storepos:
            let text = String(decoding: captured.body, as: UTF8.self)
            copy.body = Array(text.split(separator: "&").filter { !$0.hasPrefix("sign=") }.joined(separator: "&").utf8)
        }
        return copy
    }

    /// The callback with its amount (or, for APIv3, its encrypted resource) changed after signing.
    static func tampered(_ captured: SignedCallbackSource.Captured) -> SignedCallbackSource.Captured {
        var copy = captured
        let text = String(decoding: captured.body, as: UTF8.self)
        let changed: String
        switch captured.channel {
        case .wechatV3Combine:
            // One character of the ciphertext: the signature covers the body.
            guard let range = text.range(of: #""ciphertext":""#) else { return copy }
            var characters = Array(text)
            let index = text.distance(from: text.startIndex, to: range.upperBound) + 4
            characters[index] = characters[index] == "A" ? "B" : "A"
            changed = String(characters)
        case .wechatV2:
            changed = text.replacingOccurrences(
                of: "<total_fee><![CDATA[1200]]></total_fee>", with: "<total_fee><![CDATA[1]]></total_fee>")
        case .leshouying:
            changed = text.replacingOccurrences(of: "1200", with: "1")
        case .yungouos:
            changed = text.replacingOccurrences(of: "money=12.00", with: "money=0.01").replacingOccurrences(
                of: "total_fee=12.00", with: "total_fee=0.01")
        case .storepos:
            changed = text.replacingOccurrences(of: "total_fee=1200", with: "total_fee=1")
        }
        copy.body = Array(changed.utf8)
        return copy
    }
}
