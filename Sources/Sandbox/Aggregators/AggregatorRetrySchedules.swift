/// Callback retry schedules (delays after the first, immediate, attempt).
enum AggregatorRetrySchedules {
    /// storepos, from its docs: 0/15s/15s/15s/30s/3m/3m/30m/30m/30m/30m/1h.
    static let storepos: [Duration] = [
        .seconds(15), .seconds(15), .seconds(15), .seconds(30), .seconds(180), .seconds(180),
        .seconds(1800), .seconds(1800), .seconds(1800), .seconds(1800), .seconds(3600),
    ]
    /// YunGouOS: "retries up to 15 times" (unverified third-party doc); the intervals are an
    /// assumption borrowed from WeChat Pay v2, whose notifications YunGouOS relays:
    /// 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h.
    static let yungouos: [Duration] = [
        .seconds(15), .seconds(15), .seconds(30), .seconds(180), .seconds(600), .seconds(1200), .seconds(1800),
        .seconds(1800), .seconds(1800), .seconds(3600), .seconds(10800), .seconds(10800), .seconds(10800),
        .seconds(21600), .seconds(21600),
    ]
    /// 乐收赢 only says it keeps notifying until acknowledged ("否则乐收赢会一直通知"); assumed to
    /// follow the same 15-retry schedule as YunGouOS.
    static let leshouying: [Duration] = yungouos
}
