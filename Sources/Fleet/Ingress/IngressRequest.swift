import Foundation

/// One vendor callback as it arrived at `POST /notify/<channel>/<merchant>`.
public struct IngressRequest: Sendable, Hashable {
    /// The `<channel>` path segment, as sent (not yet validated).
    public var channel: String
    /// The `<merchant>` path segment, as sent (not yet validated).
    public var merchant: String
    /// The full request path with query string, for the audit record.
    public var path: String
    /// Request headers; names are lowercased when the callback is built.
    public var headers: [String: String]
    public var body: [UInt8]
    public var receivedAt: Date

    public init(
        channel: String, merchant: String, path: String, headers: [String: String], body: [UInt8], receivedAt: Date
    ) {
        self.channel = channel
        self.merchant = merchant
        self.path = path
        self.headers = headers
        self.body = body
        self.receivedAt = receivedAt
    }
}
