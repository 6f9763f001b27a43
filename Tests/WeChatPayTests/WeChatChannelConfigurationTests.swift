import AsyncHTTPClient
import Foundation
import Logging
import Payments
import Testing

@testable import WeChatPay

@Suite struct WeChatChannelConfigurationTests {
    static let http = VendorHTTP(client: HTTPClient.shared)
    static let logger = Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })

    static func v2Account() -> MerchantAccount {
        WeChatV2Channel.sandboxDemoAccount(alias: "shop", sandboxBaseURL: "http://127.0.0.1:1")
    }

    static func error(_ build: () throws(ChannelError) -> Void) -> ChannelError? {
        do throws(ChannelError) {
            try build()
            return nil
        } catch {
            return error
        }
    }

    @Test func missingOrBadSettingsNameTheSettingNeverTheValue() {
        var account = Self.v2Account()
        account.secrets["api_key"] = nil
        let missing = Self.error { () throws(ChannelError) in
            _ = try WeChatV2Channel(account: account, http: Self.http, logger: Self.logger)
        }
        #expect(missing?.code == .configuration)
        #expect(missing?.message.contains("'api_key'") == true)

        account = Self.v2Account()
        account.secrets["api_key"] = Secret("tooShortSecretValue")
        let short = Self.error { () throws(ChannelError) in
            _ = try WeChatV2Channel(account: account, http: Self.http, logger: Self.logger)
        }
        #expect(short?.code == .configuration)
        #expect(short?.description.contains("tooShortSecretValue") == false)

        account = Self.v2Account()
        account.settings["sign_type"] = "SHA1"
        #expect(
            Self.error { () throws(ChannelError) in
                _ = try WeChatV2Channel(account: account, http: Self.http, logger: Self.logger)
            }?.code == .configuration)

        var v3 = WeChatCombineChannel.sandboxDemoAccount(alias: "c", sandboxBaseURL: "http://127.0.0.1:1")
        v3.secrets["merchant_private_key"] = Secret(
            "-----BEGIN PRIVATE KEY-----\nsecretgarbage\n-----END PRIVATE KEY-----")
        let badKey = Self.error { () throws(ChannelError) in
            _ = try WeChatCombineChannel(account: v3, http: Self.http, logger: Self.logger)
        }
        #expect(badKey?.code == .configuration)
        #expect(badKey?.description.contains("secretgarbage") == false)

        v3 = WeChatCombineChannel.sandboxDemoAccount(alias: "c", sandboxBaseURL: "http://127.0.0.1:1")
        v3.settings["platform_certificates"] = "off"
        #expect(
            Self.error { () throws(ChannelError) in
                _ = try WeChatCombineChannel(account: v3, http: Self.http, logger: Self.logger)
            }?.code == .configuration)
        v3.settings["wechatpay_public_key_id"] = "PUB_KEY_ID_1"
        #expect(
            Self.error { () throws(ChannelError) in
                _ = try WeChatCombineChannel(account: v3, http: Self.http, logger: Self.logger)
            }?.message.contains("'wechatpay_public_key'") == true)
    }

    @Test func acknowledgementsAreExact() {
        #expect(
            WeChatV2Channel.acknowledgement.success.body
                == "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>")
        #expect(WeChatV2Channel.acknowledgement.success.status == 200)
        #expect(WeChatCombineChannel.acknowledgement.success.status == 204)
        #expect(WeChatCombineChannel.acknowledgement.failure.status == 500)
        #expect(WeChatCombineChannel.acknowledgement.failure.body == #"{"code":"FAIL","message":"失败"}"#)
    }

    static func notification(
        _ edit: (inout [String: String]) -> Void = { _ in }, key: String = "sandboxDemoApiKeyNotARealKey0000"
    ) -> RawCallback {
        var fields = [
            "return_code": "SUCCESS", "appid": "wx00000000sandbox", "mch_id": "1900000109", "nonce_str": "N",
            "result_code": "SUCCESS", "openid": "o1", "trade_type": "NATIVE", "bank_type": "OTHERS", "total_fee": "101",
            "cash_fee": "101", "fee_type": "CNY", "transaction_id": "4200000000000000000000000001",
            "out_trade_no": "ORDER1", "time_end": "20261122103000", "sign_type": "HMAC-SHA256",
        ]
        edit(&fields)
        if fields["sign"] == nil, let type = WeChatV2SignType(name: fields["sign_type"] ?? "MD5") {
            fields["sign"] = type.sign(fields, key: Secret(key))
        }
        return RawCallback(
            body: Array(WeChatXML.encode(fields).utf8), headers: ["Content-Type": "text/xml"], receivedAt: Date())
    }

    static func callbackKind(_ callback: RawCallback) async -> CallbackError.Kind? {
        do {
            let channel = try WeChatV2Channel(account: v2Account(), http: http, logger: logger)
            _ = try await channel.verifyCallback(callback)
            return nil
        } catch let error as CallbackError {
            return error.kind
        } catch {
            return nil
        }
    }

    @Test func v2CallbackVerifiesAndParses() async throws {
        let channel = try WeChatV2Channel(account: Self.v2Account(), http: Self.http, logger: Self.logger)
        let verified = try await channel.verifyCallback(Self.notification())
        #expect(verified.outTradeNo == "ORDER1")
        #expect(verified.amount == Money(fen: 101))
        guard case .succeeded(let details) = verified.status else {
            Issue.record("not succeeded")
            return
        }
        #expect(details.paidAt == ChinaTime.parse("20261122103000", "yyyyMMddHHmmss"))
        #expect(try channel.callbackOrderKey(Self.notification()) == "ORDER1")
        let failed = try await channel.verifyCallback(
            Self.notification {
                $0["result_code"] = "FAIL"
                $0["err_code"] = "PAYERROR"
            })
        #expect(failed.status == .failed(VendorFailure(code: "PAYERROR", message: "payment failed")))
        let md5 = try await channel.verifyCallback(Self.notification { $0["sign_type"] = nil })
        #expect(md5.outTradeNo == "ORDER1")
    }

    @Test func v2CallbackMalformedInputsAreTyped() async {
        #expect(await Self.callbackKind(Self.notification(key: "0123456789abcdef0123456789abcdef")) == .badSignature)
        #expect(await Self.callbackKind(Self.notification { $0["sign"] = "" }) == .badSignature)
        #expect(await Self.callbackKind(Self.notification { $0["mch_id"] = "1900000999" }) == .wrongMerchant)
        #expect(await Self.callbackKind(Self.notification { $0["out_trade_no"] = nil }) == .malformed)
        #expect(
            await Self.callbackKind(
                Self.notification {
                    $0["sign_type"] = "RSA"
                    $0["sign"] = "X"
                }) == .malformed)
        var tampered = Self.notification()
        tampered.body = Array(
            String(decoding: tampered.body, as: UTF8.self).replacingOccurrences(
                of: "<total_fee>101</total_fee>", with: "<total_fee>1</total_fee>"
            ).utf8)
        #expect(await Self.callbackKind(tampered) == .badSignature)
        let garbage = RawCallback(body: Array("{\"not\":\"xml\"}".utf8), headers: [:], receivedAt: Date())
        #expect(await Self.callbackKind(garbage) == .malformed)
        let xxe = RawCallback(
            body: Array(
                "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><out_trade_no>&x;</out_trade_no></xml>"
                    .utf8), headers: [:], receivedAt: Date())
        #expect(await Self.callbackKind(xxe) == .malformed)
        #expect(throws: CallbackError.self) {
            try WeChatV2Channel(account: Self.v2Account(), http: Self.http, logger: Self.logger).callbackOrderKey(xxe)
        }
    }

    @Test func v3CallbackEnvelopeErrorsAreTyped() throws {
        let key = Secret("sandboxDemoApiV3KeyNotRealKey000")
        func kind(_ body: String) -> CallbackError.Kind? {
            do throws(CallbackError) {
                _ = try WeChatCombineChannel.decryptNotification(Array(body.utf8), apiV3Key: key)
                return nil
            } catch {
                return error.kind
            }
        }
        let plain = Array(#"{"combine_mchid":"1900000209","combine_out_trade_no":"C1","sub_orders":[]}"#.utf8)
        let ciphertext = try WeChatV3Crypto.encrypt(
            apiV3Key: key, nonce: "abcdefghijkl", associatedData: "transaction", plaintext: plain)
        func envelope(_ ciphertext: String, algorithm: String = "AEAD_AES_256_GCM") -> String {
            #"{"id":"1","event_type":"TRANSACTION.SUCCESS","resource":{"algorithm":"\#(algorithm)","ciphertext":"\#(ciphertext)","associated_data":"transaction","nonce":"abcdefghijkl"}}"#
        }
        #expect(kind(envelope(ciphertext)) == nil)
        #expect(kind(envelope(String(ciphertext.dropLast(8)))) == .decryptionFailed)  // truncated
        #expect(kind(envelope("AAAA")) == .decryptionFailed)  // shorter than the tag
        #expect(kind(envelope(ciphertext, algorithm: "SM4")) == .malformed)
        #expect(kind("{\"id\":1}") == .malformed)
        #expect(kind("not json") == .malformed)
        let garbagePlain = try WeChatV3Crypto.encrypt(
            apiV3Key: key, nonce: "abcdefghijkl", associatedData: "transaction", plaintext: Array("[1,2]".utf8))
        #expect(kind(envelope(garbagePlain)) == .malformed)
    }
}
