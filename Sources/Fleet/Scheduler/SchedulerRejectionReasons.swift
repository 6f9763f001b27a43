extension RejectionReason {
    /// A timer record with neither a usable `payfleet-due-at-ms` header nor a decodable job value.
    public static let missingDueAt = RejectionReason(rawValue: "missing_due_at")
}
