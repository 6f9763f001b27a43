import Foundation
import Payments

extension WeChatPay {
    /// The two WeChat Pay channels as the rest of PayFleet sees them.
    public static let descriptors: [ChannelDescriptor] = [WeChatV2Channel.descriptor, WeChatCombineChannel.descriptor]

    /// WeChat refuses to close an order younger than 5 minutes.
    static let defaultPolicy = ChannelPolicy(closeMinimumAge: .seconds(300))
}

extension WeChatV2Channel {
    /// The `wechat-v2` channel as the rest of PayFleet sees it.
    public static let descriptor = ChannelDescriptor(
        id: .wechatV2,
        factory: ChannelDescriptor.factory(WeChatV2Channel.self),
        settings: [
            .required("appid"), .required("mch_id"), .optional("api_base_url"), .optional("backup_api_base_url"),
            .optional("sign_type"), .optional("trade_type"), .optional("spbill_create_ip"), .requiredSecret("api_key"),
            .optionalSecret("apiclient_cert"), .optionalSecret("apiclient_key"),
        ],
        vendorMerchantIDSetting: "mch_id",
        demo: ChannelDescriptor.Demo(
            alias: "demo-wechat-v2", amountFen: 1200, account: sandboxDemoAccount,
            orderOptions: { _, _ in ["trade_type": .string("NATIVE"), "product_id": .string("SKU1")] }),
        operatorTools: ChannelDescriptor.OperatorTools(
            signingAPIs: [], sign: signForOperator, verifyCallback: verifyForOperator),
        policy: WeChatPay.defaultPolicy
    )

    /// `payfleet sign --channel wechat-v2`: the `sign_type` is `--sign-type`, else the parameter, else MD5.
    static func signForOperator(
        _ request: ChannelDescriptor.OperatorTools.SignRequest
    ) throws(ChannelDescriptor.OperatorTools.Failure) -> ChannelDescriptor.OperatorTools.SignReport {
        let name = request.signType ?? request.parameters["sign_type"] ?? "MD5"
        guard let type = WeChatV2SignType(name: name) else { throw .usage("--sign-type must be MD5 or HMAC-SHA256") }
        var warnings: [String] = []
        if let declared = request.parameters["sign_type"], WeChatV2SignType(name: declared) != type {
            warnings.append(
                "warning: the sign_type parameter (\(declared)) differs from --sign-type \(type.rawValue); WeChat uses the parameter"
            )
        }
        let result = WeChatOperatorTools.signV2(request.parameters, key: request.key, signType: type)
        return .init(
            signature: result.signature,
            explanation: ["sign_type: \(type.rawValue)", "string to sign: \(result.explained)"],
            warnings: warnings)
    }

    /// `payfleet verify-callback --channel wechat-v2`: the notification's fields when its sign verifies with `--key`.
    static func verifyForOperator(
        _ request: ChannelDescriptor.OperatorTools.CallbackRequest
    ) throws(ChannelDescriptor.OperatorTools.Failure) -> [String] {
        guard let key = request.key else { throw .usage("wechat-v2 needs --key") }
        do throws(CallbackError) {
            let fields = try WeChatOperatorTools.verifyV2Callback(body: request.body, key: key)
            return fields.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }
        } catch {
            throw .rejected(error)
        }
    }
}

extension WeChatCombineChannel {
    /// The `wechat-v3-combine` channel as the rest of PayFleet sees it.
    public static let descriptor = ChannelDescriptor(
        id: .wechatV3Combine,
        factory: ChannelDescriptor.factory(WeChatCombineChannel.self),
        settings: [
            .required("combine_appid"), .required("combine_mchid"), .required("merchant_serial_no"),
            .optional("api_base_url"), .optional("backup_api_base_url"), .optional("wechatpay_public_key_id"),
            .optional("platform_certificates"), .optional("payer_client_ip"), .optional("sub_order_mchids"),
            .requiredSecret("merchant_private_key"), .requiredSecret("apiv3_key"),
            .optionalSecret("wechatpay_public_key"),
        ],
        vendorMerchantIDSetting: "combine_mchid",
        demo: ChannelDescriptor.Demo(
            alias: "demo-wechat-v3-combine", amountFen: 2500, account: sandboxDemoAccount, orderOptions: demoSubOrders),
        operatorTools: ChannelDescriptor.OperatorTools(
            signingAPIs: [],
            sign: { _ throws(ChannelDescriptor.OperatorTools.Failure) in
                throw .usage(
                    "wechat-v3-combine requests are signed with the merchant's RSA key per request (Authorization header), not with a parameter signature"
                )
            },
            verifyCallback: verifyForOperator),
        policy: WeChatPay.defaultPolicy
    )

    /// A combine order needs 2–10 sub-orders: the demo splits the amount in two.
    static func demoSubOrders(outTradeNo: String, amountFen: Int64) -> [String: JSONValue] {
        let first = amountFen / 2
        return [
            "sub_orders": .array([
                .object([
                    "out_trade_no": .string(outTradeNo + "A"), "amount_fen": .integer(first),
                    "description": .string("sub-order A"),
                ]),
                .object([
                    "out_trade_no": .string(outTradeNo + "B"), "amount_fen": .integer(amountFen - first),
                    "description": .string("sub-order B"),
                ]),
            ])
        ]
    }

    /// `payfleet verify-callback --channel wechat-v3-combine`: the decrypted resource JSON when the
    /// headers' signature verifies (±5 min around `now`) with the certificate or public key given.
    static func verifyForOperator(
        _ request: ChannelDescriptor.OperatorTools.CallbackRequest
    ) throws(ChannelDescriptor.OperatorTools.Failure) -> [String] {
        guard let headers = request.headers else { throw .usage("wechat-v3-combine needs --headers") }
        guard let apiV3Key = request.apiV3Key else { throw .usage("wechat-v3-combine needs --apiv3-key") }
        guard request.platformCertificatePEM != nil || request.publicKeyPEM != nil else {
            throw .usage("wechat-v3-combine needs --platform-cert or --public-key")
        }
        do throws(CallbackError) {
            let resource = try WeChatOperatorTools.verifyV3Callback(
                headers: headers, body: request.body, apiV3Key: apiV3Key,
                platformCertificatePEM: request.platformCertificatePEM, publicKeyPEM: request.publicKeyPEM,
                publicKeyID: request.publicKeyID, now: request.now)
            return [String(decoding: resource, as: UTF8.self)]
        } catch {
            throw .rejected(error)
        }
    }
}
