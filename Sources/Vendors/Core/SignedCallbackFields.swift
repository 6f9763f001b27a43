import Foundation

/// What the aggregators' callbacks share: a body of name/value fields, a `sign` among them, and
/// fields that must be present before anything is read.
extension FormEncoding {
    /// The fields of a form-encoded callback body, not verified.
    public static func callbackFields(_ body: [UInt8]) throws(CallbackError) -> [String: String] {
        guard let text = String(validating: body, as: UTF8.self) else { throw .malformed("callback body is not UTF-8") }
        // Surrounding whitespace is ignored; ASCII whitespace is trimmed on the bytes, anything else
        // as Foundation trims it.
        var lower = 0
        var upper = body.count
        while lower < upper, isASCIIWhitespace(body[lower]) { lower += 1 }
        while upper > lower, isASCIIWhitespace(body[upper - 1]) { upper -= 1 }
        let form: [String: String]?
        if lower < upper, body[lower] >= 0x80 || body[upper - 1] >= 0x80 {
            form = decode(text.trimmingCharacters(in: .whitespacesAndNewlines))
        } else {
            form = body.withUnsafeBufferPointer { decode(bytes: UnsafeBufferPointer(rebasing: $0[lower..<upper])) }
        }
        guard let form, !form.isEmpty else { throw .malformed("callback body is not a form") }
        return form
    }

    private static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }
}

extension CallbackError {
    /// Fails with `<what> '<name>' is missing` for the first of `names` that is absent or empty.
    public static func requireFields(
        _ names: [String], in fields: [String: String], what: String = "callback field"
    ) throws(CallbackError) {
        for name in names {
            guard let value = fields[name], !value.isEmpty else { throw .malformed("\(what) '\(name)' is missing") }
        }
    }
}

extension VerifiedCallback {
    /// A callback whose `sign` field verified: `fields` are kept for audit and operator tools
    /// without the signature.
    public init(
        outTradeNo: String, status: TradeStatus, vendorMerchantID: String?, amount: Money?,
        signedFields: [String: String]
    ) {
        var fields = signedFields
        fields.removeValue(forKey: "sign")
        self.init(
            outTradeNo: outTradeNo, status: status, vendorMerchantID: vendorMerchantID, amount: amount, fields: fields)
    }
}
