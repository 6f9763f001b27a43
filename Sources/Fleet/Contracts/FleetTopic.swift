/// The names of PayFleet's topics (`topics/<name>.yaml` holds their definitions).
public enum FleetTopic {
    /// Commands from upstream: `create`, `close`, `query` (co-partitioned).
    public static let orderRequests = "payfleet.order-requests"
    /// Raw vendor callbacks written by the ingress (co-partitioned).
    public static let callbacks = "payfleet.callbacks"
    /// Due timer jobs emitted by the scheduler (co-partitioned).
    public static let queryJobs = "payfleet.query-jobs"
    /// Compacted changelog of every order's state (co-partitioned).
    public static let orderState = "payfleet.order-state"
    /// CloudEvents for upstream.
    public static let paymentEvents = "payfleet.payment-events"
    /// Anything that could not be processed, with the reason in headers.
    public static let deadLetters = "payfleet.dead-letters"

    /// The three topics the worker group consumes; partition *p* of each belongs to one member.
    public static let workerInputs = [orderRequests, callbacks, queryJobs]
    /// The four topics that must share one partition count.
    public static let coPartitioned = [orderRequests, callbacks, queryJobs, orderState]
}
