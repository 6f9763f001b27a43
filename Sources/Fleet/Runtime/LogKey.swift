import Observability

/// The structured-log metadata keys: the one table of the `Observability` module, shared with the
/// Kafka client and the vendor clients, so log queries (`out_trade_no="…"`) work the same everywhere.
public typealias LogKey = Observability.LogKey
