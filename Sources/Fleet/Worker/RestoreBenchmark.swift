import Foundation
import Kafka
import Logging
import Payments

#if canImport(Glibc)
import Glibc
#endif

/// The measurements behind `payfleet bench restore`: the worker's own restore code (``WorkerCore``
/// and ``StateRestorer``) against a broker holding `payfleet.order-state`.
public enum RestoreBenchmark {
    /// Terminal orders shaped like production ones: succeeded on WeChat v2 (most), succeeded combine
    /// orders with two sub-orders, closed and failed orders. Deterministic for a given `seed`.
    public static func sampleTerminalOrders(count: Int, seed: Int = 0) -> [OrderState] {
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        return (0..<count).map { index in
            let number = seed * 10_000_000 + index
            let createdAt = start + Double(number % 86_400)
            let kind = index % 10
            let channel: ChannelID =
                kind == 7 ? .wechatV3Combine : kind == 8 ? .storepos : kind == 9 ? .yungouos : .wechatV2
            var options: [String: JSONValue] = [:]
            if channel == .wechatV3Combine {
                options["sub_orders"] = .array([
                    .object([
                        "out_trade_no": .string("PFS\(number)A"), "amount_fen": .integer(600),
                        "mchid": .string("1900000109"), "description": .string("商品A"),
                    ]),
                    .object([
                        "out_trade_no": .string("PFS\(number)B"), "amount_fen": .integer(400),
                        "mchid": .string("1900000110"), "description": .string("商品B"),
                    ]),
                ])
            }
            var state = OrderState(
                outTradeNo: String(format: "PF2026120100%014d", number), merchant: "shop-\(index % 7)",
                channel: channel,
                amount: Money(fen: channel == .wechatV3Combine ? 1000 : Int64(100 + index % 5000)),
                description: "PayFleet 订单 #\(number) 商品描述", attach: index % 3 == 0 ? "batch-\(index % 97)" : nil,
                clientIP: "10.0.\(index % 250).\(index % 200)", options: options, createdAt: createdAt,
                expiresAt: createdAt + 7200, requestDigest: ContentDigest.sha256Hex("request-\(number)"))
            state.prepared = OrderState.PreparedPayload(
                codeURL: "weixin://wxpay/bizpayurl?pr=\(String(number, radix: 36))Xk9a", vendorOrderID: "wx\(number)")
            state.memo = ["prepay_id": "wx20261201\(number)0f8e"]
            state.createAttempts = 1
            state.pendingQueries = 2
            state.lastQueryAt = createdAt + 40
            state.revision = 5
            switch kind {
            case 5:
                state.status = .closed
                state.closeReason = "expired"
                state.closedAtVendor = true
                state.closedAt = createdAt + 7200
                state.terminalAt = state.closedAt
            case 6:
                state.status = .failed
                state.failure = VendorFailure(code: "PAYERROR", message: "支付失败")
                state.terminalAt = createdAt + 90
            default:
                state.status = .succeeded
                state.terminalAt = createdAt + 60
                let subs: [OrderState.SubPaymentRecord] =
                    channel == .wechatV3Combine
                    ? [
                        OrderState.SubPaymentRecord(
                            outTradeNo: "PFS\(number)A", vendorMerchantID: "1900000109",
                            transactionID: "4200002\(number)1", amountFen: 600, tradeState: "SUCCESS"),
                        OrderState.SubPaymentRecord(
                            outTradeNo: "PFS\(number)B", vendorMerchantID: "1900000110",
                            transactionID: "4200002\(number)2", amountFen: 400, tradeState: "SUCCESS"),
                    ]
                    : []
                state.payment = OrderState.PaymentRecord(
                    transactionID: String(format: "42000012342026120%011d", number), amountFen: state.amountFen,
                    paidAt: createdAt + 58, vendorMerchantID: "1900000109", subPayments: subs)
            }
            return state
        }
    }

    /// What one restore measured.
    public struct Restore: Sendable {
        /// Records read from `payfleet.order-state`.
        public var records: Int
        public var duration: Duration
        public var liveOrders: Int
        public var terminalOrders: Int
        /// Resident set size before and after the restore (bytes).
        public var residentBefore: Int
        public var residentAfter: Int
    }

    /// A worker's state for `partitions` of `payfleet.order-state`, kept between measurements.
    public final class Worker: Sendable {
        let core: WorkerCore
        let restorer: StateRestorer
        let reader: KafkaPartitionReader
        let partitions: [Int32]

        public init(kafka: KafkaConfiguration, partitions: [Int32], logger: Logger) throws {
            reader = try KafkaPartitionReader(configuration: kafka, logger: logger)
            core = WorkerCore(maxInFlight: 64, logger: logger)
            restorer = StateRestorer(core: core, reader: reader, metrics: nil, logger: logger)
            self.partitions = partitions
        }

        /// Assignment of every partition, then restore until they are ready: in full the first
        /// time, from the kept offsets after ``revokeKeeping()``.
        public func assignAndRestore() async throws -> Restore {
            // Memory freed earlier (writing the records) is given back first, so the growth
            // measured is what the restore keeps, not memory it merely reused.
            Allocator.releaseFreedMemory()
            let before = RestoreBenchmark.residentBytes()
            let clock = ContinuousClock()
            let started = clock.now
            let epochs = await core.assigned(partitions)
            let outcome = try await restorer.restore(epochs)
            for (partition, epoch) in epochs { _ = await core.restoreFinished(partition, epoch: epoch) }
            let duration = clock.now - started
            let counts = await core.retainedOrders
            return Restore(
                records: outcome?.records ?? 0, duration: duration, liveOrders: counts.live,
                terminalOrders: counts.terminal,
                residentBefore: before, residentAfter: RestoreBenchmark.residentBytes())
        }

        /// A revocation with all work finished: the partitions are kept dormant at the changelog's end.
        public func revokeKeeping() async {
            await core.beginRevoking(partitions)
            await restorer.keepRevoked(partitions)
        }

        /// Partitions kept dormant.
        public var dormantPartitions: [Int32] {
            get async { await core.dormantPartitionNumbers }
        }

        public func close() async {
            await reader.close()
        }
    }

    /// The resident set size of this process in bytes (Linux `/proc/self/statm`; 0 elsewhere).
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
