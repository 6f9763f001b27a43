/// Tunables of the callback ingress.
public struct IngressSettings: Sendable, Hashable {
    /// The longest the ingress waits for the broker's acknowledgement before answering the vendor's
    /// failure body (`PAYFLEET_INGRESS_ACK_TIMEOUT_MS`, default 2000). Vendors give up after 3–5 s.
    public var acknowledgementTimeout: Duration = .seconds(2)
    /// Largest accepted callback body (`PAYFLEET_INGRESS_MAX_BODY_BYTES`, default 1 MiB).
    public var maximumBodyBytes: Int = 1 << 20
    /// Topic raw callbacks are written to.
    public var callbacksTopic: String = CallbackRecord.topic
    /// Topic unroutable callbacks are written to.
    public var deadLettersTopic: String = "payfleet.dead-letters"

    public init() {}

    /// Reads `PAYFLEET_INGRESS_ACK_TIMEOUT_MS` and `PAYFLEET_INGRESS_MAX_BODY_BYTES`.
    public init(environment: [String: String]) throws(RuntimeConfigurationError) {
        if let raw = environment["PAYFLEET_INGRESS_ACK_TIMEOUT_MS"], !raw.isEmpty {
            guard let millis = Int(raw), (50...30_000).contains(millis) else {
                throw RuntimeConfigurationError(variable: "PAYFLEET_INGRESS_ACK_TIMEOUT_MS", message: "must be 50-30000 milliseconds")
            }
            acknowledgementTimeout = .milliseconds(millis)
        }
        if let raw = environment["PAYFLEET_INGRESS_MAX_BODY_BYTES"], !raw.isEmpty {
            guard let bytes = Int(raw), (1024...(64 << 20)).contains(bytes) else {
                throw RuntimeConfigurationError(variable: "PAYFLEET_INGRESS_MAX_BODY_BYTES", message: "must be 1024-67108864")
            }
            maximumBodyBytes = bytes
        }
    }
}
