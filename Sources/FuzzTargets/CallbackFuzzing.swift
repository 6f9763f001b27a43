import Foundation
import Leshouying
import Payments
import StorePOS
import WeChatPay
import YunGouOS
import _CryptoExtras

/// The vendor callback targets. Every input goes through two paths:
///
/// - **as received**: the bytes are the body (for WeChat APIv3 they also carry valid
///   `Wechatpay-*` signature headers, since that signature covers the raw body), through
///   `callbackOrderKey` (what the ingress runs) and `verifyCallback` (what the worker runs);
/// - **signed**: when the product's own parser reads fields from the bytes, they are signed with
///   the demo merchant's key (for APIv3: the bytes are the resource, encrypted with the APIv3 key
///   into a notification signed with the WeChat Pay key) and verified again, so mutations reach
///   the field parsing behind the signature check.
///
/// Properties checked on every input: nothing traps; a callback that verifies names the same
/// order as the key the ingress partitions it by; a body signed with the merchant's key is never
/// refused as `bad_signature`; and what the product's XML and form encoders write, its decoders
/// read back unchanged.
enum CallbackFuzzing {
    static let receivedAt = Date(timeIntervalSince1970: 1_764_560_000)

    // MARK: WeChat Pay v2

    static func wechatV2(_ input: [UInt8]) async throws(FuzzFinding) -> FuzzOutcome {
        var outcome = FuzzOutcome()
        let target = FuzzTarget.wechatV2Callback
        let channels = FuzzChannels.shared
        let channel = channels.channel(.wechatV2)
        outcome.acceptedAsReceived =
            try await check(
                target, channel,
                RawCallback(body: input, headers: ["content-type": "text/xml"], receivedAt: receivedAt), signed: false)
            != nil

        guard var fields = try? WeChatXML.decode(input) else { return outcome }
        let encoded = WeChatXML.encode(fields)
        let decoded: [String: String]
        do throws(WeChatXML.DecodingError) {
            decoded = try WeChatXML.decode(encoded)
        } catch {
            throw FuzzFinding(target, "WeChatXML.encode wrote a document its decoder refuses: \(error.reason)")
        }
        guard decoded == fields else {
            throw FuzzFinding(target, "WeChatXML.decode(WeChatXML.encode(fields)) differs from fields")
        }
        fields["sign"] = nil
        let algorithm: WeChatV2SignType
        if let declared = fields["sign_type"], !declared.isEmpty {
            guard let named = WeChatV2SignType(name: declared) else { return outcome }
            algorithm = named
        } else {
            algorithm = .md5
        }
        fields["sign"] = algorithm.sign(fields, key: channels.secret(.wechatV2, "api_key"))
        let body = Array(WeChatXML.encode(fields).utf8)
        outcome.acceptedSigned =
            try await check(
                target, channel, RawCallback(body: body, headers: ["content-type": "text/xml"], receivedAt: receivedAt),
                signed: true) != nil
        return outcome
    }

    // MARK: WeChat Pay APIv3 combine

    static let v3Nonce = "fuzzNonce012"
    static let v3AssociatedData = "transaction"

    static func wechatV3(_ input: [UInt8]) async throws(FuzzFinding) -> FuzzOutcome {
        var outcome = FuzzOutcome()
        let target = FuzzTarget.wechatV3Notification
        let channel = FuzzChannels.shared.channel(.wechatV3Combine)
        // The bytes as the notification body, signed by WeChat.
        outcome.acceptedAsReceived =
            try await check(target, channel, try signedNotification(input, target: target), signed: true) != nil

        // The bytes as the decrypted resource, encrypted and signed as WeChat sends it.
        let ciphertext: String
        do throws(WeChatV3Crypto.Failure) {
            ciphertext = try WeChatV3Crypto.encrypt(
                apiV3Key: FuzzChannels.shared.secret(.wechatV3Combine, "apiv3_key"), nonce: v3Nonce,
                associatedData: v3AssociatedData, plaintext: input)
        } catch {
            throw FuzzFinding(target, "cannot encrypt a resource with the demo APIv3 key: \(error.reason)")
        }
        let envelope =
            #"{"id":"EV-2018022511223320873","create_time":"2026-11-22T10:31:05+08:00","#
            + #""resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"支付成功","#
            + #""resource":{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","#
            + #""ciphertext":"\#(ciphertext)","associated_data":"\#(v3AssociatedData)","nonce":"\#(v3Nonce)"}}"#
        outcome.acceptedSigned =
            try await check(
                target, channel, try signedNotification(Array(envelope.utf8), target: target), signed: true) != nil
        return outcome
    }

    /// A notification whose `Wechatpay-*` headers sign `body` with the WeChat Pay key, timestamped now.
    static func signedNotification(_ body: [UInt8], target: FuzzTarget) throws(FuzzFinding) -> RawCallback {
        let channels = FuzzChannels.shared
        let timestamp = String(Int64(Date().timeIntervalSince1970))
        let nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
        var message = Array("\(timestamp)\n\(nonce)\n".utf8)
        message += body
        message.append(UInt8(ascii: "\n"))
        let signature: String
        do throws(WeChatV3Crypto.Failure) {
            signature = try WeChatV3Crypto.sign(message, with: channels.platformKey)
        } catch {
            throw FuzzFinding(target, "cannot sign a notification with the WeChat Pay key: \(error.reason)")
        }
        return RawCallback(
            body: body,
            headers: [
                "Content-Type": "application/json", "Wechatpay-Serial": channels.platformKeyID,
                "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            ],
            receivedAt: receivedAt)
    }

    // MARK: YunGouOS

    static func yungouos(_ input: [UInt8]) async throws(FuzzFinding) -> FuzzOutcome {
        var outcome = FuzzOutcome()
        let target = FuzzTarget.yungouosCallback
        let channels = FuzzChannels.shared
        let channel = channels.channel(.yungouos)
        outcome.acceptedAsReceived = try await check(target, channel, formCallback(input), signed: false) != nil

        guard var fields = try? YunGouOSCallback.fields(input) else { return outcome }
        try formRoundTrip(target, fields)
        fields["sign"] = nil
        // The demo account verifies `payChannel=alipay` callbacks with its Alipay key, others with the API key.
        let key = channels.secret(.yungouos, fields["payChannel"] == "alipay" ? "alipay_key" : "api_key")
        fields["sign"] = YunGouOSSigning.sign(fields, api: .notify, key: key)
        outcome.acceptedSigned =
            try await check(target, channel, formCallback(Array(formBody(fields).utf8)), signed: true) != nil
        return outcome
    }

    // MARK: 乐收赢

    static func leshouying(_ input: [UInt8]) async throws(FuzzFinding) -> FuzzOutcome {
        var outcome = FuzzOutcome()
        let target = FuzzTarget.leshouyingCallback
        let channels = FuzzChannels.shared
        let channel = channels.channel(.leshouying)
        outcome.acceptedAsReceived = try await check(target, channel, jsonCallback(input), signed: false) != nil

        guard var object = LeshouyingSigning.object(input) else { return outcome }
        // Sign what the product reads back from the body it will get: write the body with a
        // placeholder signature, parse it with the product's parser, sign that, then put the
        // signature in place of the placeholder (JSON numbers need not survive a re-encoding).
        let placeholder = "PAYFLEETFUZZSIGNATUREPLACEHOLDER"
        object["sign"] = .string(placeholder)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let written = try? encoder.encode(object), let reparsed = LeshouyingSigning.object(Array(written)) else {
            return outcome
        }
        let signature = LeshouyingSigning.sign(
            LeshouyingSigning.flatten(reparsed), key: channels.secret(.leshouying, "inst_key"))
        let text = String(decoding: written, as: UTF8.self)
        guard text.components(separatedBy: placeholder).count == 2 else { return outcome }
        let body = Array(text.replacingOccurrences(of: placeholder, with: signature).utf8)
        outcome.acceptedSigned = try await check(target, channel, jsonCallback(body), signed: true) != nil
        return outcome
    }

    // MARK: storepos

    static func storepos(_ input: [UInt8]) async throws(FuzzFinding) -> FuzzOutcome {
        var outcome = FuzzOutcome()
        let target = FuzzTarget.storeposCallback
        let channels = FuzzChannels.shared
        let channel = channels.channel(.storepos)
        outcome.acceptedAsReceived = try await check(target, channel, formCallback(input), signed: false) != nil

        guard var fields = try? StorePOSCallback.fields(input) else { return outcome }
        try formRoundTrip(target, fields)
        fields["sign"] = nil
        fields["sign"] = StorePOSSigning.sign(fields, key: channels.secret(.storepos, "merchant_key"))
        outcome.acceptedSigned =
            try await check(target, channel, formCallback(Array(formBody(fields).utf8)), signed: true) != nil
        return outcome
    }

    // MARK: Shared

    static func formCallback(_ body: [UInt8]) -> RawCallback {
        RawCallback(body: body, headers: ["content-type": "application/x-www-form-urlencoded"], receivedAt: receivedAt)
    }

    static func jsonCallback(_ body: [UInt8]) -> RawCallback {
        RawCallback(body: body, headers: ["content-type": "application/json"], receivedAt: receivedAt)
    }

    static func formBody(_ fields: [String: String]) -> String {
        FormEncoding.encode(
            fields.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }.map {
                ($0.key, $0.value)
            })
    }

    /// What `FormEncoding.encode` writes, `FormEncoding.decode` reads back unchanged.
    static func formRoundTrip(_ target: FuzzTarget, _ fields: [String: String]) throws(FuzzFinding) {
        guard FormEncoding.decode(formBody(fields)) == fields else {
            throw FuzzFinding(target, "FormEncoding.decode(FormEncoding.encode(fields)) differs from fields")
        }
    }

    /// Runs a callback through the ingress's and the worker's entry points and checks their agreement.
    ///
    /// - Parameter signed: whether the callback carries a valid signature by the merchant's key, so
    ///   that `bad_signature` would be wrong.
    @discardableResult
    static func check(
        _ target: FuzzTarget, _ channel: any PaymentChannel, _ callback: RawCallback, signed: Bool
    ) async throws(FuzzFinding) -> VerifiedCallback? {
        let key: String?
        do throws(CallbackError) {
            key = try channel.callbackOrderKey(callback)
        } catch {
            key = nil
        }
        let verified: VerifiedCallback
        do throws(CallbackError) {
            verified = try await channel.verifyCallback(callback)
        } catch {
            if signed && error.kind == .badSignature {
                throw FuzzFinding(target, "a body signed with the merchant's key was refused: \(error.message)")
            }
            return nil
        }
        guard let key else {
            throw FuzzFinding(target, "the callback verifies but callbackOrderKey finds no order in it")
        }
        guard key == verified.outTradeNo else {
            throw FuzzFinding(
                target,
                "callbackOrderKey gives \"\(key.prefix(64))\" but the verified callback names \"\(verified.outTradeNo.prefix(64))\""
            )
        }
        return verified
    }
}
