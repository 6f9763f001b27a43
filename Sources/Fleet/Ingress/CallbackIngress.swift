import Foundation
import Kafka
import Logging
import Metrics
import Payments

/// The callback ingress: verifies a vendor callback with the merchant's keys (signature,
/// timestamp, platform certificate serial, APIv3 decryption, merchant id — the channel's
/// `verifyCallback`), writes the raw callback to `payfleet.callbacks` (acks=all) keyed by the order
/// it names, and answers the vendor's own success body only once the broker acknowledged it;
/// otherwise the vendor's failure body, so the vendor retries.
///
/// A callback that does not verify gets the failure answer and is never written to
/// `payfleet.callbacks`, so it produces no event (WeChat's deliberately mis-signed probe
/// notifications included). Callbacks that cannot be routed (unknown channel or merchant, merchant
/// of another channel, oversized body) are treated the same way. Both come from outside, in bulk if
/// someone wants: they are counted, and only a bounded sample (``RejectionSampler``) goes to
/// `payfleet.dead-letters`. The worker still checks every verified callback against its order.
public struct CallbackIngress: Sendable {
    /// Finds the channel of a merchant alias (`nil` for an unknown merchant).
    public typealias MerchantLookup = @Sendable (_ merchant: String) -> (any PaymentChannel)?

    /// Header of a dead-letter sample: rejected callbacks of the same merchant dropped since the previous sample.
    public static let droppedSinceSampleHeader = "payfleet-ingress-dropped-since-sample"
    /// The sample budget every unconfigured merchant (and unknown channel) shares.
    static let unconfiguredSampleKey = "(unconfigured)"

    private let lookup: MerchantLookup
    private let publisher: any RecordPublisher
    private let settings: IngressSettings
    private let logger: Logger
    private let sampler: RejectionSampler
    private let instruments: IngressInstruments

    public init(
        settings: IngressSettings, publisher: any RecordPublisher, logger: Logger, sampler: RejectionSampler? = nil,
        instruments: IngressInstruments = IngressInstruments(), lookup: @escaping MerchantLookup
    ) {
        self.instruments = instruments
        self.settings = settings
        self.publisher = publisher
        self.logger = logger
        self.lookup = lookup
        self.sampler = sampler ?? RejectionSampler(perMinute: settings.rejectedSamplePerMinute)
    }

    /// Handles one callback and returns the answer to send.
    public func handle(_ request: IngressRequest) async -> IngressResult {
        let started = ContinuousClock.now
        let result = await route(request)
        instruments.answered(
            channel: ChannelID(rawValue: request.channel), outcome: result.outcome, reason: result.reason,
            duration: ContinuousClock.now - started)
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
                request, callback: callback, reason: .unknownChannel, sampleKey: Self.unconfiguredSampleKey,
                detail: "the notify URL names channel '\(Self.printable(request.channel))', which is not one of "
                    + ChannelID.allCases.map(\.rawValue).joined(separator: ", "),
                reply: Self.genericFailure(status: 404, "unknown channel"), logger: logger)
        }
        guard let channel = lookup(request.merchant) else {
            return await unroutable(
                request, callback: callback, reason: .unknownMerchant, sampleKey: Self.unconfiguredSampleKey,
                detail: "the notify URL names merchant '\(Self.printable(request.merchant))', which is not configured",
                reply: Self.genericFailure(status: 404, "unknown merchant"), logger: logger)
        }
        guard channel.channel == channelID else {
            return await unroutable(
                request, callback: callback, reason: .channelMismatch, sampleKey: request.merchant,
                detail:
                    "merchant '\(request.merchant)' is a \(channel.channel.rawValue) merchant, the notify URL says \(channelID.rawValue)",
                reply: channel.acknowledgement.failure, logger: logger)
        }
        guard request.body.count <= settings.maximumBodyBytes else {
            return await unroutable(
                request, callback: callback, reason: .bodyTooLarge, sampleKey: request.merchant,
                detail: "the callback body has \(request.body.count) bytes, more than \(settings.maximumBodyBytes)",
                reply: channel.acknowledgement.failure, logger: logger)
        }
        let verified: VerifiedCallback
        do {
            verified = try await channel.verifyCallback(callback)
        } catch {
            return await rejected(
                request, callback: callback, error: error, reply: channel.acknowledgement.failure, logger: logger)
        }
        let outTradeNo = verified.outTradeNo
        guard !outTradeNo.isEmpty else {
            return await unroutable(
                request, callback: callback, reason: .missingOrderKey, sampleKey: request.merchant,
                detail: "the callback names an empty order key", reply: channel.acknowledgement.failure, logger: logger)
        }
        logger[metadataKey: LogKey.outTradeNo] = "\(outTradeNo)"

        let record = CallbackRecord(
            channel: channelID.rawValue, merchant: request.merchant, outTradeNo: outTradeNo, raw: callback)
        switch await PublishDeadline.publish(
            record.message(topic: settings.callbacksTopic), via: publisher, within: settings.acknowledgementTimeout)
        {
        case .acknowledged:
            logger.debug("callback verified and durable, acknowledging")
            return IngressResult(reply: channel.acknowledgement.success, outcome: .accepted, outTradeNo: outTradeNo)
        case .failed(let error):
            logger.warning("callback not durable, asking the vendor to retry", metadata: [LogKey.error: "\(error)"])
            return IngressResult(reply: channel.acknowledgement.failure, outcome: .notDurable, outTradeNo: outTradeNo)
        case .timedOut:
            logger.warning(
                "broker acknowledgement too slow, asking the vendor to retry",
                metadata: [
                    "timeout": "\(settings.acknowledgementTimeout)"
                ])
            return IngressResult(reply: channel.acknowledgement.failure, outcome: .notDurable, outTradeNo: outTradeNo)
        }
    }

    /// A callback that did not verify: failure answer, a bounded sample to dead-letters.
    private func rejected(
        _ request: IngressRequest, callback: RawCallback, error: CallbackError, reply: CallbackReply, logger: Logger
    ) async -> IngressResult {
        let reason: RejectionReason =
            switch error.kind {
            case .malformed: .malformedCallback
            case .wrongMerchant: .merchantMismatch
            case .badSignature, .staleTimestamp, .unknownSerial, .decryptionFailed: .badSignature
            }
        await sample(
            request, callback: callback, reason: reason, label: error.kind.rawValue, sampleKey: request.merchant,
            detail:
                "the callback does not verify with merchant '\(request.merchant)': \(error.kind.rawValue): \(error.message)",
            logger: logger)
        return IngressResult(reply: reply, outcome: .rejected, reason: error.kind.rawValue)
    }

    private func unroutable(
        _ request: IngressRequest, callback: RawCallback, reason: RejectionReason, sampleKey: String, detail: String,
        reply: CallbackReply, logger: Logger
    ) async -> IngressResult {
        await sample(
            request, callback: callback, reason: reason, label: reason.rawValue, sampleKey: sampleKey, detail: detail,
            logger: logger)
        return IngressResult(reply: reply, outcome: .unroutable, reason: reason.rawValue)
    }

    /// Writes the callback to dead-letters if its merchant's sample budget allows, else counts it.
    private func sample(
        _ request: IngressRequest, callback: RawCallback, reason: RejectionReason, label: String, sampleKey: String,
        detail: String, logger: Logger
    ) async {
        guard let admitted = sampler.admit(sampleKey) else {
            instruments.sampleDropped(reason: label)
            return
        }
        var originalHeaders = [
            KafkaHeader(key: CallbackRecord.channelHeader, string: request.channel),
            KafkaHeader(key: CallbackRecord.merchantHeader, string: request.merchant),
            KafkaHeader(
                key: CallbackRecord.receivedAtHeader,
                string: String(Int64((request.receivedAt.timeIntervalSince1970 * 1000).rounded()))),
            KafkaHeader(key: Self.droppedSinceSampleHeader, string: String(admitted.droppedSinceLast)),
        ]
        for (name, value) in callback.headers.sorted(by: { $0.key < $1.key }) {
            originalHeaders.append(KafkaHeader(key: CallbackRecord.httpHeaderPrefix + name, string: value))
        }
        let letter = DeadLetter(
            reason: reason, detail: detail, sourceTopic: "http:" + request.path, sourcePartition: -1, sourceOffset: -1,
            role: "ingress", key: nil, value: Data(request.body), originalHeaders: originalHeaders)
        instruments.deadLettered(reason: reason)
        switch await PublishDeadline.publish(
            letter.message(topic: settings.deadLettersTopic), via: publisher, within: settings.acknowledgementTimeout)
        {
        case .acknowledged:
            logger.notice(
                "callback refused, sample sent to dead-letters",
                metadata: [
                    LogKey.reason: "\(label)", "detail": "\(detail)",
                    "dropped_since_last_sample": "\(admitted.droppedSinceLast)",
                ])
        case .failed(let error):
            logger.error(
                "refused callback sample could not be dead-lettered",
                metadata: [
                    LogKey.reason: "\(label)", LogKey.error: "\(error)",
                ])
        case .timedOut:
            logger.error("refused callback sample not acknowledged in time", metadata: [LogKey.reason: "\(label)"])
        }
    }

    /// A path segment from outside, cut and stripped of control characters for a log line or detail.
    static func printable(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.prefix(64) where !CharacterSet.controlCharacters.contains(scalar) {
            scalars.append(scalar)
        }
        return String(scalars)
    }

    /// Headers a proxy may add that must never reach a topic.
    static let credentialHeaders: Set<String> = ["authorization", "cookie", "proxy-authorization"]

    private static func genericFailure(status: Int, _ message: String) -> CallbackReply {
        CallbackReply(status: status, contentType: "text/plain; charset=utf-8", body: message)
    }
}
