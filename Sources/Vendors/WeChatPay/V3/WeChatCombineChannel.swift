import Foundation
import Logging
import Observability
import Payments
import _CryptoExtras

/// WeChat Pay APIv3 combine (合单) Native (`wechat-v3-combine`): combine create, query and close,
/// the trade bill, the encrypted payment notification, and per-sub-order refunds
/// (`WeChatCombineChannel+Refund.swift`).
///
/// ## Settings
/// - `combine_appid`, `combine_mchid`, `merchant_serial_no` (serial of the merchant API certificate) — required
/// - `api_base_url` (default `https://api.mch.weixin.qq.com`), `backup_api_base_url`
///   (default `https://api2.mch.weixin.qq.com`; `none` disables failover)
/// - `wechatpay_public_key_id`: the `PUB_KEY_ID_…` of the WeChat Pay public key, when one is configured
/// - `platform_certificates`: `download` (default) to fetch and refresh platform certificates from
///   `/v3/certificates`, `off` to rely on the public key alone
/// - `payer_client_ip`: sent when an order has no `client_ip` (default `127.0.0.1`)
/// - `sub_order_mchids`: comma-separated 商户号 that sub-orders may name as their `mchid` besides
///   `combine_mchid` (合单 across merchants; each must be bound to `combine_appid` at WeChat)
///
/// ## Secrets
/// - `merchant_private_key`: PEM RSA private key of the merchant API certificate (PKCS#1 or PKCS#8)
/// - `apiv3_key`: the 32-byte APIv3 key
/// - `wechatpay_public_key`: PEM of the WeChat Pay public key (with `wechatpay_public_key_id`)
///
/// The order's `sub_orders` option lists 2–10 sub-orders (`out_trade_no`, `amount_fen`,
/// `description`, optional `attach` and `mchid`) whose amounts add up to the order amount; the
/// order's own `out_trade_no` is the `combine_out_trade_no`.
public struct WeChatCombineChannel: WeChatPayChannel {
    static let channelID: ChannelID = .wechatV3Combine
    public let merchant: String
    public let policy: ChannelPolicy

    let appID: String
    let mchID: String
    let credential: WeChatV3Credential
    let apiV3Key: Secret
    let defaultClientIP: String
    /// The merchant ids a sub-order may name (`combine_mchid` and `sub_order_mchids`).
    let allowedSubOrderMchIDs: Set<String>
    let baseURLs: [String]
    let keys: WeChatV3KeyStore
    let verifier = WeChatV3SignatureVerifier()
    let host: WeChatPayHost

    /// Reads and validates the account's settings and secrets. Nothing is downloaded here:
    /// platform certificates are fetched lazily by the first call that needs them.
    init(checkedAccount account: MerchantAccount, host: WeChatPayHost) throws(ChannelError) {
        merchant = account.alias
        appID = try account.setting("combine_appid")
        mchID = try account.setting("combine_mchid")
        let serial = try account.setting("merchant_serial_no")
        let privateKey: _RSA.Signing.PrivateKey
        do {
            privateKey = try WeChatV3Crypto.privateKey(pem: account.secret("merchant_private_key"))
        } catch let error as ChannelError {
            throw error
        } catch {
            throw .configuration(
                "merchant \(account.alias): secret 'merchant_private_key' is not a usable RSA private key")
        }
        let credential = WeChatV3Credential(mchID: mchID, serialNumber: serial, privateKey: privateKey)
        self.credential = credential
        apiV3Key = try account.secret("apiv3_key")
        guard apiV3Key.reveal().utf8.count == 32 else {
            throw .configuration("merchant \(account.alias): secret 'apiv3_key' must be 32 bytes")
        }
        defaultClientIP = account.setting("payer_client_ip", default: "127.0.0.1")
        var allowed: Set<String> = [mchID]
        for item in account.setting("sub_order_mchids", default: "").split(separator: ",") {
            let id = item.trimmingCharacters(in: .whitespaces)
            guard !id.isEmpty else { continue }
            guard id.utf8.count <= 32, id.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw .configuration(
                    "merchant \(account.alias): setting 'sub_order_mchids' must list 商户号 (digits), separated by commas")
            }
            allowed.insert(id)
        }
        allowedSubOrderMchIDs = allowed
        let urls = try WeChatPay.baseURLs(account)
        baseURLs = urls

        var publicKeyID: String?
        var publicKey: _RSA.Signing.PublicKey?
        if let id = account.settings["wechatpay_public_key_id"], !id.isEmpty {
            guard let pem = account.secrets["wechatpay_public_key"], !pem.isEmpty else {
                throw .configuration(
                    "merchant \(account.alias): secret 'wechatpay_public_key' is missing (wechatpay_public_key_id is set)"
                )
            }
            do {
                publicKey = try WeChatV3Crypto.publicKey(pem: pem.reveal())
            } catch {
                throw .configuration(
                    "merchant \(account.alias): secret 'wechatpay_public_key' is not a PEM RSA public key")
            }
            publicKeyID = id
        }
        let certificates = account.setting("platform_certificates", default: "download").lowercased()
        guard certificates == "download" || certificates == "off" else {
            throw .configuration("merchant \(account.alias): setting 'platform_certificates' must be download or off")
        }
        if certificates == "off" && publicKey == nil {
            throw .configuration(
                "merchant \(account.alias): platform_certificates is off but no wechatpay_public_key_id/wechatpay_public_key is configured"
            )
        }
        self.host = host
        policy = WeChatPay.defaultPolicy

        // The downloader needs the transport but not the key store, so there is no cycle.
        let transport = Transport(
            baseURLs: urls, credential: credential, http: host.http, logger: host.logger, now: host.now)
        let apiV3Key = try account.secret("apiv3_key")
        let staticKey = publicKeyID.flatMap { id in publicKey.map { (id, $0) } }
        var downloader: WeChatV3KeyStore.Downloader?
        if certificates == "download" {
            downloader = { () async throws(ChannelError) -> [WeChatPlatformCertificate] in
                try await Self.downloadCertificates(transport: transport, apiV3Key: apiV3Key, staticKey: staticKey)
            }
        }
        keys = WeChatV3KeyStore(publicKeyID: publicKeyID, publicKey: publicKey, downloader: downloader)
    }

    // MARK: Orders

    struct PlannedSubOrder: Hashable {
        var outTradeNo: String
        var amount: Money
        var description: String
        var attach: String?
        var mchID: String
    }

    /// The order's `options.sub_orders`, checked as a create is. `paid`: the order of a refund, read
    /// back from its terminal summary, which keeps each sub-order's `out_trade_no`, `amount_fen` and
    /// `mchid` but not its `description` (refunds do not send it), so a missing description is accepted.
    func subOrders(of order: PaymentOrder, paid: Bool = false) throws(ChannelError) -> [PlannedSubOrder] {
        guard let list = order.options["sub_orders"]?.arrayValue else {
            throw .invalidRequest("wechat-v3-combine needs the sub_orders option")
        }
        guard (2...10).contains(list.count) else {
            throw .invalidRequest("a direct merchant's combine order has 2-10 sub-orders, not \(list.count)")
        }
        var planned: [PlannedSubOrder] = []
        var seen = Set<String>()
        for (index, item) in list.enumerated() {
            guard let outTradeNo = item["out_trade_no"]?.stringValue,
                WeChatPay.isValidOutTradeNo(outTradeNo, minimumLength: 6)
            else {
                throw .invalidRequest(
                    "sub_orders[\(index)].out_trade_no must be 6-32 characters of digits, letters and _-|*")
            }
            guard seen.insert(outTradeNo).inserted, outTradeNo != order.outTradeNo else {
                throw .invalidRequest("sub_orders[\(index)].out_trade_no repeats another order number")
            }
            guard let fen = item["amount_fen"]?.integerValue, fen > 0 else {
                throw .invalidRequest("sub_orders[\(index)].amount_fen must be a positive integer")
            }
            let description = item["description"]?.stringValue ?? (paid ? "" : nil)
            guard let description, paid || !description.isEmpty, description.utf8.count <= 127 else {
                throw .invalidRequest("sub_orders[\(index)].description must be 1-127 bytes")
            }
            let attach = item["attach"]?.stringValue
            if let attach, attach.utf8.count > 128 {
                throw .invalidRequest("sub_orders[\(index)].attach must be at most 128 bytes")
            }
            var subMchID = mchID
            if let named = item["mchid"], named != .null {
                guard let value = named.stringValue, allowedSubOrderMchIDs.contains(value) else {
                    throw .invalidRequest(
                        "sub_orders[\(index)].mchid must be combine_mchid or one of the merchant's sub_order_mchids")
                }
                subMchID = value
            }
            planned.append(
                PlannedSubOrder(
                    outTradeNo: outTradeNo, amount: Money(fen: fen), description: description, attach: attach,
                    mchID: subMchID))
        }
        let total = planned.reduce(Int64(0)) { $0 + $1.amount.fen }
        guard total == order.amount.fen else {
            throw .invalidRequest("sub-order amounts add up to \(total) fen, the order is \(order.amount.fen) fen")
        }
        return planned
    }

    public func validate(_ order: PaymentOrder) throws(ChannelError) {
        guard WeChatPay.isValidOutTradeNo(order.outTradeNo, minimumLength: 6) else {
            throw .invalidRequest("combine_out_trade_no must be 6-32 characters of digits, letters and _-|*")
        }
        guard order.amount.fen > 0 else { throw .invalidRequest("the amount must be positive") }
        try WeChatPay.validateNotifyURL(order.notifyURL)
        _ = try subOrders(of: order)
    }

    public func create(_ order: PaymentOrder) async throws(ChannelError) -> CreateOutcome {
        try validate(order)
        let planned = try subOrders(of: order)
        let request = WeChatCombine.CreateRequest(
            combine_appid: appID, combine_mchid: mchID, combine_out_trade_no: order.outTradeNo,
            scene_info: .init(payer_client_ip: order.clientIP ?? defaultClientIP, device_id: nil),
            sub_orders: planned.map { sub in
                WeChatCombine.CreateSubOrder(
                    mchid: sub.mchID, attach: sub.attach ?? order.attach ?? order.outTradeNo,
                    amount: .init(total_amount: sub.amount.fen, currency: "CNY"),
                    out_trade_no: sub.outTradeNo, description: sub.description
                )
            },
            time_start: nil,
            time_expire: order.expiresAt.map(ChinaTime.rfc3339),
            notify_url: order.notifyURL
        )
        let body = try WeChatCombine.encode(request)
        let response: VerifiedResponse
        do throws(ChannelError) {
            response = try await call(method: "POST", path: "/v3/combine-transactions/native", body: body)
        } catch  where error.code == .timeout {
            return .pending(.unknownResult, memo: [:])
        }
        switch response.status {
        case 200:
            let answer: WeChatCombine.CreateAnswer
            do throws(WeChatCombine.AnswerError) {
                answer = try WeChatCombine.decodeAnswer(WeChatCombine.CreateAnswer.self, response.body)
            } catch {
                throw .badResponse("combine create answer: \(error)")
            }
            guard !answer.code_url.isEmpty else { throw .badResponse("combine create answer: field code_url is empty") }
            return .prepared(Prepared(codeURL: answer.code_url, memo: ["combine_out_trade_no": order.outTradeNo]))
        case 202:
            return .pending(.userPaying, memo: [:])
        default:
            let failure = vendorError(response)
            switch failure.code {
            case "OUT_TRADE_NO_USED", "ORDERPAID", "ORDER_PAID":
                return .duplicate
            case "SYSTEM_ERROR", "SYSTEMERROR", "BANK_ERROR", "BANKERROR":
                return .pending(.needQuery, memo: [:])
            case "USERPAYING":
                return .pending(.userPaying, memo: [:])
            default:
                if response.status >= 500 { return .pending(.needQuery, memo: [:]) }
                try rethrowTransportLike(response, failure, operation: "combine create")
                return .failed(failure)
            }
        }
    }

    public func query(_ reference: OrderReference) async throws(ChannelError) -> TradeStatus {
        let path = "/v3/combine-transactions/out-trade-no/\(reference.order.outTradeNo)"
        let response = try await call(method: "GET", path: path, body: [])
        guard response.status == 200 else {
            let failure = vendorError(response)
            if response.status == 404 || failure.code == "ORDER_NOT_EXIST" || failure.code == "ORDERNOTEXIST" {
                return .notFound
            }
            if response.status >= 500 {
                throw ChannelError(.vendorUnavailable, "combine query: \(failure.message)", vendorCode: failure.code)
            }
            try rethrowTransportLike(response, failure, operation: "combine query")
            throw ChannelError(.vendorRejected, "combine query refused: \(failure.message)", vendorCode: failure.code)
        }
        return try tradeStatus(answer: response.body, outTradeNo: reference.order.outTradeNo)
    }

    /// What a verified combine query answer (HTTP 200) says about the order `outTradeNo`.
    func tradeStatus(answer body: [UInt8], outTradeNo: String) throws(ChannelError) -> TradeStatus {
        let result: WeChatCombine.Result
        do throws(WeChatCombine.AnswerError) {
            result = try WeChatCombine.decodeAnswer(WeChatCombine.Result.self, body)
        } catch {
            throw .badResponse("combine query answer: \(error)")
        }
        guard result.combine_out_trade_no == outTradeNo, result.combine_mchid == mchID else {
            throw .badResponse("combine query answer is about another order or merchant")
        }
        // Sub-orders that differ from the order's (number, mchid, amount) are not an error here: the
        // order machine compares every sub-order with the order and turns a mismatch into an anomaly.
        return try WeChatCombine.status(of: result)
    }

    public func close(_ reference: OrderReference) async throws(ChannelError) -> CloseOutcome {
        let age = now().timeIntervalSince(reference.order.createdAt)
        if age < 300 {
            return .tooEarly(retryAfter: .seconds(max(1, Int64((300 - age).rounded(.up)))))
        }
        // The close must name the same sub-orders as the create.
        let planned = try subOrders(of: reference.order)
        let request = WeChatCombine.CloseRequest(
            combine_appid: appID,
            sub_orders: planned.map { WeChatCombine.CloseSubOrder(mchid: $0.mchID, out_trade_no: $0.outTradeNo) }
        )
        let path = "/v3/combine-transactions/out-trade-no/\(reference.order.outTradeNo)/close"
        let response = try await call(method: "POST", path: path, body: try WeChatCombine.encode(request))
        switch response.status {
        case 204, 200:
            return .closed
        default:
            let failure = vendorError(response)
            switch failure.code {
            case "ORDER_CLOSED", "ORDERCLOSED": return .alreadyClosed
            case "ORDERPAID", "ORDER_PAID":
                return .alreadyPaid
            case "TRADE_ERROR" where failure.message.contains("支付"):
                return .alreadyPaid
            case "ORDER_NOT_EXIST", "ORDERNOTEXIST": return .notFound
            default:
                if response.status == 404 { return .notFound }
                if response.status >= 500 {
                    throw ChannelError(
                        .vendorUnavailable, "combine close: \(failure.message)", vendorCode: failure.code)
                }
                try rethrowTransportLike(response, failure, operation: "combine close")
                throw ChannelError(
                    .vendorRejected, "combine close refused: \(failure.message)", vendorCode: failure.code)
            }
        }
    }

    /// 401 and 429 mean the same for every call: our signature/credentials are wrong, or slow down.
    func rethrowTransportLike(
        _ response: VerifiedResponse, _ failure: VendorFailure, operation: String
    ) throws(ChannelError) {
        if response.status == 429 || failure.code == "FREQUENCY_LIMITED" {
            throw ChannelError(.rateLimited, "\(operation): \(failure.message)", vendorCode: failure.code)
        }
        if response.status == 401 || failure.code == "SIGN_ERROR" {
            throw ChannelError(
                .vendorRejected, "\(operation): WeChat did not accept our signature (\(failure.message))",
                vendorCode: failure.code)
        }
    }

    func vendorError(_ response: VerifiedResponse) -> VendorFailure {
        if let error = WeChatCombine.decode(WeChatCombine.ErrorBody.self, response.body) {
            return VendorFailure(code: error.code, message: error.message ?? error.code)
        }
        return VendorFailure(code: "HTTP_\(response.status)", message: "HTTP \(response.status)")
    }

    // MARK: Callback

    public func verifyCallback(_ callback: RawCallback) async throws(CallbackError) -> VerifiedCallback {
        let headers: WeChatV3SignatureVerifier.SignedHeaders
        do throws(WeChatV3SignatureVerifier.Failure) {
            headers = try WeChatV3SignatureVerifier.SignedHeaders(headers: callback.headers)
        } catch {
            throw error.callbackError
        }
        if let type = callback.header("Wechatpay-Signature-Type"), !type.isEmpty, type != WeChatV3Credential.schema {
            throw .malformed("unsupported Wechatpay-Signature-Type")
        }
        do throws(WeChatV3SignatureVerifier.Failure) {
            try await verifySignature(headers, body: callback.body)
        } catch {
            throw error.callbackError
        }
        let (notification, plaintext) = try Self.decryptEnvelope(callback.body, apiV3Key: apiV3Key)
        if Self.isRefund(notification) {
            return try verifyRefundNotification(notification, plaintext: plaintext)
        }
        let result = try Self.combineResult(plaintext)
        guard result.combine_mchid == mchID else {
            throw CallbackError(.wrongMerchant, "notification names another combine_mchid")
        }
        if let appid = result.combine_appid, appid != appID {
            throw CallbackError(.wrongMerchant, "notification names another combine_appid")
        }
        let status: TradeStatus
        do throws(ChannelError) {
            status = try WeChatCombine.status(of: result)
        } catch {
            throw .malformed(error.message)
        }
        var fields = [
            "combine_out_trade_no": result.combine_out_trade_no, "combine_mchid": result.combine_mchid,
            "resource": String(decoding: plaintext, as: UTF8.self),
        ]
        if let id = notification.id { fields["id"] = id }
        if let type = notification.event_type { fields["event_type"] = type }
        return VerifiedCallback(
            outTradeNo: result.combine_out_trade_no, status: status, vendorMerchantID: result.combine_mchid,
            amount: WeChatCombine.reportedTotal(of: result), notificationID: notification.id, fields: fields
        )
    }

    public func callbackOrderKey(_ callback: RawCallback) throws(CallbackError) -> String {
        let (notification, plaintext) = try Self.decryptEnvelope(callback.body, apiV3Key: apiV3Key)
        if Self.isRefund(notification) {
            // The resource names the sub-order; the combine order is in the vendor refund number.
            let resource = try Self.refundResource(plaintext)
            guard let parsed = Self.parseVendorOutRefundNo(resource.out_refund_no) else {
                throw .malformed("refund notification: out_refund_no was not made by PayFleet")
            }
            return parsed.combine
        }
        return try Self.combineResult(plaintext).combine_out_trade_no
    }

    /// Parses the envelope and decrypts its resource (no signature check: see ``verifyCallback(_:)``).
    func decryptNotification(
        _ body: [UInt8]
    ) throws(CallbackError) -> (WeChatCombine.Notification, [UInt8], WeChatCombine.Result) {
        try Self.decryptNotification(body, apiV3Key: apiV3Key)
    }

    static func decryptNotification(
        _ body: [UInt8], apiV3Key: Secret
    ) throws(CallbackError) -> (WeChatCombine.Notification, [UInt8], WeChatCombine.Result) {
        let (notification, plaintext) = try decryptEnvelope(body, apiV3Key: apiV3Key)
        return (notification, plaintext, try combineResult(plaintext))
    }

    /// A payment notification's decrypted resource.
    static func combineResult(_ plaintext: [UInt8]) throws(CallbackError) -> WeChatCombine.Result {
        do throws(WeChatCombine.AnswerError) {
            return try WeChatCombine.decodeAnswer(WeChatCombine.Result.self, plaintext)
        } catch {
            throw .malformed("decrypted resource: \(error)")
        }
    }

    /// Parses a notification envelope (payment or refund) and decrypts its resource.
    static func decryptEnvelope(
        _ body: [UInt8], apiV3Key: Secret
    ) throws(CallbackError) -> (WeChatCombine.Notification, [UInt8]) {
        let notification: WeChatCombine.Notification
        do throws(WeChatCombine.AnswerError) {
            notification = try WeChatCombine.decodeAnswer(WeChatCombine.Notification.self, body)
        } catch {
            throw .malformed("notification: \(error)")
        }
        guard notification.resource.algorithm == "AEAD_AES_256_GCM" else {
            throw .malformed("unsupported resource algorithm")
        }
        let plaintext: [UInt8]
        do throws(WeChatV3Crypto.Failure) {
            plaintext = try notification.resource.decrypt(apiV3Key: apiV3Key)
        } catch {
            throw CallbackError(.decryptionFailed, error.reason)
        }
        return (notification, plaintext)
    }

    public var acknowledgement: CallbackAcknowledgement { Self.acknowledgement }

    /// APIv3 answers: 204 (no body) once durable; 500 with `{"code":"FAIL","message":"失败"}` to be called again.
    public static let acknowledgement = CallbackAcknowledgement(
        success: CallbackReply(status: 204, contentType: nil, body: ""),
        failure: CallbackReply(status: 500, contentType: "application/json", body: #"{"code":"FAIL","message":"失败"}"#)
    )

    // MARK: Transport

    /// A response whose signature verified (or an unsigned 5xx from a gateway).
    struct VerifiedResponse {
        var status: Int
        var body: [UInt8]
    }

    /// Signs, sends (failing over to the backup host) and verifies one API call.
    func call(method: String, path: String, body: [UInt8]) async throws(ChannelError) -> VerifiedResponse {
        let transport = Transport(baseURLs: baseURLs, credential: credential, http: http, logger: logger, now: now)
        let response = try await transport.send(method: method, pathAndQuery: path, body: body)
        try await verify(response, path: path)
        return VerifiedResponse(status: response.status, body: response.body)
    }

    func verify(_ response: VendorHTTPResponse, path: String) async throws(ChannelError) {
        let headers: WeChatV3SignatureVerifier.SignedHeaders
        do {
            headers = try WeChatV3SignatureVerifier.SignedHeaders(headers: response.headers)
        } catch {
            if response.status >= 500 {
                throw ChannelError(.vendorUnavailable, "\(path) answered HTTP \(response.status)")
            }
            throw .badResponse("\(path): answer is not signed (HTTP \(response.status))")
        }
        do throws(WeChatV3SignatureVerifier.Failure) {
            try await verifySignature(headers, body: response.body)
        } catch {
            if response.status == 401, error.kind == .unknownSerial {
                // WeChat refused our own signature, so the platform certificates cannot be fetched
                // either; the refusal cannot be verified, but it can only ever stop the call.
                throw ChannelError(
                    .vendorRejected,
                    "\(path): WeChat answered 401 (merchant key, serial or clock is wrong); the answer could not be verified",
                    vendorCode: WeChatCombine.decode(WeChatCombine.ErrorBody.self, response.body)?.code ?? "SIGN_ERROR"
                )
            }
            throw ChannelError(.badResponse, "\(path): \(error.description)", vendorCode: "SIGN")
        }
    }

    /// Verifies a signed callback or answer, now, with the platform key (or public key) its serial names.
    func verifySignature(
        _ headers: WeChatV3SignatureVerifier.SignedHeaders, body: [UInt8]
    ) async throws(WeChatV3SignatureVerifier.Failure) {
        let current = now()
        let key = await keys.key(serial: headers.serial, now: current)
        try verifier.verify(headers, body: body, key: key, now: current)
    }

    static func downloadCertificates(
        transport: Transport, apiV3Key: Secret, staticKey: (String, _RSA.Signing.PublicKey)?
    ) async throws(ChannelError) -> [WeChatPlatformCertificate] {
        let path = "/v3/certificates"
        let response = try await transport.send(method: "GET", pathAndQuery: path, body: [])
        guard response.status == 200 else {
            throw ChannelError(
                response.status >= 500 ? .vendorUnavailable : .vendorRejected,
                "\(path) answered HTTP \(response.status)")
        }
        let list: WeChatCombine.CertificateList
        do throws(WeChatCombine.AnswerError) {
            list = try WeChatCombine.decodeAnswer(WeChatCombine.CertificateList.self, response.body)
        } catch {
            throw .badResponse("\(path) answer: \(error)")
        }
        var certificates: [WeChatPlatformCertificate] = []
        for entry in list.data {
            if let algorithm = entry.encrypt_certificate.algorithm, algorithm != "AEAD_AES_256_GCM" {
                throw .badResponse(
                    "\(path): certificate \(entry.serial_no.prefix(40)) uses unsupported algorithm \(algorithm.prefix(32))"
                )
            }
            let pem: [UInt8]
            do throws(WeChatV3Crypto.Failure) {
                pem = try entry.encrypt_certificate.decrypt(apiV3Key: apiV3Key)
            } catch {
                throw .badResponse(
                    "\(path): certificate \(entry.serial_no.prefix(40)) cannot be decrypted with the APIv3 key")
            }
            let certificate: WeChatPlatformCertificate
            do throws(WeChatV3Crypto.Failure) {
                certificate = try WeChatPlatformCertificate(pem: String(decoding: pem, as: UTF8.self))
            } catch {
                throw .badResponse("\(path): \(error.reason)")
            }
            guard certificate.serial == entry.serial_no.uppercased() else {
                throw .badResponse("\(path): certificate serial does not match serial_no")
            }
            certificates.append(certificate)
        }
        // The list itself is signed by one of its certificates (or the public key).
        let headers: WeChatV3SignatureVerifier.SignedHeaders
        do {
            headers = try WeChatV3SignatureVerifier.SignedHeaders(headers: response.headers)
        } catch {
            throw .badResponse("\(path): answer is not signed")
        }
        var key = certificates.first { $0.serial == headers.serial }?.publicKey
        if key == nil, let staticKey, staticKey.0 == headers.serial { key = staticKey.1 }
        do throws(WeChatV3SignatureVerifier.Failure) {
            try WeChatV3SignatureVerifier().verify(headers, body: response.body, key: key, now: transport.now())
        } catch {
            throw .badResponse("\(path): \(error.description)")
        }
        return certificates
    }

    /// The signing HTTP client shared by the calls and the certificate download.
    struct Transport: Sendable {
        let baseURLs: [String]
        let credential: WeChatV3Credential
        let http: VendorHTTP
        let logger: Logger
        let now: @Sendable () -> Date

        func send(method: String, pathAndQuery: String, body: [UInt8]) async throws(ChannelError) -> VendorHTTPResponse
        {
            try await WeChatPay.withFailover(
                baseURLs, logger: logger, api: "v3", metadata: [LogKey.path: "\(pathAndQuery)"]
            ) {
                base async throws(ChannelError) in
                try await send(method: method, url: base + pathAndQuery, body: body)
            }
        }

        /// One signed request to an absolute URL.
        func send(method: String, url: String, body: [UInt8]) async throws(ChannelError) -> VendorHTTPResponse {
            let authorization: String
            do throws(WeChatV3Crypto.Failure) {
                authorization = try credential.authorization(
                    method: method, canonicalURL: WeChatV3Credential.canonicalURL(of: url), body: body,
                    timestamp: Int64(now().timeIntervalSince1970), nonce: WeChatPay.nonce()
                )
            } catch {
                throw .configuration("cannot sign the request: \(error.reason)")
            }
            var headers = [
                ("Authorization", authorization), ("Accept", "application/json"),
                ("User-Agent", "payfleet-wechatpay/1.0"),
            ]
            if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
            return try await http.send(
                method: method == "GET" ? .GET : .POST, url: url, headers: headers,
                body: body.isEmpty ? nil : body, logger: logger
            )
        }
    }
}
