/// Tunables of the callback ingress.
public struct IngressSettings: Sendable, Hashable {
    /// The longest the ingress waits for the broker's acknowledgement before answering the vendor's
    /// failure body (`PAYFLEET_INGRESS_ACK_TIMEOUT_MS`, default 2000). Vendors give up after 3–5 s.
    public var acknowledgementTimeout: Duration = .seconds(2)
    /// Largest accepted callback body (`PAYFLEET_INGRESS_MAX_BODY_BYTES`, default 1 MiB).
    public var maximumBodyBytes: Int = 1 << 20
    /// Topic raw callbacks are written to.
    public var callbacksTopic: String = CallbackRecord.topic
    /// Topic samples of rejected and unroutable callbacks are written to.
    public var deadLettersTopic: String = "payfleet.dead-letters"
    /// Rejected or unroutable callbacks written to dead-letters per merchant and minute
    /// (`PAYFLEET_INGRESS_REJECTED_SAMPLE_PER_MINUTE`, default 10; unconfigured merchants share one
    /// budget). The rest are only counted: they come from outside, in bulk if someone wants.
    public var rejectedSamplePerMinute: Int = 10
    /// The public port vendors send callbacks to (`PAYFLEET_INGRESS_PORT`, default 8081; 0 picks a
    /// free one). It answers `POST /notify/<channel>/<merchant>` and nothing else; probes and
    /// metrics stay on `PAYFLEET_HTTP_PORT`.
    public var port: Int = 8081
    /// The address the public port binds (`PAYFLEET_INGRESS_HOST`, default `PAYFLEET_HTTP_HOST`, else `0.0.0.0`).
    public var host: String = "0.0.0.0"

    public init() {}

    /// Reads `PAYFLEET_INGRESS_ACK_TIMEOUT_MS`, `PAYFLEET_INGRESS_MAX_BODY_BYTES`,
    /// `PAYFLEET_INGRESS_REJECTED_SAMPLE_PER_MINUTE`, `PAYFLEET_INGRESS_PORT` and `PAYFLEET_INGRESS_HOST`.
    public init(environment: [String: String]) throws(ConfigurationError) {
        if let raw = environment["PAYFLEET_INGRESS_REJECTED_SAMPLE_PER_MINUTE"], !raw.isEmpty {
            guard let count = Int(raw), (0...10_000).contains(count) else {
                throw ConfigurationError(
                    setting: "PAYFLEET_INGRESS_REJECTED_SAMPLE_PER_MINUTE", message: "must be 0-10000")
            }
            rejectedSamplePerMinute = count
        }
        if let raw = environment["PAYFLEET_INGRESS_PORT"], !raw.isEmpty {
            guard let port = Int(raw), (0...65535).contains(port) else {
                throw ConfigurationError(setting: "PAYFLEET_INGRESS_PORT", message: "must be a port number 0-65535")
            }
            self.port = port
        }
        if let host = environment["PAYFLEET_INGRESS_HOST"], !host.isEmpty {
            self.host = host
        } else if let host = environment["PAYFLEET_HTTP_HOST"], !host.isEmpty {
            self.host = host
        }
        if let raw = environment["PAYFLEET_INGRESS_ACK_TIMEOUT_MS"], !raw.isEmpty {
            guard let millis = Int(raw), (50...30_000).contains(millis) else {
                throw ConfigurationError(
                    setting: "PAYFLEET_INGRESS_ACK_TIMEOUT_MS", message: "must be 50-30000 milliseconds")
            }
            acknowledgementTimeout = .milliseconds(millis)
        }
        if let raw = environment["PAYFLEET_INGRESS_MAX_BODY_BYTES"], !raw.isEmpty {
            guard let bytes = Int(raw), (1024...(64 << 20)).contains(bytes) else {
                throw ConfigurationError(setting: "PAYFLEET_INGRESS_MAX_BODY_BYTES", message: "must be 1024-67108864")
            }
            maximumBodyBytes = bytes
        }
    }
}
