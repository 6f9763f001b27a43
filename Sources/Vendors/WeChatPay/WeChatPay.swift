import Payments

/// WeChat Pay: the v2 `unifiedorder` channel (`wechat-v2`) and the APIv3 combine Native channel (`wechat-v3-combine`).
public enum WeChatPay {
    public static let channels: [ChannelID] = [.wechatV2, .wechatV3Combine]
}
