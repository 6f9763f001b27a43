/// Where a role serves its probes, metrics (and, for the ingress, callbacks):
/// `PAYFLEET_HTTP_HOST` (default `0.0.0.0`) and `PAYFLEET_HTTP_PORT` (default 8080; 0 picks a free port).
public struct HTTPSettings: Sendable, Hashable {
    public var host: String = "0.0.0.0"
    public var port: Int = 8080

    public init(host: String = "0.0.0.0", port: Int = 8080) {
        self.host = host
        self.port = port
    }

    /// Reads `PAYFLEET_HTTP_HOST` and `PAYFLEET_HTTP_PORT`.
    public init(environment: [String: String]) throws(ConfigurationError) {
        if let host = environment["PAYFLEET_HTTP_HOST"], !host.isEmpty { self.host = host }
        if let raw = environment["PAYFLEET_HTTP_PORT"], !raw.isEmpty {
            guard let port = Int(raw), (0...65535).contains(port) else {
                throw ConfigurationError(setting: "PAYFLEET_HTTP_PORT", message: "must be a port number 0-65535")
            }
            self.port = port
        }
    }
}
