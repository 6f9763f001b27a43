import Foundation
import Kafka

/// Checks PayFleet's guarantees (docs/design.md "Guarantees") over what the topics hold: every accepted
/// order has exactly one terminal event, terminal events never conflict or regress, each order's
/// events are in causal order, every create was answered, and every callback the ingress
/// acknowledged is in `payfleet.callbacks`. Pure: the inputs are records already read.
public struct InvariantChecker: Sendable {
    /// A callback delivery that a vendor saw acknowledged (e.g. the sandbox's callback history).
    public struct AcknowledgedCallback: Sendable, Hashable {
        public var channel: String
        public var outTradeNo: String

        public init(channel: String, outTradeNo: String) {
            self.channel = channel
            self.outTradeNo = outTradeNo
        }
    }

    /// A record of a co-partitioned topic found on a partition that does not own its key.
    public struct Misplacement: Sendable, Hashable, CustomStringConvertible {
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        public var outTradeNo: String
        /// The partition murmur2 of the key picks.
        public var owner: Int32
        /// Whether a worker forwarded it (a record on `owner` carries `payfleet-rerouted-from` naming it).
        public var forwarded: Bool

        public var description: String {
            "\(topic) \(partition)/\(offset) key \(outTradeNo) belongs to partition \(owner)"
                + (forwarded ? ", forwarded there" : ", not forwarded")
        }
    }

    /// The outcome.
    public struct Report: Sendable {
        public var violations: [InvariantViolation]
        /// Orders with payment events.
        public var acceptedOrders: Int
        /// Accepted orders per terminal type (`succeeded`, `failed`, `closed`), distinct events.
        public var terminalCounts: [String: Int]
        /// Refunds (`out_refund_no`) per terminal type (`refund_succeeded`, `refund_failed`).
        public var refundTerminalCounts: [String: Int] = [:]
        /// Create requests seen.
        public var createRequests: Int
        /// Requests rejected.
        public var rejected: Int
        /// Callback records seen.
        public var callbackRecords: Int
        /// Records of the co-partitioned topics on a partition that does not own their key
        /// (written by a producer with another partitioner). Forwarded ones are reported, not violations.
        public var misplaced: [Misplacement] = []

        public var isClean: Bool { violations.isEmpty }
    }

    /// Whether an accepted order without a terminal event is a violation (a settled system) or
    /// normal (orders still in flight).
    public var requireTerminal: Bool
    /// Only orders whose out_trade_no is in this set are checked (`nil`: all).
    public var only: Set<String>?

    public init(requireTerminal: Bool = true, only: Set<String>? = nil) {
        self.requireTerminal = requireTerminal
        self.only = only
    }

    /// Checks the records.
    /// - Parameters:
    ///   - requests: `payfleet.order-requests` records.
    ///   - events: `payfleet.payment-events` records, in partition order.
    ///   - callbacks: `payfleet.callbacks` records.
    ///   - acknowledged: callback deliveries that were acknowledged to the vendor.
    ///   - queryJobs: `payfleet.query-jobs` records (checked for their partition only).
    ///   - partitionCounts: partitions per topic; where known, each record's partition is checked
    ///     against murmur2 of its key.
    public func check(
        requests: [KafkaConsumerMessage], events: [KafkaConsumerMessage], callbacks: [KafkaConsumerMessage],
        acknowledged: [AcknowledgedCallback] = [], queryJobs: [KafkaConsumerMessage] = [],
        partitionCounts: [String: Int] = [:]
    ) -> Report {
        var violations: [InvariantViolation] = []
        func included(_ key: String) -> Bool { only.map { $0.contains(key) } ?? true }

        // Records on a partition that does not own their key, and whether a worker forwarded them.
        var misplaced: [Misplacement] = []
        var forwardedOrigins: Set<String> = []
        for topicRecords in [requests, callbacks, queryJobs] {
            for record in topicRecords {
                if let origin = record.headers.string(PartitionOwnership.reroutedFromHeader) {
                    forwardedOrigins.insert(origin)
                }
            }
        }
        var misplacedOrigins: Set<String> = []
        for topicRecords in [requests, callbacks, queryJobs] {
            for record in topicRecords {
                guard let count = partitionCounts[record.topic], count > 0, let key = record.keyString, included(key),
                    let owner = PartitionOwnership(partitionCount: count).misplacement(of: record)
                else { continue }
                let origin = PartitionOwnership.origin(of: record)
                misplacedOrigins.insert(origin)
                let item = Misplacement(
                    topic: record.topic, partition: record.partition, offset: record.offset, outTradeNo: key,
                    owner: owner,
                    forwarded: forwardedOrigins.contains(origin))
                misplaced.append(item)
                if !item.forwarded && requireTerminal {
                    violations.append(.init(kind: .misPartitioned, outTradeNo: key, detail: item.description))
                }
            }
        }

        // Create requests, by key.
        var creates: Set<String> = []
        for record in requests {
            guard let key = record.keyString, included(key), let value = record.value,
                let object = try? JSONSerialization.jsonObject(with: value) as? [String: Any],
                object["action"] as? String == "create"
            else { continue }
            creates.insert(key)
        }

        // Events per order, in topic order (one partition per key).
        var perOrder: [String: [ReceivedPaymentEvent]] = [:]
        var rejectedOrders: Set<String> = []
        var rejectedCount = 0
        for record in events {
            // Reconciliation results share the topic but are about a merchant's day, not an order.
            guard let event = ReceivedPaymentEvent(headers: record.headers, value: record.value),
                !ReconciliationEvent.isReconciliation(event.type), included(event.subject)
            else { continue }
            if event.type == PaymentEvent.Kind.rejected.rawValue {
                rejectedOrders.insert(event.subject)
                rejectedCount += 1
                continue
            }
            perOrder[event.subject, default: []].append(event)
        }

        var terminalCounts: [String: Int] = [:]
        var refundTerminalCounts: [String: Int] = [:]
        for (order, orderEvents) in perOrder.sorted(by: { $0.key < $1.key }) {
            var terminalIDs: [String: String] = [:]  // ce_id -> type
            var seenTerminal: String?
            var lastTime: Date?
            var seenIDs: Set<String> = []
            for event in orderEvents {
                let kind = PaymentEvent.Kind(rawValue: event.type)
                // A repeat of an earlier event (same ce_id: an idempotent answer to a repeated request)
                // carries the original's time.
                if let time = event.time, seenIDs.insert(event.id).inserted {
                    if let lastTime, time < lastTime.addingTimeInterval(-0.001) {
                        violations.append(
                            .init(
                                kind: .outOfOrder, outTradeNo: order,
                                detail:
                                    "\(kind.shortName) at \(RFC3339.format(time)) follows an event at \(RFC3339.format(lastTime))"
                            ))
                    }
                    lastTime = max(lastTime ?? time, time)
                }
                if kind.isTerminal {
                    terminalIDs[event.id] = kind.shortName
                    seenTerminal = kind.shortName
                } else if let terminal = seenTerminal, kind == .prepared || kind == .pending {
                    violations.append(
                        .init(kind: .regression, outTradeNo: order, detail: "\(kind.shortName) after \(terminal)"))
                }
            }
            let types = Set(terminalIDs.values)
            if terminalIDs.isEmpty {
                if requireTerminal {
                    violations.append(
                        .init(
                            kind: .missingTerminal, outTradeNo: order,
                            detail:
                                "events \(orderEvents.map { PaymentEvent.Kind(rawValue: $0.type).shortName }.joined(separator: ",")) but no terminal event"
                        ))
                }
            } else if types.count > 1 {
                violations.append(
                    .init(
                        kind: .conflictingTerminal, outTradeNo: order,
                        detail: "terminal events \(types.sorted().joined(separator: ", "))"))
            } else if terminalIDs.count > 1 {
                violations.append(
                    .init(
                        kind: .multipleTerminal, outTradeNo: order,
                        detail: "\(terminalIDs.count) distinct \(types.first ?? "") events"))
            }
            for type in types { terminalCounts[type, default: 0] += 1 }
            violations += Self.refundViolations(order: order, events: orderEvents, counts: &refundTerminalCounts)
        }

        for order in creates.sorted() where perOrder[order] == nil && !rejectedOrders.contains(order) {
            violations.append(
                .init(kind: .unansweredCreate, outTradeNo: order, detail: "create request without any event"))
        }

        // Acknowledged callbacks must be durable: per (channel, key), records >= acknowledged deliveries.
        var recorded: [AcknowledgedCallback: Int] = [:]
        for record in callbacks {
            // A forwarded record is counted once, at its owner.
            if misplacedOrigins.contains(PartitionOwnership.origin(of: record)),
                forwardedOrigins.contains(PartitionOwnership.origin(of: record))
            {
                continue
            }
            guard let key = record.keyString, let channel = record.headers.string(CallbackRecord.channelHeader) else {
                continue
            }
            recorded[AcknowledgedCallback(channel: channel, outTradeNo: key), default: 0] += 1
        }
        var acked: [AcknowledgedCallback: Int] = [:]
        for callback in acknowledged where included(callback.outTradeNo) { acked[callback, default: 0] += 1 }
        for (callback, count) in acked.sorted(by: { $0.key.outTradeNo < $1.key.outTradeNo }) {
            let found = recorded[callback] ?? 0
            if found < count {
                violations.append(
                    .init(
                        kind: .missingCallback, outTradeNo: callback.outTradeNo,
                        detail: "\(count) acknowledged \(callback.channel) callbacks, \(found) in payfleet.callbacks"))
            }
        }

        var report = Report(
            violations: violations, acceptedOrders: perOrder.count, terminalCounts: terminalCounts,
            createRequests: creates.count, rejected: rejectedCount, callbackRecords: callbacks.count,
            misplaced: misplaced)
        report.refundTerminalCounts = refundTerminalCounts
        return report
    }

    /// One terminal event per `out_refund_no`, and the succeeded refunds of an order at most what was paid.
    static func refundViolations(
        order: String, events: [ReceivedPaymentEvent], counts: inout [String: Int]
    ) -> [InvariantViolation] {
        var violations: [InvariantViolation] = []
        var paid: Int64 = 0
        var terminals: [String: [String: String]] = [:]  // out_refund_no -> ce_id -> type
        var refunded: [String: Int64] = [:]  // out_refund_no -> amount (succeeded)
        for event in events {
            let kind = PaymentEvent.Kind(rawValue: event.type)
            if kind == .succeeded {
                paid = event.data["paid_amount_fen"]?.integerValue ?? event.data["amount_fen"]?.integerValue ?? 0
            }
            guard kind.isRefundTerminal, let number = event.data["out_refund_no"]?.stringValue else { continue }
            terminals[number, default: [:]][event.id] = kind.shortName
            if kind == .refundSucceeded {
                refunded[number] = event.data["refund_amount_fen"]?.integerValue ?? 0
            }
        }
        for (number, ids) in terminals.sorted(by: { $0.key < $1.key }) {
            let types = Set(ids.values)
            if ids.count > 1 {
                violations.append(
                    .init(
                        kind: .multipleRefundTerminal, outTradeNo: order,
                        detail:
                            "refund \(number): \(ids.count) distinct terminal events (\(types.sorted().joined(separator: ", ")))"
                    ))
            }
            for type in types { counts[type, default: 0] += 1 }
        }
        let total = refunded.values.reduce(0, +)
        if total > paid {
            violations.append(
                .init(
                    kind: .refundExceedsPaid, outTradeNo: order,
                    detail: "refunds succeeded for \(total) fen of \(paid) fen paid"))
        }
        return violations
    }
}
