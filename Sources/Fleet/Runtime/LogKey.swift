/// The structured-log metadata keys every PayFleet role uses, in one table so that log queries
/// (`out_trade_no="…"`) work the same across the worker, the ingress and the scheduler.
public enum LogKey {
    /// The order a log line concerns. Present on every line about one order.
    public static let outTradeNo = "out_trade_no"
    /// The payment channel id (`wechat-v2`, …).
    public static let channel = "channel"
    /// The merchant alias from the merchants file.
    public static let merchant = "merchant"
    /// A Kafka topic name.
    public static let topic = "topic"
    /// A Kafka partition number.
    public static let partition = "partition"
    /// A Kafka offset.
    public static let offset = "offset"
    /// The process role (`worker`, `ingress`, `scheduler`, `dev`).
    public static let role = "role"
    /// A human-readable error description (never contains secrets).
    public static let error = "error"
    /// A short machine word for a failure or a dead-letter reason.
    public static let reason = "reason"
    /// A timer id.
    public static let timerID = "timer_id"
    /// A delay tier name (`5s`, `30s`, …).
    public static let tier = "tier"
}
