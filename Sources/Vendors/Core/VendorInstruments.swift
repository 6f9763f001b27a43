import Metrics
import Observability
import Synchronization

/// The vendor clients' metrics: `payfleet_vendor_unmatched_messages_total{channel}`, vendor answer
/// messages no table entry explains (the order is queried later instead).
///
/// Built once from a `MetricsFactory`. The vendor answer parsers are static functions, so they
/// record through ``shared``: the instruments of the process's metrics backend, made on the first
/// use after the backend was installed (the roles install it at start-up, before any vendor call).
public struct VendorInstruments: Sendable {
    private static let installed = Mutex<VendorInstruments?>(nil)

    /// The instruments of the process's metrics backend. Until a backend is installed there is
    /// nothing to record to, and nothing is cached, so a backend installed later is used.
    public static var shared: VendorInstruments {
        installed.withLock { installed in
            if let existing = installed { return existing }
            let factory = MetricsSystem.factory
            let instruments = VendorInstruments(factory: factory)
            if !(factory is NOOPMetricsHandler) { installed = instruments }
            return instruments
        }
    }

    private let unmatchedMessages: InstrumentFamily<ChannelID, Counter>

    public init(factory: any MetricsFactory) {
        unmatchedMessages = MetricDefinition.vendorUnmatchedMessages.counters(factory: factory) {
            (channel: ChannelID) in
            [channel.rawValue]
        }
    }

    /// One answer message of `channel` that no table entry explains.
    public func unmatchedMessage(channel: ChannelID) {
        unmatchedMessages[channel].increment()
    }
}
