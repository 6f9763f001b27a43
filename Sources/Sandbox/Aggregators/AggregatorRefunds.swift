import Foundation

/// Deterministic refund faults of the aggregator simulators, chosen by the last two digits of the
/// refund amount in fen (every other refund amount succeeds at once):
///
/// | refund amount ends in | scenario |
/// |---|---|
/// | `…97` | `staysProcessing`: the vendor takes the refund and it stays processing (queries say so; no notification) |
/// | `…98` | `fails`: the vendor refuses the refund (a business failure) |
/// | `…99` | `needsQuery`: the refund is done, but the refund answer is a system error; only a query (or the notification) tells |
public enum SandboxRefundScenario: String, Sendable, Hashable, CaseIterable {
    case normal
    case staysProcessing
    case fails
    case needsQuery

    /// The scenario a refund amount (in fen) selects.
    public init(amountFen: Int64) {
        switch amountFen % 100 {
        case 97: self = .staysProcessing
        case 98: self = .fails
        case 99: self = .needsQuery
        default: self = .normal
        }
    }
}

/// One refund held by an aggregator simulator, on its order.
struct SandboxRefund: Sendable, Hashable {
    enum State: String, Sendable {
        case processing = "PROCESSING"
        case succeeded = "SUCCESS"
        case failed = "FAIL"
    }

    var outRefundNo: String
    var amountFen: Int64
    var refundID: String
    var scenario: SandboxRefundScenario
    var state: State
    var createdAt: Date = Date()
    var refundedAt: Date?
    var queries = 0
    /// The request parameters that make a repeat the same refund (vendor-specific).
    var fingerprint: String

    /// Refunded so far plus what is still processing: what may not exceed the payment.
    static func committed(_ refunds: [SandboxRefund]) -> Int64 {
        refunds.filter { $0.state != .failed }.reduce(0) { $0 + $1.amountFen }
    }

    /// What has been refunded.
    static func refunded(_ refunds: [SandboxRefund]) -> Int64 {
        refunds.filter { $0.state == .succeeded }.reduce(0) { $0 + $1.amountFen }
    }
}

extension AggregatorOrderBook {
    /// The order holding refund `outRefundNo` of merchant `merchantID`.
    func order(refund outRefundNo: String, merchantID: String) -> AggregatorOrder? {
        first { $0.merchantID == merchantID && $0.refunds.contains { $0.outRefundNo == outRefundNo } }
    }
}
