/// How the vendor sandbox runs.
public struct SandboxConfiguration: Sendable {
    /// Address to listen on. Loopback by default.
    public var host: String = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (read it from ``VendorSandbox/boundPort()``).
    public var port: Int = 0
    /// Multiplies every vendor delay (callback retry schedules, slow answers): 1 is real time,
    /// 0.001 turns WeChat's 15 s first retry into 15 ms.
    public var timeScale: Double = 1
    /// Pay every order this long after it was created (unless its scenario is `neverPaid`); `nil` waits for `/_sandbox/pay`.
    public var autopayAfter: Duration? = nil
    /// How long a `timeout`-scenario create takes to answer (before time scaling is *not* applied: it must outlast the client).
    public var slowAnswer: Duration = .seconds(15)
    /// The merchant accounts the sandbox knows, with the keys it verifies requests with.
    public var merchants: [SandboxMerchant] = []

    public init() {}

    /// Scales a vendor delay by ``timeScale``.
    public func scaled(_ duration: Duration) -> Duration {
        duration * timeScale
    }
}

/// A merchant account at a simulated vendor: the ids and keys the vendor side holds.
///
/// `settings` and `secrets` use the same names as the client side's merchant account of the same
/// channel, so one merchants file configures both.
public struct SandboxMerchant: Sendable {
    /// `wechat-v2`, `wechat-v3-combine`, `yungouos`, `leshouying` or `storepos`.
    public var channel: String
    public var settings: [String: String]
    public var secrets: [String: String]

    public init(channel: String, settings: [String: String], secrets: [String: String]) {
        self.channel = channel
        self.settings = settings
        self.secrets = secrets
    }
}
