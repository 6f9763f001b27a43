import Leshouying
import Payments
import StorePOS
import WeChatPay
import YunGouOS

/// The channels PayFleet has, one ``ChannelDescriptor`` each, in ``ChannelID`` order. A new channel
/// adds its descriptor here (a test checks the list equals `ChannelID.allCases`).
public enum ChannelCatalog {
    public static let all: [ChannelDescriptor] =
        WeChatPay.descriptors + [
            YunGouOSChannel.descriptor,
            LeshouyingChannel.descriptor,
            StorePOSChannel.descriptor,
        ]

    private static let byID: [ChannelID: ChannelDescriptor] = Dictionary(
        all.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })

    /// The descriptor of `channel`; `nil` only for a channel missing from ``all`` (which the tests forbid).
    public static func descriptor(_ channel: ChannelID) -> ChannelDescriptor? { byID[channel] }

    /// The demo accounts of every channel, pointing at a sandbox (`payfleet dev`, `payfleet sandbox`, the tests).
    public static func demoAccounts(sandboxBaseURL: String) -> [MerchantAccount] {
        all.map { $0.demo.account(sandboxBaseURL: sandboxBaseURL) }
    }
}
