import Payments

/// The `storepos` channel.
public enum StorePOS {
    public static let channel: ChannelID = .storepos
}
