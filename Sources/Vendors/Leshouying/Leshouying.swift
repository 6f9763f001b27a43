import Payments

/// The `leshouying` channel.
public enum Leshouying {
    public static let channel: ChannelID = .leshouying
}
