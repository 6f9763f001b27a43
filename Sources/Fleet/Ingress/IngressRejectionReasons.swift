extension RejectionReason {
    /// A callback whose order key could not be found (the channel's `callbackOrderKey` failed).
    public static let missingOrderKey = RejectionReason(rawValue: "missing_order_key")
    /// A callback body larger than the ingress accepts.
    public static let bodyTooLarge = RejectionReason(rawValue: "body_too_large")
}
