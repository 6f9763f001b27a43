import Hummingbird

/// The outcome of checking a vendor request's merchant and signature.
enum SandboxAuthentication {
    /// The request's fields and the merchant it belongs to.
    case accepted([String: String], SandboxMerchant)
    /// The vendor's error answer.
    case rejected(Response)
}
