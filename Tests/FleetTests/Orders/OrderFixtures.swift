import Foundation
import Payments

@testable import Fleet

/// Builders for state-machine tests: a fixed clock, a request, a machine with a chosen policy.
enum Fixture {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let notifyURL = "https://pay.example.com/notify/wechat-v2/shop"

    static func at(_ seconds: Double) -> Date { t0 + seconds }

    static func request(
        _ action: OrderRequest.Action = .create, outTradeNo: String = "order-1", merchant: String = "shop",
        channel: ChannelID = .wechatV2, amount: Int64? = 100, digest: String = "digest-1", expiresAt: Date? = nil
    ) -> OrderRequest {
        OrderRequest(
            action: action, outTradeNo: outTradeNo, merchant: merchant, channel: channel,
            amount: amount.map { Money(fen: $0) }, description: action == .create ? "a cup of tea" : nil,
            expiresAt: expiresAt, contentDigest: digest)
    }

    static let wechatPolicy = ChannelPolicy(
        pendingFirstQuery: .seconds(5), pendingQueryInterval: .seconds(5), pendingQueryLimit: .seconds(30),
        fallbackQueries: [.seconds(30), .seconds(60), .seconds(120)], closeMinimumAge: .seconds(300))

    static let storeposPolicy = ChannelPolicy(
        pendingFirstQuery: .seconds(5), pendingQueryInterval: .seconds(5), pendingQueryLimit: .seconds(120),
        fallbackQueries: [.seconds(30)], closeMaximumAge: .seconds(300))

    static func context(
        policy: ChannelPolicy = wechatPolicy, vendorMerchantID: String? = "10000100",
        validate: @escaping @Sendable (PaymentOrder) throws(ChannelError) -> Void = { _ throws(ChannelError) in }
    ) -> OrderContext {
        OrderContext(policy: policy, notifyURL: notifyURL, vendorMerchantID: vendorMerchantID, validate: validate)
    }

    static func machine(_ state: OrderState? = nil, policy: ChannelPolicy = wechatPolicy) -> OrderMachine {
        OrderMachine(state: state, configuration: OrderMachineConfiguration(), context: context(policy: policy))
    }

    static let prepared = Prepared(
        codeURL: "weixin://wxpay/bizpayurl?pr=abc", vendorOrderID: "wx-prepay-1", memo: ["prepay_id": "wx-prepay-1"])

    static func payment(
        _ transaction: String = "4200001", amount: Int64 = 100, merchant: String? = "10000100"
    ) -> PaymentDetails {
        PaymentDetails(
            transactionID: transaction, amount: Money(fen: amount), paidAt: at(60), vendorMerchantID: merchant)
    }

    /// A machine whose order was created and prepared at t0 (the outputs of getting there dropped).
    static func preparedMachine(policy: ChannelPolicy = wechatPolicy, expiresAt: Date? = nil) -> OrderMachine {
        var machine = machine(policy: policy)
        _ = machine.requestReceived(request(expiresAt: expiresAt), receivedAt: t0, now: t0)
        _ = machine.createAnswered(.success(.prepared(prepared)), now: at(1))
        return machine
    }

    /// A machine whose order is pending (NEED_QUERY) since t0+1.
    static func pendingMachine(policy: ChannelPolicy = wechatPolicy) -> OrderMachine {
        var machine = machine(policy: policy)
        _ = machine.requestReceived(request(), receivedAt: t0, now: t0)
        _ = machine.createAnswered(.success(.pending(.needQuery, memo: [:])), now: at(1))
        return machine
    }

    static func callback(
        _ status: TradeStatus, outTradeNo: String = "order-1", merchant: String = "shop", amount: Int64? = 100,
        vendorMerchantID: String? = "10000100", evidence: String = "body-digest-1"
    ) -> CallbackInput {
        let verified = VerifiedCallback(
            outTradeNo: outTradeNo, status: status, vendorMerchantID: vendorMerchantID,
            amount: amount.map { Money(fen: $0) })
        return CallbackInput(merchant: merchant, outTradeNo: outTradeNo, evidence: evidence, check: .verified(verified))
    }

    static func job(_ reason: TimerJob.Reason, attempt: Int = 1, due: Date = t0) -> TimerJob {
        job(.query, reason, attempt: attempt, due: due)
    }

    static func job(
        _ kind: TimerJob.Job, _ reason: TimerJob.Reason, attempt: Int = 1, due: Date = t0
    ) -> TimerJob {
        TimerJob(
            job: kind, outTradeNo: "order-1", merchant: "shop", channel: "wechat-v2", dueAt: due, reason: reason,
            attempt: attempt)
    }
}

extension OrderStep {
    var eventKinds: [PaymentEvent.Kind] { events.map(\.kind) }
    var isQuery: Bool { if case .query? = call { true } else { false } }
    var isCreate: Bool { if case .create? = call { true } else { false } }
    var isClose: Bool { if case .close? = call { true } else { false } }
    var forgets: Bool { outputs.contains { if case .forget = $0 { true } else { false } } }
}
