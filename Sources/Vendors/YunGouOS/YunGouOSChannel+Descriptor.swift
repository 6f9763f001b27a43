import Payments

extension YunGouOSChannel {
    /// The timing rules before an account's `query_min_interval_seconds` (default 10 s) is applied.
    static let defaultPolicy = ChannelPolicy(minimumQueryInterval: .seconds(10))

    /// The `yungouos` channel as the rest of PayFleet sees it.
    public static let descriptor = ChannelDescriptor(
        id: .yungouos,
        factory: ChannelDescriptor.factory(YunGouOSChannel.self),
        settings: [
            .required("mch_id"), .optional("api_base_url"), .optional("app_id"), .optional("qr_type"),
            .optional("query_min_interval_seconds"), .optional("callback_key"),
            .requiredSecret("api_key"), .optionalSecret("alipay_key"),
        ],
        vendorMerchantIDSetting: "mch_id",
        demo: ChannelDescriptor.Demo(alias: "demo-yungouos", amountFen: 990, account: sandboxDemoAccount),
        operatorTools: .parameterSigned(
            channel: .yungouos, apis: YunGouOSSigning.API.self, defaultAPI: nil,
            keyName: "the key of the paid channel",
            explain: { parameters, api, key in YunGouOSSigning.explain(parameters, api: api, key: key) },
            verify: { body, key throws(CallbackError) in try YunGouOSCallback.verify(body) { _ in key } }),
        policy: defaultPolicy
    )
}
