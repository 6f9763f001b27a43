/// The timing rules of one vendor, which the worker's timers follow.
public struct ChannelPolicy: Sendable, Hashable {
    /// Delay before the first query of an order whose outcome is pending (storepos: 5 s).
    public var pendingFirstQuery: Duration
    /// Interval between queries while pending (storepos: 5 s).
    public var pendingQueryInterval: Duration
    /// How long to keep querying a pending order before falling back to the slower schedule (storepos: 60–180 s).
    public var pendingQueryLimit: Duration
    /// Fallback queries after `prepared` when no callback comes, as offsets from creation.
    public var fallbackQueries: [Duration]
    /// Minimum time between two queries of one order (YunGouOS order query is rate limited).
    public var minimumQueryInterval: Duration
    /// An order younger than this cannot be closed (WeChat: 5 minutes).
    public var closeMinimumAge: Duration
    /// An order older than this can no longer be closed/cancelled at the vendor (storepos cancel), if limited.
    public var closeMaximumAge: Duration?
    /// Whether a query answer of `paying` means a payer is paying right now, so that an expiry close
    /// is deferred a little instead of closing under them. False for a vendor whose query answers
    /// the same "in process" for an order nobody has started to pay (乐收赢 `PAY_IN_PROCESS`):
    /// there the deferral would only delay every expiry.
    public var payingMeansPayerActive: Bool

    public init(
        pendingFirstQuery: Duration = .seconds(5),
        pendingQueryInterval: Duration = .seconds(5),
        pendingQueryLimit: Duration = .seconds(120),
        fallbackQueries: [Duration] = [.seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600)],
        minimumQueryInterval: Duration = .zero,
        closeMinimumAge: Duration = .zero,
        closeMaximumAge: Duration? = nil,
        payingMeansPayerActive: Bool = true
    ) {
        self.pendingFirstQuery = pendingFirstQuery
        self.pendingQueryInterval = pendingQueryInterval
        self.pendingQueryLimit = pendingQueryLimit
        self.fallbackQueries = fallbackQueries
        self.minimumQueryInterval = minimumQueryInterval
        self.closeMinimumAge = closeMinimumAge
        self.closeMaximumAge = closeMaximumAge
        self.payingMeansPayerActive = payingMeansPayerActive
    }
}
