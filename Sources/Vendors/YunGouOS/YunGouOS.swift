import Payments

/// The `yungouos` channel.
public enum YunGouOS {
    public static let channel: ChannelID = .yungouos
}
