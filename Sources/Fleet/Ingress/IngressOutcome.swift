/// How the ingress answered one callback (a bounded metric label and a log word).
public enum IngressOutcome: String, Sendable, Hashable {
    /// Verified, durable in `payfleet.callbacks`; the vendor's success answer was sent.
    case accepted
    /// The callback did not verify (signature, timestamp, serial, decryption, merchant, format):
    /// nothing written but a bounded sample to dead-letters, failure answer.
    case rejected
    /// Unknown channel or merchant, merchant of another channel, oversized body: nothing written
    /// but a bounded sample to dead-letters, failure answer.
    case unroutable
    /// Verified, but the broker did not acknowledge in time (or refused): failure answer, the vendor retries.
    case notDurable = "not_durable"
}
