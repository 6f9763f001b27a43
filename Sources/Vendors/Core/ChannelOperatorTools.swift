import Foundation

extension ChannelDescriptor {
    /// What `payfleet sign` and `payfleet verify-callback` do for one channel, with explicit keys and
    /// clock so an operator can check a captured request or replay an old callback offline.
    public struct OperatorTools: Sendable {
        /// The `--api` values `sign` knows for this channel (empty: the channel has one signing rule).
        public var signingAPIs: [String]
        /// Signs parameters as the vendor expects, or explains why the channel has no parameter signature.
        public var sign: @Sendable (SignRequest) throws(Failure) -> SignReport
        /// Verifies a captured callback and says what it contains.
        public var verifyCallback: @Sendable (CallbackRequest) throws(Failure) -> [String]

        public init(
            signingAPIs: [String],
            sign: @escaping @Sendable (SignRequest) throws(Failure) -> SignReport,
            verifyCallback: @escaping @Sendable (CallbackRequest) throws(Failure) -> [String]
        ) {
            self.signingAPIs = signingAPIs
            self.sign = sign
            self.verifyCallback = verifyCallback
        }

        /// `payfleet sign`'s input.
        public struct SignRequest: Sendable {
            /// The vendor API the parameters belong to (`--api`), when given.
            public var api: String?
            public var parameters: [String: String]
            public var key: Secret
            /// WeChat v2 `--sign-type`, when given.
            public var signType: String?

            public init(api: String?, parameters: [String: String], key: Secret, signType: String?) {
                self.api = api
                self.parameters = parameters
                self.key = key
                self.signType = signType
            }
        }

        /// `payfleet sign`'s output: the signature, the lines `--explain` prints before it (key
        /// masked) and warnings printed in any case.
        public struct SignReport: Sendable, Hashable {
            public var signature: String
            public var explanation: [String]
            public var warnings: [String]

            public init(signature: String, explanation: [String], warnings: [String] = []) {
                self.signature = signature
                self.explanation = explanation
                self.warnings = warnings
            }

            /// The report of a parameter signature with a named API (the aggregators).
            public init(_ signature: OperatorSignature) {
                var lines = [
                    "api: \(signature.api)", "signed fields: \(signature.signedFields.joined(separator: ","))",
                ]
                if !signature.unsignedFields.isEmpty {
                    lines.append("not signed (sent as given): \(signature.unsignedFields.joined(separator: ","))")
                }
                lines.append("string to sign: \(signature.explained)")
                self.init(signature: signature.signature, explanation: lines)
            }
        }

        /// `payfleet verify-callback`'s input: the captured request and whatever keys the operator gave.
        public struct CallbackRequest: Sendable {
            public var body: [UInt8]
            /// The request headers (names lowercased), when `--headers` was given.
            public var headers: [String: String]?
            /// `--key`: the signing key of a form/XML/JSON callback.
            public var key: Secret?
            /// `--apiv3-key`.
            public var apiV3Key: Secret?
            /// `--platform-cert`, read.
            public var platformCertificatePEM: String?
            /// `--public-key`, read, and `--public-key-id`.
            public var publicKeyPEM: String?
            public var publicKeyID: String?
            /// The time a timestamp is checked against (`--now`, default now).
            public var now: Date

            public init(
                body: [UInt8], headers: [String: String]? = nil, key: Secret? = nil, apiV3Key: Secret? = nil,
                platformCertificatePEM: String? = nil, publicKeyPEM: String? = nil, publicKeyID: String? = nil,
                now: Date = Date()
            ) {
                self.body = body
                self.headers = headers
                self.key = key
                self.apiV3Key = apiV3Key
                self.platformCertificatePEM = platformCertificatePEM
                self.publicKeyPEM = publicKeyPEM
                self.publicKeyID = publicKeyID
                self.now = now
            }
        }

        /// Why an operator tool did not answer.
        public enum Failure: Error, Sendable, CustomStringConvertible {
            /// The command line lacks something the channel needs, or names something it does not know.
            case usage(String)
            /// The callback is not genuine or cannot be read.
            case rejected(CallbackError)

            public var description: String {
                switch self {
                case .usage(let message): message
                case .rejected(let error): "callback rejected: \(error)"
                }
            }
        }
    }
}

extension VerifiedCallback {
    /// What `payfleet verify-callback` prints for a verified callback: order, status, amount, the
    /// vendor's merchant id and the fields (the signature removed), one per line.
    public var operatorReport: [String] {
        var lines = ["out_trade_no: \(outTradeNo)", "status: \(Self.describe(status))"]
        if let amount { lines.append("amount_fen: \(amount.fen)") }
        if let vendorMerchantID { lines.append("vendor_merchant_id: \(vendorMerchantID)") }
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) { lines.append("\(name)=\(value)") }
        return lines
    }

    static func describe(_ status: TradeStatus) -> String {
        switch status {
        case .succeeded(let payment): "succeeded (transaction \(payment.transactionID))"
        case .paying: "paying"
        case .notPaid: "not paid"
        case .closed: "closed"
        case .failed(let failure): "failed (\(failure.code): \(failure.message))"
        case .refunded(let payment): "refunded (transaction \(payment.transactionID))"
        case .notFound: "not found"
        }
    }
}

extension ChannelDescriptor.OperatorTools {
    /// The tools of a channel whose requests carry a parameter signature whose fields depend on the
    /// API, and whose callbacks verify with one key given as `--key` (the aggregators).
    ///
    /// - Parameters:
    ///   - defaultAPI: the API `sign` assumes without `--api` (`nil`: `--api` is required).
    ///   - keyName: what `--key` is at this vendor, for the message when it is missing.
    public static func parameterSigned<API: RawRepresentable & CaseIterable & Sendable>(
        channel: ChannelID, apis: API.Type, defaultAPI: API?, keyName: String,
        explain: @escaping @Sendable (_ parameters: [String: String], _ api: API, _ key: Secret) -> OperatorSignature,
        verify: @escaping @Sendable (_ body: [UInt8], _ key: Secret) throws(CallbackError) -> VerifiedCallback
    ) -> Self where API.RawValue == String {
        let names = API.allCases.map(\.rawValue)
        return Self(
            signingAPIs: names,
            sign: { request throws(Failure) in
                let chosen: API? = if let api = request.api { API(rawValue: api) } else { defaultAPI }
                guard let which = chosen else {
                    throw .usage(
                        request.api == nil && defaultAPI == nil
                            ? "\(channel) needs --api, one of: \(names.joined(separator: ", "))"
                            : "\(channel) --api must be one of: \(names.joined(separator: ", "))")
                }
                return SignReport(explain(request.parameters, which, request.key))
            },
            verifyCallback: { request throws(Failure) in
                guard let key = request.key, !key.isEmpty else { throw .usage("\(channel) needs --key (\(keyName))") }
                do throws(CallbackError) {
                    return try verify(request.body, key).operatorReport
                } catch {
                    throw .rejected(error)
                }
            })
    }
}
