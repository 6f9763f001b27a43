import AsyncHTTPClient
import Fleet
import Foundation

/// Reads the sandbox's callback delivery history (`GET /_sandbox/callbacks`): which callbacks a
/// (simulated) vendor saw acknowledged, the other half of the "no acknowledged callback is lost" check.
public enum SandboxCallbackHistory {
    private struct Attempt: Decodable {
        var channel: String
        var outTradeNo: String
        var acknowledged: Bool
    }

    /// The acknowledged deliveries.
    public static func acknowledged(
        sandboxURL: String, client: HTTPClient = .shared
    ) async throws -> [InvariantChecker.AcknowledgedCallback] {
        let response = try await client.execute(
            HTTPClientRequest(url: "\(sandboxURL)/_sandbox/callbacks"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status.code == 200 else {
            throw DemoError("the sandbox answered HTTP \(response.status.code) for its callback history")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let attempts = try decoder.decode([Attempt].self, from: Data(body.readableBytesView))
        return attempts.filter(\.acknowledged).map { .init(channel: $0.channel, outTradeNo: $0.outTradeNo) }
    }
}
