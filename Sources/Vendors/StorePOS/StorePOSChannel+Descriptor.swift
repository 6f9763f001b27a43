import Payments

extension StorePOSChannel {
    /// The first query 5 s after a pending create, then every 5 s; an account's
    /// `pending_query_limit_seconds` (default 120) and `cancel_window_seconds` (default 300) tune the rest.
    static let defaultPolicy = ChannelPolicy(
        pendingFirstQuery: .seconds(5), pendingQueryInterval: .seconds(5), pendingQueryLimit: .seconds(120),
        closeMaximumAge: .seconds(300))

    /// The `storepos` channel as the rest of PayFleet sees it.
    public static let descriptor = ChannelDescriptor(
        id: .storepos,
        factory: ChannelDescriptor.factory(StorePOSChannel.self),
        settings: [
            .required("mch_id"), .required("agent_id"), .optional("pid"), .optional("version"),
            .optional("gateway_url"), .optional("bill_url"),
            .optional("default_pay_type"), .optional("default_trade_type"), .optional("sub_appid"),
            .optional("is_minipg"),
            .optional("op_user_id"), .optional("pending_query_limit_seconds"), .optional("cancel_window_seconds"),
            .optional("require_response_sign"), .optional("require_preorder_sign"), .optional("callback_key"),
            .requiredSecret("merchant_key"), .optionalSecret("agent_key"),
        ],
        vendorMerchantIDSetting: "mch_id",
        demo: ChannelDescriptor.Demo(
            alias: "demo-storepos", amountFen: 3300, account: sandboxDemoAccount,
            orderOptions: { _, _ in ["pay_type": .string("wechat")] }),
        operatorTools: .parameterSigned(
            channel: .storepos, apis: StorePOSSigning.API.self, defaultAPI: .preorder, keyName: "the 商户密钥",
            explain: { parameters, api, key in StorePOSSigning.explain(parameters, api: api, key: key) },
            verify: { body, key throws(CallbackError) in try StorePOSCallback.verify(body, key: key) }),
        policy: defaultPolicy
    )
}
