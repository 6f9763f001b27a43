/// How the ingress answered one callback (a bounded metric label and a log word).
public enum IngressOutcome: String, Sendable, Hashable {
    /// Durable in `payfleet.callbacks`; the vendor's success answer was sent.
    case accepted
    /// No order key, unknown channel or merchant: sent to dead-letters, failure answer.
    case unroutable
    /// The broker did not acknowledge in time (or refused): failure answer, the vendor retries.
    case notDurable = "not_durable"
}
