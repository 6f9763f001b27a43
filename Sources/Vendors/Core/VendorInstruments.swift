import Metrics
import Observability

/// The vendor clients' metrics: `payfleet_vendor_unmatched_messages_total{channel}`, vendor answer
/// messages no table entry explains (the order is queried later instead).
///
/// Built once from a `MetricsFactory`. The vendor answer parsers are static functions, so they
/// record through ``shared``, made from the process's metrics backend on first use (the roles
/// install the backend at start-up, before any vendor call).
public struct VendorInstruments: Sendable {
    /// The instruments of the process's metrics backend.
    public static let shared = VendorInstruments(factory: MetricsSystem.factory)

    private let unmatchedMessages: InstrumentFamily<ChannelID, Counter>

    public init(factory: any MetricsFactory) {
        unmatchedMessages = MetricDefinition.vendorUnmatchedMessages.counters(factory: factory) { (channel: ChannelID) in
            [channel.rawValue]
        }
    }

    /// One answer message of `channel` that no table entry explains.
    public func unmatchedMessage(channel: ChannelID) {
        unmatchedMessages[channel].increment()
    }
}
