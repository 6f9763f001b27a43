/// Why a vendor call did not produce an answer the worker can act on.
///
/// Messages never contain key material. ``code`` is bounded (a metric label).
public struct ChannelError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The order or its options break the vendor's rules; not retried, the request is rejected.
        case invalidRequest = "invalid_request"
        /// The merchant account is misconfigured (missing key, unreadable certificate).
        case configuration
        /// The request did not reach the vendor (connection refused, DNS); safe to retry.
        case unreachable
        /// The vendor answered 5xx or a system error code; retry later.
        case vendorUnavailable = "vendor_unavailable"
        /// The vendor asked us to slow down.
        case rateLimited = "rate_limited"
        /// The vendor rejected the call with an error that repeating will not fix (signature error, bad parameter).
        case vendorRejected = "vendor_rejected"
        /// The answer was garbage, unsigned where a signature is required, or its signature did not verify.
        case badResponse = "bad_response"
        /// No answer in time; the request may have been processed.
        case timeout
    }

    public var code: Code
    public var message: String
    /// The vendor's own error code, when it gave one.
    public var vendorCode: String?

    public init(_ code: Code, _ message: String, vendorCode: String? = nil) {
        self.code = code
        self.message = message
        self.vendorCode = vendorCode
    }

    /// Whether the same call may be repeated later.
    public var isRetryable: Bool {
        switch code {
        case .unreachable, .vendorUnavailable, .rateLimited, .timeout, .badResponse: true
        case .invalidRequest, .configuration, .vendorRejected: false
        }
    }

    public static func invalidRequest(_ message: String) -> ChannelError { .init(.invalidRequest, message) }
    public static func configuration(_ message: String) -> ChannelError { .init(.configuration, message) }
    public static func badResponse(_ message: String) -> ChannelError { .init(.badResponse, message) }

    public var description: String {
        if let vendorCode { return "\(code.rawValue) (\(vendorCode)): \(message)" }
        return "\(code.rawValue): \(message)"
    }
}
