import CRdKafka
import Logging
import NIOConcurrencyHelpers
import Observability

/// The object librdkafka's callbacks reach through the handle's opaque pointer.
///
/// `@unchecked Sendable`: the callback closures are set once before `rd_kafka_new` and only read
/// afterwards (from librdkafka's threads and our poll thread); mutable state is behind locks. The
/// delivery handler is a constant, so a run of delivery reports reads it without an
/// exclusivity check.
final class RDKafkaClientContext: @unchecked Sendable {
    let logger: Logger
    /// Delivery reports (producer; called on the thread serving the main queue with the messages of
    /// each delivery-report event, in runs of up to ``RDKafkaDeliveries/capacity``).
    let onDeliveries: ((borrowing RDKafkaDeliveries) -> Void)?
    /// Rebalance (consumer; called on the thread polling the consumer).
    var onRebalance: ((borrowing RDKafkaRebalance) -> Void)?
    /// The first fatal error librdkafka reported, if any.
    let fatalError = NIOLockedValueBox<KafkaError?>(nil)

    /// - Parameter onDeliveries: the producer's delivery-report handler (`nil` for other clients).
    init(logger: Logger, onDeliveries: ((borrowing RDKafkaDeliveries) -> Void)? = nil) {
        self.logger = logger
        self.onDeliveries = onDeliveries
    }

    /// Retains the context for the lifetime of the handle; balanced by ``release(_:)``.
    func retainedOpaque() -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(self).toOpaque()
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaClientContext? {
        guard let opaque else { return nil }
        return Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }

    static func release(_ opaque: UnsafeMutableRawPointer) {
        Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).release()
    }

    /// Installs the log, error and (when set) rebalance callbacks on a configuration, and delivery
    /// reports as events when there is a delivery handler.
    func install(on conf: OpaquePointer, opaque: UnsafeMutableRawPointer) {
        rd_kafka_conf_set_opaque(conf, opaque)
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let context = RDKafkaClientContext.from(rd_kafka_opaque(rk)) else { return }
            let facilityText = facility.map { String(cString: $0) } ?? ""
            let text = message.map { String(cString: $0) } ?? ""
            context.log(level: level, facility: facilityText, message: text)
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, opaque in
            guard let context = RDKafkaClientContext.from(opaque) else { return }
            context.handleError(
                rk: rk, err: rd_kafka_resp_err_t(rawValue: err), reason: reason.map { String(cString: $0) } ?? "")
        }
        if onDeliveries != nil {
            // Delivery reports as events, served by the producer's own thread
            // (``RDKafkaClient/poll(timeoutMilliseconds:)``). With a report callback instead, librdkafka's
            // flush inside `rd_kafka_commit_transaction` polls the same queue in steps of up to 10 ms
            // and, when our thread takes the last report, sleeps out the step: up to 10 ms per commit.
            // In event mode that flush waits on the message count, which drops as we serve the reports.
            rd_kafka_conf_set_events(conf, Int32(RD_KAFKA_EVENT_DR))
        }
        if onRebalance != nil {
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
                guard let rk, let context = RDKafkaClientContext.from(opaque) else { return }
                context.onRebalance?(RDKafkaRebalance(handle: rk, err: err, list: partitions))
            }
        }
    }

    /// Maps librdkafka's syslog levels to swift-log. Transient connection trouble (levels 3–4 from the
    /// broker-connection facilities) is routine and logged as `notice`, not `error`.
    func log(level: Int32, facility: String, message: String) {
        let mapped: Logger.Level
        switch level {
        case ...2: mapped = .critical
        case 3: mapped = Self.transientFacilities.contains(facility) ? .notice : .warning
        case 4: mapped = .notice
        case 5, 6: mapped = .info
        default: mapped = .debug
        }
        logger.log(level: mapped, "\(message)", metadata: [LogKey.librdkafkaFacility: "\(facility)"])
    }

    static let transientFacilities: Set<String> = [
        "FAIL", "BROKERFAIL", "ERROR", "REQTMOUT", "DISCONNECT", "CONNECT", "TIMEOUT", "RETRY", "SESSTMOUT",
        "HEARTBEAT",
        "COMMITFAIL", "FETCHERR", "METADATA",
    ]

    func handleError(rk: OpaquePointer?, err: rd_kafka_resp_err_t, reason: String) {
        if err == RD_KAFKA_RESP_ERR__FATAL, let rk {
            var buffer = [CChar](repeating: 0, count: 512)
            let original = rd_kafka_fatal_error(rk, &buffer, buffer.count)
            let text = String(cStringBuffer: buffer)
            let error = KafkaError.rd(.fatal, "librdkafka fatal error: \(text)", original)
            fatalError.withLockedValue { if $0 == nil { $0 = error } }
            logger.critical("librdkafka fatal error", metadata: [LogKey.error: "\(error)"])
            return
        }
        switch err {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR__TIMED_OUT:
            logger.notice("Kafka connection trouble (librdkafka retries)", metadata: [LogKey.reason: "\(reason)"])
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
            logger.warning(
                "all Kafka brokers are down (librdkafka keeps retrying)", metadata: [LogKey.reason: "\(reason)"])
        default:
            logger.error(
                "librdkafka error",
                metadata: [LogKey.error: "\(String(cString: rd_kafka_err2name(err)))", LogKey.reason: "\(reason)"])
        }
    }
}
