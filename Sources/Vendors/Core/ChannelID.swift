/// The five payment channels PayFleet speaks to. The raw value is the `channel` of an order request
/// and the `<channel>` segment of a callback URL.
public enum ChannelID: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case wechatV2 = "wechat-v2"
    case wechatV3Combine = "wechat-v3-combine"
    case yungouos
    case leshouying
    case storepos

    public var description: String { rawValue }
}
