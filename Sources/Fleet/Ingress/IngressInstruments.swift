import Metrics
import Observability
import Payments

/// The ingress's instruments, built once per ingress from a `MetricsFactory`: callbacks by channel,
/// outcome and reason, the time to answer, refused callbacks not sampled, and dead letters.
public struct IngressInstruments: Sendable {
    private struct CallbackKey: Hashable, Sendable {
        /// `nil` for a notify URL naming no channel (`unknown`).
        var channel: ChannelID?
        var outcome: IngressOutcome
        /// Set for `rejected` (a `CallbackError.Kind` word) and `unroutable` (a `RejectionReason`
        /// word), as ``IngressResult/reason`` carries it; empty label otherwise.
        var reason: String?
    }

    private let callbacks: InstrumentFamily<CallbackKey, Counter>
    private let ackDuration: InstrumentFamily<ChannelID?, Metrics.Timer>
    private let samplesDropped: InstrumentFamily<String, Counter>
    private let deadLetters: InstrumentFamily<RejectionReason, Counter>

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        callbacks = MetricDefinition.ingressCallbacks.counters(factory: factory) { (key: CallbackKey) in
            [key.channel?.rawValue ?? "unknown", key.outcome.rawValue, key.reason ?? ""]
        }
        ackDuration = MetricDefinition.ingressAckDuration.timers(factory: factory) { (channel: ChannelID?) in
            [channel?.rawValue ?? "unknown"]
        }
        samplesDropped = MetricDefinition.ingressSamplesDropped.counters(factory: factory) { (reason: String) in
            [reason]
        }
        deadLetters = MetricDefinition.deadLetterCounters(role: .ingress, factory: factory)
    }

    /// One callback answered with `outcome` (and `reason` when refused) after `duration`.
    func answered(channel: ChannelID?, outcome: IngressOutcome, reason: String?, duration: Duration) {
        callbacks[CallbackKey(channel: channel, outcome: outcome, reason: reason)].increment()
        ackDuration[channel].record(duration: duration)
    }

    /// One refused callback not sampled to dead-letters (its merchant's budget was spent); `reason`
    /// is the word of ``IngressResult/reason``.
    func sampleDropped(reason: String) {
        samplesDropped[reason].increment()
    }

    /// One refused callback sampled to dead-letters.
    func deadLettered(reason: RejectionReason) {
        deadLetters[reason].increment()
    }
}
