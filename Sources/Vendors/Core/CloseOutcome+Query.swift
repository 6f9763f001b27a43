extension CloseOutcome {
    /// What a query says about an order whose close answer did not say what happened: paid,
    /// already closed (or failed), or unknown to the vendor; `nil` while the order is still unpaid,
    /// so the close has to be tried again.
    public init?(settledBy status: TradeStatus) {
        switch status {
        case .succeeded, .refunded: self = .alreadyPaid
        case .closed, .failed: self = .alreadyClosed
        case .notFound: self = .notFound
        case .notPaid, .paying: return nil
        }
    }
}
