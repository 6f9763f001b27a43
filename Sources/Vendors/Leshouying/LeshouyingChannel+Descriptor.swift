import Payments

extension LeshouyingChannel {
    /// `queryorder` answers `PAY_IN_PROCESS` both while a payer pays and for an order nobody has
    /// started to pay, so it says nothing about an active payer (see ``ChannelPolicy/payingMeansPayerActive``).
    static let defaultPolicy = ChannelPolicy(payingMeansPayerActive: false)

    /// The `leshouying` channel as the rest of PayFleet sees it.
    public static let descriptor = ChannelDescriptor(
        id: .leshouying,
        factory: ChannelDescriptor.factory(LeshouyingChannel.self),
        settings: [
            .required("inst_no"), .required("mch_no"), .optional("shop_no"), .optional("terminal_no"),
            .optional("appid"),
            .optional("environment"), .optional("api_base_url"), .optional("default_pay_type"), .optional("ack_format"),
            .optional("openid_field"), .optional("sign_case"), .optional("close_success"), .optional("timestamp_ms"),
            .requiredSecret("inst_key"),
        ],
        vendorMerchantIDSetting: "mch_no",
        demo: ChannelDescriptor.Demo(
            alias: "demo-leshouying", amountFen: 1880, account: sandboxDemoAccount,
            orderOptions: { _, _ in ["pay_type": .string("wechat"), "openid": .string("oDemoPayer0000000000000000001")]
            }),
        operatorTools: .parameterSigned(
            channel: .leshouying, apis: LeshouyingSigning.API.self, defaultAPI: .minipay, keyName: "the 机构密钥",
            explain: { parameters, api, key in LeshouyingSigning.explain(parameters, api: api, key: key) },
            verify: { body, key throws(CallbackError) in try LeshouyingCallback.verify(body, key: key) }),
        policy: defaultPolicy
    )
}
