import Foundation
import Kafka

/// Sends dead letters back where they came from, once their cause is fixed (`payfleet dlq replay`).
///
/// - An original read from a topic is written back to that topic with its key, value (a tombstone
///   stays a tombstone) and headers, plus `payfleet-replayed-from: payfleet.dead-letters/<p>/<o>`.
///   The partition is chosen by the key (murmur2, as every PayFleet producer does), so the copy lands
///   on the partition that owns the order.
/// - A callback the ingress refused (source `http:<path>`) is posted again through
///   ``CallbackIngress``: verified with the merchant's current keys, written to `payfleet.callbacks`
///   only if it verifies now, and sampled to dead-letters again (bounded) if it still does not.
///
/// Replaying a record twice is harmless: the worker treats a repeated create with the same content
/// as the same order, and a repeated callback or timer as a duplicate.
public struct DeadLetterReplayer: Sendable {
    /// Header naming the dead letter a replayed record came from: `payfleet.dead-letters/<partition>/<offset>`.
    public static let replayedFromHeader = "payfleet-replayed-from"

    /// What a replay does with one dead letter.
    public enum Action: Sendable, Hashable {
        /// Write the original back to this topic.
        case republish(topic: String)
        /// Post the refused callback again through the ingress logic.
        case repost(path: String)
        /// Cannot be replayed (the reason).
        case skip(String)
    }

    /// What happened to one dead letter.
    public struct Outcome: Sendable, Hashable {
        public var entry: DeadLetterEntry
        public var action: Action
        /// `written`, `dry-run`, the ingress outcome (`accepted`, `rejected`, …), `failed: …` or `skipped: …`.
        public var result: String
        /// Whether the record went where it was meant to (or would, on a dry run).
        public var succeeded: Bool
    }

    private let publisher: any RecordPublisher
    private let ingress: CallbackIngress?

    /// - Parameters:
    ///   - publisher: writes republished records (acks=all).
    ///   - ingress: the ingress logic for refused callbacks; `nil` skips them (no merchants configured).
    public init(publisher: any RecordPublisher, ingress: CallbackIngress?) {
        self.publisher = publisher
        self.ingress = ingress
    }

    /// What replaying `entry` does.
    public static func action(for entry: DeadLetterEntry) -> Action {
        if entry.isIngressSourced {
            let path = String(entry.sourceTopic.dropFirst(DeadLetterEntry.httpSourcePrefix.count))
            guard ingressRequest(for: entry, receivedAt: Date()) != nil else {
                return .skip("the refused callback's path \(path) names no /notify/<channel>/<merchant>")
            }
            return .repost(path: path)
        }
        if entry.sourceTopic.isEmpty { return .skip("the dead letter names no source topic") }
        if entry.sourceTopic == FleetTopic.deadLetters { return .skip("the source is the dead-letter topic itself") }
        return .republish(topic: entry.sourceTopic)
    }

    /// The record that writes `entry`'s original back to its source topic.
    public static func record(for entry: DeadLetterEntry) -> KafkaProducerMessage {
        var headers = entry.originalHeaders.filter { $0.key != replayedFromHeader }
        headers.append(KafkaHeader(key: replayedFromHeader, string: entry.coordinates))
        return KafkaProducerMessage(topic: entry.sourceTopic, key: entry.key, value: entry.value, headers: headers)
    }

    /// The callback as the ingress received it: path, channel and merchant, the `payfleet-http-*`
    /// headers and the body; `nil` when the path is not `/notify/<channel>/<merchant>`.
    public static func ingressRequest(for entry: DeadLetterEntry, receivedAt: Date) -> IngressRequest? {
        let path = String(entry.sourceTopic.dropFirst(DeadLetterEntry.httpSourcePrefix.count))
        let route = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        let segments = route.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard segments.count == 3, segments[0] == "notify" else { return nil }
        let channel = segments[1].removingPercentEncoding ?? segments[1]
        let merchant = segments[2].removingPercentEncoding ?? segments[2]
        var headers: [String: String] = [:]
        for header in entry.originalHeaders where header.key.hasPrefix(CallbackRecord.httpHeaderPrefix) {
            let name = String(header.key.dropFirst(CallbackRecord.httpHeaderPrefix.count))
            headers[name] = header.value.flatMap { String(data: $0, encoding: .utf8) } ?? ""
        }
        return IngressRequest(
            channel: channel, merchant: merchant, path: path, headers: headers, body: Array(entry.value ?? Data()),
            receivedAt: receivedAt)
    }

    /// Replays `entries` in order; with `dryRun` nothing is written or posted.
    public func replay(_ entries: [DeadLetterEntry], dryRun: Bool) async -> [Outcome] {
        var outcomes: [Outcome] = []
        for entry in entries {
            let action = Self.action(for: entry)
            switch action {
            case .skip(let why):
                outcomes.append(Outcome(entry: entry, action: action, result: "skipped: \(why)", succeeded: false))
            case .republish:
                if dryRun {
                    outcomes.append(Outcome(entry: entry, action: action, result: "dry-run", succeeded: true))
                    continue
                }
                do {
                    try await publisher.publish(Self.record(for: entry))
                    outcomes.append(Outcome(entry: entry, action: action, result: "written", succeeded: true))
                } catch {
                    outcomes.append(
                        Outcome(entry: entry, action: action, result: "failed: \(error)", succeeded: false))
                }
            case .repost:
                guard let ingress else {
                    outcomes.append(
                        Outcome(
                            entry: entry, action: action,
                            result: "skipped: refused callbacks need the merchants file (--merchants)",
                            succeeded: false))
                    continue
                }
                if dryRun {
                    outcomes.append(Outcome(entry: entry, action: action, result: "dry-run", succeeded: true))
                    continue
                }
                guard let request = Self.ingressRequest(for: entry, receivedAt: Date()) else { continue }
                let answer = await ingress.handle(request)
                var result = answer.outcome.rawValue
                if let reason = answer.reason { result += " (\(reason))" }
                outcomes.append(
                    Outcome(entry: entry, action: action, result: result, succeeded: answer.outcome == .accepted))
            }
        }
        return outcomes
    }
}
