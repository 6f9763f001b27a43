import Metrics
import Synchronization

/// The instruments of one metric, one per label-value key, made from one `MetricsFactory` the
/// first time a key is used and cached, so recording a value never builds a label string or a
/// metric again. The key is a typed value (closed enums, a configured topic); `labelValues` turns
/// it into the metric's label values, in the order of ``MetricDefinition/labels``.
public final class InstrumentFamily<Key: Hashable & Sendable, Instrument: Sendable>: Sendable {
    /// The metric this family records.
    public let definition: MetricDefinition
    private let labelValues: @Sendable (Key) -> [String]
    private let make: @Sendable (_ dimensions: [(String, String)]) -> Instrument
    private let cache = Mutex<[Key: Instrument]>([:])

    init(
        _ definition: MetricDefinition, labelValues: @escaping @Sendable (Key) -> [String],
        make: @escaping @Sendable (_ dimensions: [(String, String)]) -> Instrument
    ) {
        self.definition = definition
        self.labelValues = labelValues
        self.make = make
    }

    /// The instrument of `key` (made on first use).
    public subscript(_ key: Key) -> Instrument {
        cache.withLock { cache in
            if let existing = cache[key] { return existing }
            let created = make(definition.dimensions(labelValues(key)))
            cache[key] = created
            return created
        }
    }
}

/// The key of a metric without labels whose instrument is made on first use (so it is not
/// exported before anything records it).
public enum Unlabeled: Hashable, Sendable {
    case instance
}

extension MetricDefinition {
    /// `values` paired with the label names; one label set per metric whatever the caller passes.
    func dimensions(_ values: [String]) -> [(String, String)] {
        assert(values.count == labels.count, "\(name) has the labels \(labelNames), given \(values)")
        return labels.enumerated().map { index, label in (label.rawValue, index < values.count ? values[index] : "") }
    }

    /// The counter of a metric without labels.
    public func counter(factory: any MetricsFactory) -> Counter {
        Counter(label: name, dimensions: dimensions([]), factory: factory)
    }

    /// The floating-point counter (e.g. seconds) of a metric without labels.
    public func floatingPointCounter(factory: any MetricsFactory) -> FloatingPointCounter {
        FloatingPointCounter(label: name, dimensions: dimensions([]), factory: factory)
    }

    /// The histogram (seconds) of a metric without labels.
    public func timer(factory: any MetricsFactory) -> Timer {
        Timer(label: name, dimensions: dimensions([]), preferredDisplayUnit: .seconds, factory: factory)
    }

    /// The gauge of a metric without labels.
    public func gauge(factory: any MetricsFactory) -> Gauge {
        Gauge(label: name, dimensions: dimensions([]), factory: factory)
    }

    /// The counters of a labelled metric, keyed by `Key`.
    public func counters<Key>(
        factory: any MetricsFactory, labelValues: @escaping @Sendable (Key) -> [String]
    ) -> InstrumentFamily<Key, Counter> {
        let name = self.name
        return InstrumentFamily(self, labelValues: labelValues) {
            Counter(label: name, dimensions: $0, factory: factory)
        }
    }

    /// The floating-point counters (e.g. seconds) of a labelled metric, keyed by `Key`.
    public func floatingPointCounters<Key>(
        factory: any MetricsFactory, labelValues: @escaping @Sendable (Key) -> [String]
    ) -> InstrumentFamily<Key, FloatingPointCounter> {
        let name = self.name
        return InstrumentFamily(self, labelValues: labelValues) {
            FloatingPointCounter(label: name, dimensions: $0, factory: factory)
        }
    }

    /// The histograms (seconds) of a labelled metric, keyed by `Key`.
    public func timers<Key>(
        factory: any MetricsFactory, labelValues: @escaping @Sendable (Key) -> [String]
    ) -> InstrumentFamily<Key, Timer> {
        let name = self.name
        return InstrumentFamily(self, labelValues: labelValues) {
            Timer(label: name, dimensions: $0, preferredDisplayUnit: .seconds, factory: factory)
        }
    }

    /// The gauges of a labelled metric, keyed by `Key`.
    public func gauges<Key>(
        factory: any MetricsFactory, labelValues: @escaping @Sendable (Key) -> [String]
    ) -> InstrumentFamily<Key, Gauge> {
        let name = self.name
        return InstrumentFamily(self, labelValues: labelValues) { Gauge(label: name, dimensions: $0, factory: factory) }
    }
}
