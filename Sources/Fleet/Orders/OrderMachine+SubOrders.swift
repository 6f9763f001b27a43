import Foundation
import Payments

/// WeChat combine (合单) payments are checked per sub-order: the order total matching is not
/// enough, since a notification or query answer could move money between sub-orders, or credit a
/// sub-order to another merchant, while the total stays right.
extension OrderMachine {
    /// What differs between a reported payment's sub-orders and the sub-orders the order was
    /// created with (`options.sub_orders`), or `nil` when every sub-order matches.
    ///
    /// Only orders created with `sub_orders` are checked. Each created sub-order must be reported
    /// exactly once with the same `out_trade_no`, the same merchant id (its `mchid` option, else the
    /// account's vendor merchant id, i.e. `combine_mchid`) and the same amount; and nothing else may
    /// be reported.
    static func subOrderMismatch(
        _ details: PaymentDetails, order: OrderState, accountMerchantID: String?
    ) -> (reason: RejectionReason, detail: String)? {
        guard case .array(let planned)? = order.options["sub_orders"], !planned.isEmpty else { return nil }
        var reported: [String: SubPayment] = [:]
        for sub in details.subPayments {
            guard reported.updateValue(sub, forKey: sub.outTradeNo) == nil else {
                return (.outTradeNoMismatch, "the payment reports sub-order \(sub.outTradeNo.prefix(32)) twice")
            }
        }
        // First which sub-orders are reported, then what each says.
        let expectedNumbers = Set(planned.compactMap { $0["out_trade_no"]?.stringValue })
        for number in expectedNumbers.sorted() where reported[number] == nil {
            return (.outTradeNoMismatch, "the payment does not report sub-order \(number.prefix(32))")
        }
        if let extra = reported.keys.sorted().first(where: { !expectedNumbers.contains($0) }) {
            return (
                .outTradeNoMismatch, "the payment reports sub-order \(extra.prefix(32)), which the order does not have"
            )
        }
        for item in planned {
            guard let number = item["out_trade_no"]?.stringValue, let sub = reported[number] else { continue }
            if let fen = item["amount_fen"]?.integerValue, sub.amount.fen != fen {
                return (
                    .amountMismatch,
                    "sub-order \(number.prefix(32)) reports \(sub.amount.fen) fen, it was created with \(fen) fen"
                )
            }
            if let expected = item["mchid"]?.stringValue ?? accountMerchantID, sub.vendorMerchantID != expected {
                return (
                    .merchantMismatch,
                    "sub-order \(number.prefix(32)) was paid to another merchant id than it was created for"
                )
            }
        }
        return nil
    }
}
