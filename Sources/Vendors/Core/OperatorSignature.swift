/// What `payfleet sign` prints: the signature of one vendor API call and how it was computed.
///
/// ``explained`` is the exact string that was digested with the key masked (``Secret/masked``),
/// so an operator can compare it with the vendor's own debug output without revealing the key.
public struct OperatorSignature: Sendable, Hashable {
    /// The vendor API the parameters belong to (`native-pay`, `notify`, `minipay`, …).
    public var api: String
    /// The parameter names that took part, in signing order.
    public var signedFields: [String]
    /// The parameters that were given but do not take part (the vendor sends them unsigned).
    public var unsignedFields: [String]
    /// The string that was digested, key masked.
    public var explained: String
    /// The signature, exactly as the vendor expects it (hex case included).
    public var signature: String

    public init(api: String, signedFields: [String], unsignedFields: [String], explained: String, signature: String) {
        self.api = api
        self.signedFields = signedFields
        self.unsignedFields = unsignedFields
        self.explained = explained
        self.signature = signature
    }
}
