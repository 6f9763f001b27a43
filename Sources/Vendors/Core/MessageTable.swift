/// What a vendor's human-readable message means, for the answers where the message text is the
/// only signal (YunGouOS has no code beyond 0/1; 乐收赢's `return_msg`; storepos's `msg` where
/// its codes do not tell "duplicate order number" apart).
public enum MessageMeaning: String, Sendable, Hashable, CaseIterable {
    /// The order number was used before: query instead of creating again.
    case duplicate
    /// The order is paid (so it cannot be closed).
    case alreadyPaid = "already_paid"
    /// The order is closed or revoked.
    case closed
    /// The vendor does not know the order.
    case notFound = "not_found"
    /// Slow down and repeat later.
    case rateLimited = "rate_limited"
    /// The vendor's own trouble; repeat later.
    case systemBusy = "system_busy"
    /// The request's signature or key is wrong; repeating does not help.
    case signatureError = "signature_error"
    /// A business refusal of this request (bad parameter, merchant not allowed); repeating does not help.
    case rejected
}

/// One vendor's message phrases, in the order they are tried, each with where it comes from.
///
/// A message matches the first entry whose phrase it contains. A message that matches nothing is
/// not guessed at: the channel logs and counts it and treats the answer as "query later".
public struct MessageTable: Sendable {
    public struct Entry: Sendable, Hashable {
        public var phrase: String
        public var meaning: MessageMeaning
        /// The document, sample or SDK the phrase was taken from (or "assumption: …").
        public var source: String

        public init(_ phrase: String, _ meaning: MessageMeaning, source: String) {
            self.phrase = phrase
            self.meaning = meaning
            self.source = source
        }
    }

    public let entries: [Entry]

    public init(_ entries: [Entry]) {
        self.entries = entries
    }

    /// The meaning of the first entry `message` contains; `nil` when none matches (or it is empty).
    public func meaning(of message: String) -> MessageMeaning? {
        guard !message.isEmpty else { return nil }
        return entries.first { message.contains($0.phrase) }?.meaning
    }

    /// The entry that decides `message`, for logs and operator tools.
    public func entry(for message: String) -> Entry? {
        guard !message.isEmpty else { return nil }
        return entries.first { message.contains($0.phrase) }
    }
}
