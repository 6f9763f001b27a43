import Foundation
import Hummingbird
import NIOCore

/// The ingress's HTTP route, `POST /notify/<channel>/<merchant>`, the only route of its public
/// port (``IngressRole/server``).
public enum IngressRoutes {
    /// Adds the notify route.
    public static func install(
        on router: Router<BasicRequestContext>, ingress: CallbackIngress, settings: IngressSettings
    ) {
        router.post("/notify/:channel/:merchant") { request, context -> Response in
            let receivedAt = Date()
            let channel = context.parameters.get("channel") ?? ""
            let merchant = context.parameters.get("merchant") ?? ""
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: settings.maximumBodyBytes)
            } catch {
                return Response(
                    status: .contentTooLarge, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: "callback body too large or unreadable\n")))
            }
            var headers: [String: String] = [:]
            for field in request.headers {
                let name = field.name.canonicalName
                if let existing = headers[name] {
                    headers[name] = existing + ", " + field.value
                } else {
                    headers[name] = field.value
                }
            }
            let result = await ingress.handle(
                IngressRequest(
                    channel: channel, merchant: merchant, path: request.uri.description, headers: headers,
                    body: Array(body.readableBytesView), receivedAt: receivedAt))
            var responseHeaders = HTTPFields()
            if let contentType = result.reply.contentType { responseHeaders[.contentType] = contentType }
            return Response(
                status: HTTPResponse.Status(code: result.reply.status),
                headers: responseHeaders,
                body: .init(byteBuffer: ByteBuffer(string: result.reply.body)))
        }
    }
}
