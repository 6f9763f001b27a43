import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Payments
import ServiceLifecycle
import Testing
import _CryptoExtras

@testable import WeChatPay

/// A scripted stand-in for WeChat on 127.0.0.1 that answers whatever a test sets, to drive every
/// malformed-answer path of the clients (the sandbox only produces well-formed faults).
final class ScriptedServer: Sendable {
    struct Answer: Sendable {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    let answer = NIOLockedValueBox(Answer(status: 200, headers: [:], body: []))

    static func with(_ body: (ScriptedServer, String) async throws -> Void) async throws {
        let server = ScriptedServer()
        let port = NIOLockedValueBox<Int?>(nil)
        let router = Router()
        router.on("/**", method: .post) { _, _ in server.response() }
        router.on("/**", method: .get) { _, _ in server.response() }
        let logger = Logger(label: "scripted", factory: { _ in SwiftLogNoOpLogHandler() })
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLockedValue { $0 = channel.localAddress?.port } }, logger: logger
        )
        let group = ServiceGroup(services: [app], logger: logger)
        let running = Task { try await group.run() }
        var bound: Int?
        for _ in 0..<500 {
            bound = port.withLockedValue { $0 }
            if bound != nil { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard let bound else { throw HarnessError(message: "scripted server did not start") }
        do {
            try await body(server, "http://127.0.0.1:\(bound)")
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    func set(status: Int = 200, headers: [String: String] = [:], body: String) {
        answer.withLockedValue { $0 = Answer(status: status, headers: headers, body: Array(body.utf8)) }
    }

    func response() -> Response {
        let answer = self.answer.withLockedValue { $0 }
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        return Response(
            status: .init(code: answer.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }
}

@Suite(.timeLimit(.minutes(1))) struct WeChatMalformedAnswerTests {
    static let http = VendorHTTP(client: HTTPClient.shared, timeout: .seconds(5))
    static let logger = Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })
    static let key = Secret("sandboxDemoApiKeyNotARealKey0000")

    static func v2Signed(_ fields: [String: String]) -> String {
        var fields = fields
        fields["sign"] = WeChatV2SignType.hmacSHA256.sign(fields, key: key)
        return WeChatXML.encode(fields)
    }

    static let base = [
        "return_code": "SUCCESS", "appid": "wx00000000sandbox", "mch_id": "1900000109", "nonce_str": "n",
    ]

    static func errorCode(
        _ operation: () async throws(Payments.ChannelError) -> Void
    ) async -> Payments.ChannelError.Code? {
        do throws(Payments.ChannelError) {
            try await operation()
            return nil
        } catch {
            return error.code
        }
    }

    @Test func v2AnswersThatAreNotSuccesses() async throws {
        try await ScriptedServer.with { server, url in
            let account = WeChatV2Channel.sandboxDemoAccount(alias: "s", sandboxBaseURL: url)
            var single = account
            single.settings["backup_api_base_url"] = "none"
            let channel = try WeChatV2Channel(account: single, http: Self.http, logger: Self.logger)
            let order = PaymentOrder(
                outTradeNo: "M1", amount: Money(fen: 100), description: "d", createdAt: Date().addingTimeInterval(-600),
                notifyURL: "https://pay.example.com/notify/wechat-v2/s")
            let reference = OrderReference(order: order)
            let create: () async throws(Payments.ChannelError) -> Void = { () async throws(Payments.ChannelError) in
                _ = try await channel.create(order)
            }
            let query: () async throws(Payments.ChannelError) -> Void = { () async throws(Payments.ChannelError) in
                _ = try await channel.query(reference)
            }

            server.set(
                body: Self.v2Signed(Self.base.merging(["result_code": "SUCCESS", "trade_type": "NATIVE"]) { $1 }))
            #expect(await Self.errorCode(create) == .badResponse)  // no prepay_id
            server.set(body: Self.v2Signed(Self.base.merging(["result_code": "SUCCESS", "prepay_id": "wx1"]) { $1 }))
            #expect(await Self.errorCode(create) == .badResponse)  // NATIVE without code_url
            server.set(body: Self.v2Signed(Self.base))
            #expect(await Self.errorCode(create) == .badResponse)  // no result_code
            var unsigned = Self.base
            unsigned["result_code"] = "SUCCESS"
            unsigned["prepay_id"] = "wx1"
            unsigned["code_url"] = "weixin://x"
            server.set(body: WeChatXML.encode(unsigned))
            #expect(await Self.errorCode(create) == .badResponse)  // not signed
            server.set(body: Self.v2Signed(unsigned.merging(["mch_id": "1900000999"]) { $1 }))
            #expect(await Self.errorCode(create) == .badResponse)  // another merchant
            server.set(body: "<xml><return_code>SUCCESS</return_code>")
            #expect(await Self.errorCode(create) == .badResponse)  // truncated XML
            server.set(status: 502, body: "bad gateway")
            #expect(await Self.errorCode(create) == .vendorUnavailable)
            server.set(body: WeChatXML.encode(["return_code": "FAIL", "return_msg": "签名错误"]))
            #expect(await Self.errorCode(create) == .vendorRejected)
            server.set(
                body: Self.v2Signed(
                    Self.base.merging(["result_code": "FAIL", "err_code": "SIGNERROR", "err_code_des": "签名错误"]) { $1 }))
            #expect(await Self.errorCode(create) == .vendorRejected)

            server.set(
                body: Self.v2Signed(
                    Self.base.merging(["result_code": "SUCCESS", "out_trade_no": "M1", "trade_state": "WEIRD"]) { $1 }))
            #expect(await Self.errorCode(query) == .badResponse)  // unknown trade_state
            server.set(
                body: Self.v2Signed(
                    Self.base.merging(["result_code": "SUCCESS", "out_trade_no": "M2", "trade_state": "NOTPAY"]) { $1 })
            )
            #expect(await Self.errorCode(query) == .badResponse)  // another order
            server.set(
                body: Self.v2Signed(
                    Self.base.merging([
                        "result_code": "SUCCESS", "out_trade_no": "M1", "trade_state": "SUCCESS", "total_fee": "1.00",
                    ]) { $1 }))
            #expect(await Self.errorCode(query) == .badResponse)  // paid without a valid amount / transaction id
            server.set(
                body: Self.v2Signed(Self.base.merging(["result_code": "FAIL", "err_code": "SYSTEMERROR"]) { $1 }))
            #expect(await Self.errorCode(query) == .vendorUnavailable)
            server.set(
                body: Self.v2Signed(
                    Self.base.merging([
                        "result_code": "SUCCESS", "out_trade_no": "M1", "trade_state": "PAYERROR",
                        "trade_state_desc": "支付失败",
                    ]) { $1 }))
            #expect(try await channel.query(reference) == .failed(VendorFailure(code: "PAYERROR", message: "支付失败")))
            server.set(
                body: Self.v2Signed(Self.base.merging(["result_code": "FAIL", "err_code": "SYSTEMERROR"]) { $1 }))
            #expect(
                await Self.errorCode({ () async throws(Payments.ChannelError) in
                    _ = try await channel.close(reference)
                }) == .vendorUnavailable)
        }
    }

    @Test func v3AnswersThatAreNotSuccesses() async throws {
        try await ScriptedServer.with { server, url in
            let platform = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            var account = WeChatCombineChannel.sandboxDemoAccount(alias: "s", sandboxBaseURL: url)
            account.settings["backup_api_base_url"] = "none"
            account.settings["platform_certificates"] = "off"
            account.settings["wechatpay_public_key_id"] = "PUB_KEY_ID_TEST"
            account.secrets["wechatpay_public_key"] = Secret(platform.publicKey.pemRepresentation)
            let channel = try WeChatCombineChannel(account: account, http: Self.http, logger: Self.logger)
            func sign(
                _ body: String, status: Int = 200, serial: String = "PUB_KEY_ID_TEST",
                timestamp: Int64 = Int64(Date().timeIntervalSince1970)
            ) throws {
                let message = Array("\(timestamp)\nN\n\(body)\n".utf8)
                server.set(
                    status: status,
                    headers: [
                        "Wechatpay-Serial": serial, "Wechatpay-Timestamp": "\(timestamp)", "Wechatpay-Nonce": "N",
                        "Wechatpay-Signature": try WeChatV3Crypto.sign(message, with: platform),
                        "Content-Type": "application/json",
                    ], body: body)
            }
            let subs: JSONValue = .array([
                .object(["out_trade_no": .string("SUB00001"), "amount_fen": .integer(1), "description": .string("a")]),
                .object(["out_trade_no": .string("SUB00002"), "amount_fen": .integer(2), "description": .string("b")]),
            ])
            let order = PaymentOrder(
                outTradeNo: "COMBINE1", amount: Money(fen: 3), description: "d",
                createdAt: Date().addingTimeInterval(-600),
                notifyURL: "https://pay.example.com/notify/wechat-v3-combine/s", options: ["sub_orders": subs])
            let create: () async throws(Payments.ChannelError) -> Void = { () async throws(Payments.ChannelError) in
                _ = try await channel.create(order)
            }
            let query: () async throws(Payments.ChannelError) -> Void = { () async throws(Payments.ChannelError) in
                _ = try await channel.query(OrderReference(order: order))
            }

            try sign(#"{"prepay":"x"}"#)
            #expect(await Self.errorCode(create) == .badResponse)  // no code_url
            try sign(#"{"code_url":"weixin://x"}"#, timestamp: Int64(Date().timeIntervalSince1970) - 600)
            #expect(await Self.errorCode(create) == .badResponse)  // stale signature
            try sign(#"{"code_url":"weixin://x"}"#, serial: "PUB_KEY_ID_OTHER")
            #expect(await Self.errorCode(create) == .badResponse)  // unknown serial
            server.set(body: #"{"code_url":"weixin://x"}"#)
            #expect(await Self.errorCode(create) == .badResponse)  // unsigned
            try sign(#"{"code":"FREQUENCY_LIMITED","message":"频率超限"}"#, status: 429)
            #expect(await Self.errorCode(create) == .rateLimited)
            try sign(#"{"code":"PARAM_ERROR","message":"参数错误"}"#, status: 400)
            #expect(try await channel.create(order) == .failed(VendorFailure(code: "PARAM_ERROR", message: "参数错误")))
            try sign(#"{"code":"SYSTEM_ERROR","message":"系统错误"}"#, status: 500)
            #expect(try await channel.create(order) == .pending(.needQuery, memo: [:]))
            server.set(status: 502, body: "bad gateway")
            #expect(await Self.errorCode(query) == .vendorUnavailable)  // an unsigned gateway 5xx

            try sign(#"{"combine_mchid":"1900000209","combine_out_trade_no":"COMBINE1"}"#)
            #expect(await Self.errorCode(query) == .badResponse)  // no sub_orders
            try sign(
                #"{"combine_mchid":"1900000209","combine_out_trade_no":"COMBINE1","sub_orders":[{"mchid":"1900000209","trade_state":"SUCCESS","out_trade_no":"SUB00001","amount":{"total_amount":1}},{"mchid":"1900000209","trade_state":"SUCCESS","out_trade_no":"SUB00002","transaction_id":"4200","amount":{"total_amount":2}}]}"#
            )
            #expect(await Self.errorCode(query) == .badResponse)  // paid sub-order without transaction_id
            try sign(
                #"{"combine_mchid":"1900000209","combine_out_trade_no":"COMBINE1","sub_orders":[{"mchid":"1900000209","trade_state":"NOTPAY","out_trade_no":"SUB00009","amount":{"total_amount":1}},{"mchid":"1900000209","trade_state":"NOTPAY","out_trade_no":"SUB00002","amount":{"total_amount":2}}]}"#
            )
            // Other sub-orders than the order's are reported as they are: the order machine compares
            // every sub-order of a payment with the order and makes a mismatch an anomaly.
            #expect(try await channel.query(OrderReference(order: order)) == .notPaid)
            try sign(
                #"{"combine_mchid":"1900000209","combine_out_trade_no":"COMBINE1","sub_orders":[{"mchid":"1900000209","trade_state":"MAYBE","out_trade_no":"SUB00001","amount":{"total_amount":1}},{"mchid":"1900000209","trade_state":"NOTPAY","out_trade_no":"SUB00002","amount":{"total_amount":2}}]}"#
            )
            #expect(await Self.errorCode(query) == .badResponse)  // unknown trade_state
            try sign(
                #"{"combine_mchid":"1900000209","combine_out_trade_no":"COMBINE1","sub_orders":[{"mchid":"1900000209","trade_state":"SUCCESS","transaction_id":"4201","out_trade_no":"SUB00001","amount":{"total_amount":1}},{"mchid":"1900000209","trade_state":"NOTPAY","out_trade_no":"SUB00002","amount":{"total_amount":2}}]}"#
            )
            #expect(try await channel.query(OrderReference(order: order)) == .paying)  // not every sub-order paid yet
            try sign("not json")
            #expect(await Self.errorCode(query) == .badResponse)
        }
    }
}
