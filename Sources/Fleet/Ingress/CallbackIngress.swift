import Foundation
import Kafka
import Logging
import Metrics
import Payments

/// The callback ingress: finds the order key of a vendor callback, writes the raw callback to
/// `payfleet.callbacks` (acks=all) and answers the vendor's own success body only once the broker
/// acknowledged it; otherwise the vendor's failure body, so the vendor retries.
///
/// It verifies nothing that can wait (the worker verifies signatures against the order): a WeChat
/// APIv3 resource is decrypted only to find the key. Callbacks that cannot be routed (unknown
/// channel or merchant, merchant of another channel, no order key, oversized body) go to
/// `payfleet.dead-letters` with a reason and get a failure answer.
public struct CallbackIngress: Sendable {
    /// Finds the channel of a merchant alias (`nil` for an unknown merchant).
    public typealias MerchantLookup = @Sendable (_ merchant: String) -> (any PaymentChannel)?

    private let lookup: MerchantLookup
    private let publisher: any RecordPublisher
    private let settings: IngressSettings
    private let logger: Logger

    public init(settings: IngressSettings, publisher: any RecordPublisher, logger: Logger, lookup: @escaping MerchantLookup) {
        self.settings = settings
        self.publisher = publisher
        self.logger = logger
        self.lookup = lookup
    }

    /// Handles one callback and returns the answer to send.
    public func handle(_ request: IngressRequest) async -> IngressResult {
        let started = ContinuousClock.now
        let result = await route(request)
        let channelLabel = ChannelID(rawValue: request.channel)?.rawValue ?? "unknown"
        Counter(label: MetricName.ingressCallbacks, dimensions: [("channel", channelLabel), ("outcome", result.outcome.rawValue)])
            .increment()
        let elapsed = ContinuousClock.now - started
        Metrics.Timer(label: MetricName.ingressAckDuration, dimensions: [("channel", channelLabel)])
            .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        return result
    }

    private func route(_ request: IngressRequest) async -> IngressResult {
        var logger = self.logger
        logger[metadataKey: LogKey.channel] = "\(request.channel)"
        logger[metadataKey: LogKey.merchant] = "\(request.merchant)"
        let headers = request.headers.filter { !Self.credentialHeaders.contains($0.key.lowercased()) }
        let callback = RawCallback(body: request.body, headers: headers, receivedAt: request.receivedAt)

        guard let channelID = ChannelID(rawValue: request.channel) else {
            return await unroutable(
                request, callback: callback, reason: .unknownChannel,
                detail: "the notify URL names channel '\(request.channel)', which is not one of "
                    + ChannelID.allCases.map(\.rawValue).joined(separator: ", "),
                reply: Self.genericFailure(status: 404, "unknown channel"), logger: logger)
        }
        guard let channel = lookup(request.merchant) else {
            return await unroutable(
                request, callback: callback, reason: .unknownMerchant,
                detail: "the notify URL names merchant '\(request.merchant)', which is not configured",
                reply: Self.genericFailure(status: 404, "unknown merchant"), logger: logger)
        }
        guard channel.channel == channelID else {
            return await unroutable(
                request, callback: callback, reason: .channelMismatch,
                detail: "merchant '\(request.merchant)' is a \(channel.channel.rawValue) merchant, the notify URL says \(channelID.rawValue)",
                reply: channel.acknowledgement.failure, logger: logger)
        }
        guard request.body.count <= settings.maximumBodyBytes else {
            return await unroutable(
                request, callback: callback, reason: .bodyTooLarge,
                detail: "the callback body has \(request.body.count) bytes, more than \(settings.maximumBodyBytes)",
                reply: channel.acknowledgement.failure, logger: logger)
        }
        let outTradeNo: String
        do {
            outTradeNo = try channel.callbackOrderKey(callback)
        } catch {
            return await unroutable(
                request, callback: callback, reason: .missingOrderKey,
                detail: "no order key in the callback (\(error.kind.rawValue): \(error.message))",
                reply: channel.acknowledgement.failure, logger: logger)
        }
        guard !outTradeNo.isEmpty else {
            return await unroutable(
                request, callback: callback, reason: .missingOrderKey, detail: "the callback names an empty order key",
                reply: channel.acknowledgement.failure, logger: logger)
        }
        logger[metadataKey: LogKey.outTradeNo] = "\(outTradeNo)"

        let record = CallbackRecord(channel: channelID.rawValue, merchant: request.merchant, outTradeNo: outTradeNo, raw: callback)
        switch await PublishDeadline.publish(record.message(topic: settings.callbacksTopic), via: publisher, within: settings.acknowledgementTimeout) {
        case .acknowledged:
            logger.debug("callback durable, acknowledging")
            return IngressResult(reply: channel.acknowledgement.success, outcome: .accepted, outTradeNo: outTradeNo)
        case .failed(let error):
            logger.warning("callback not durable, asking the vendor to retry", metadata: [LogKey.error: "\(error)"])
            return IngressResult(reply: channel.acknowledgement.failure, outcome: .notDurable, outTradeNo: outTradeNo)
        case .timedOut:
            logger.warning("broker acknowledgement too slow, asking the vendor to retry", metadata: [
                "timeout": "\(settings.acknowledgementTimeout)",
            ])
            return IngressResult(reply: channel.acknowledgement.failure, outcome: .notDurable, outTradeNo: outTradeNo)
        }
    }

    private func unroutable(
        _ request: IngressRequest, callback: RawCallback, reason: RejectionReason, detail: String,
        reply: CallbackReply, logger: Logger
    ) async -> IngressResult {
        var originalHeaders = [
            KafkaHeader(key: CallbackRecord.channelHeader, string: request.channel),
            KafkaHeader(key: CallbackRecord.merchantHeader, string: request.merchant),
            KafkaHeader(
                key: CallbackRecord.receivedAtHeader,
                string: String(Int64((request.receivedAt.timeIntervalSince1970 * 1000).rounded()))),
        ]
        for (name, value) in callback.headers.sorted(by: { $0.key < $1.key }) {
            originalHeaders.append(KafkaHeader(key: CallbackRecord.httpHeaderPrefix + name, string: value))
        }
        let letter = DeadLetter(
            reason: reason, detail: detail, sourceTopic: "http:" + request.path, sourcePartition: -1, sourceOffset: -1,
            role: "ingress", key: nil, value: Data(request.body), originalHeaders: originalHeaders)
        Counter(label: MetricName.deadLetters, dimensions: [("reason", reason.rawValue), ("role", "ingress")]).increment()
        switch await PublishDeadline.publish(letter.message(topic: settings.deadLettersTopic), via: publisher, within: settings.acknowledgementTimeout) {
        case .acknowledged:
            logger.notice("unroutable callback sent to dead-letters", metadata: [LogKey.reason: "\(reason.rawValue)", "detail": "\(detail)"])
        case .failed(let error):
            logger.error("unroutable callback could not be dead-lettered", metadata: [
                LogKey.reason: "\(reason.rawValue)", LogKey.error: "\(error)",
            ])
        case .timedOut:
            logger.error("unroutable callback dead-letter not acknowledged in time", metadata: [LogKey.reason: "\(reason.rawValue)"])
        }
        return IngressResult(reply: reply, outcome: .unroutable, reason: reason.rawValue)
    }

    /// Headers a proxy may add that must never reach a topic.
    static let credentialHeaders: Set<String> = ["authorization", "cookie", "proxy-authorization"]

    private static func genericFailure(status: Int, _ message: String) -> CallbackReply {
        CallbackReply(status: status, contentType: "text/plain; charset=utf-8", body: message)
    }
}
