import Crypto
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import _CryptoExtras

/// The server side of WeChat Pay APIv3 combine Native for the `wechat-v3-combine` merchants:
/// `/v3/certificates`, combine create / query / close, trade bill apply and download, the
/// signed, AES-256-GCM-encrypted payment notification, and per-sub-order domestic refunds
/// (`WeChatCombineSimulator+Refund.swift`).
///
/// Every request's `Authorization` is checked (mchid, serial, ±5 min timestamp, SHA256withRSA
/// over `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n` with the merchant's key); failures are answered
/// `401 {"code":"SIGN_ERROR",…}`. Every answer (but the bill file) is signed with the platform
/// certificate key, or with the WeChat Pay public key for merchants whose
/// `sandbox_response_signer` setting is `public_key`.
final class WeChatCombineSimulator: LockedOrderSimulator {
    static let channel = "wechat-v3-combine"
    let channels = [WeChatCombineSimulator.channel]
    let context: SandboxContext
    let keys: WeChatPlatformKeys

    struct Merchant: Sendable {
        var appID: String
        var mchID: String
        var serial: String
        var publicKey: _RSA.Signing.PublicKey
        var apiV3Key: String
        var signsWithPublicKey: Bool
        /// The merchant ids sub-orders may name: this merchant's and its `sub_order_mchids` setting (合单 across merchants).
        var subOrderMchIDs: Set<String>
    }

    struct SubOrder: Codable, Sendable, Hashable {
        var mchid: String
        var out_trade_no: String
        var description: String
        var attach: String
        var total_amount: Int64
        var trade_state: String = "NOTPAY"
        var transaction_id: String?
        var success_time: String?
    }

    struct Order: Sendable {
        var mchID: String
        var appID: String
        var outTradeNo: String
        var subOrders: [SubOrder]
        var notifyURL: String
        var codeURL: String
        var createdAt: ContinuousClock.Instant
        var createdDate: Date
        var payerIP: String
        var scenario: SandboxScenario
        var paid = false
        var closed = false
        var queries = 0
        var callbacksSent = 0

        var total: Int64 { subOrders.reduce(0) { $0 + $1.total_amount } }
        var state: String {
            if paid { return "SUCCESS" }
            if closed { return "CLOSED" }
            return subOrders.first?.trade_state ?? "NOTPAY"
        }
    }

    let merchants: [String: Merchant]
    let orders = NIOLockedValueBox<[String: Order]>([:])
    /// Refunds by `<mchid>/<out_refund_no>` (`WeChatCombineSimulator+Refund.swift`).
    let refunds = NIOLockedValueBox<[String: Refund]>([:])
    private let bills = NIOLockedValueBox<[String: (file: [UInt8], gzip: Bool)]>([:])

    init(context: SandboxContext, keys: WeChatPlatformKeys) {
        self.context = context
        self.keys = keys
        var merchants: [String: Merchant] = [:]
        for merchant in context.merchants(channel: Self.channel) {
            guard let appID = merchant.settings["combine_appid"], let mchID = merchant.settings["combine_mchid"],
                let serial = merchant.settings["merchant_serial_no"], let apiV3Key = merchant.secrets["apiv3_key"]
            else {
                context.logger.warning(
                    "sandbox wechat-v3-combine merchant without combine_appid/combine_mchid/merchant_serial_no/apiv3_key ignored"
                )
                continue
            }
            var publicKey: _RSA.Signing.PublicKey?
            if let pem = merchant.secrets["merchant_private_key"],
                let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem)
            {
                publicKey = key.publicKey
            } else if let pem = merchant.secrets["merchant_public_key"] ?? merchant.settings["merchant_public_key"] {
                publicKey = try? _RSA.Signing.PublicKey(pemRepresentation: pem)
            }
            guard let publicKey else {
                context.logger.warning("sandbox wechat-v3-combine merchant without a usable merchant key ignored")
                continue
            }
            var subOrderMchIDs: Set<String> = [mchID]
            for id in (merchant.settings["sub_order_mchids"] ?? "").split(separator: ",") {
                let trimmed = id.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty { subOrderMchIDs.insert(trimmed) }
            }
            merchants[mchID] = Merchant(
                appID: appID, mchID: mchID, serial: serial, publicKey: publicKey, apiV3Key: apiV3Key,
                signsWithPublicKey: merchant.settings["sandbox_response_signer"] == "public_key",
                subOrderMchIDs: subOrderMchIDs
            )
        }
        self.merchants = merchants
    }

    // MARK: Routes

    func addRoutes(to router: Router<BasicRequestContext>) {
        addRefundRoutes(to: router)
        router.get("/v3/certificates") { [self] request, _ in
            await self.authenticated(request) { merchant, _ in self.certificates(merchant) }
        }
        router.post("/v3/combine-transactions/native") { [self] request, _ in
            await self.authenticated(request) { merchant, body in await self.create(merchant, body: body) }
        }
        router.get("/v3/combine-transactions/out-trade-no/:combineOutTradeNo") { [self] request, context in
            let id = context.parameters.get("combineOutTradeNo") ?? ""
            return await self.authenticated(request) { merchant, _ in self.query(merchant, outTradeNo: id) }
        }
        router.post("/v3/combine-transactions/out-trade-no/:combineOutTradeNo/close") { [self] request, context in
            let id = context.parameters.get("combineOutTradeNo") ?? ""
            return await self.authenticated(request) { merchant, body in
                self.close(merchant, outTradeNo: id, body: body)
            }
        }
        router.get("/v3/bill/tradebill") { [self] request, _ in
            await self.authenticated(request) { merchant, _ in self.applyBill(merchant, request: request) }
        }
        router.get("/v3/billdownload/file") { [self] request, _ in
            await self.authenticated(request) { _, _ in
                self.downloadBill(token: request.uri.queryParameters.get("token") ?? "")
            }
        }
        // Control: the public half of the sandbox platform identity, for clients that configure the public key.
        router.get("/_sandbox/wechat-v3/platform") { [self] _, _ in
            struct Platform: Encodable {
                var public_key_id: String
                var public_key_pem: String
                var certificate_serial: String
                var certificate_pem: String
            }
            return WeChatSandbox.response(
                status: .ok, contentType: "application/json",
                body: WeChatSandbox.json(
                    Platform(
                        public_key_id: self.keys.publicKey.serial, public_key_pem: self.keys.publicKeyPEM,
                        certificate_serial: self.keys.certificate.serial, certificate_pem: self.keys.certificatePEM
                    )))
        }
    }

    /// Verifies the `Authorization` header, then runs `handler` with the merchant and the body.
    func authenticated(
        _ request: Request, _ handler: (Merchant, [UInt8]) async -> Response
    ) async -> Response {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: 1 << 20) else {
            return unsignedError(.badRequest, "PARAM_ERROR", "请求体过大")
        }
        let body = Array(buffer.readableBytesView)
        guard let header = request.headers[.authorization] else {
            return unsignedError(.unauthorized, "SIGN_ERROR", "缺少Authorization头")
        }
        let prefix = "WECHATPAY2-SHA256-RSA2048 "
        guard header.hasPrefix(prefix) else { return unsignedError(.unauthorized, "SIGN_ERROR", "不支持的认证类型") }
        var items: [String: String] = [:]
        for part in header.dropFirst(prefix.count).split(separator: ",") {
            let pieces = part.split(separator: "=", maxSplits: 1)
            guard pieces.count == 2 else { continue }
            var value = pieces[1].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            items[pieces[0].trimmingCharacters(in: .whitespaces)] = value
        }
        guard let mchID = items["mchid"], let nonce = items["nonce_str"], let timestamp = items["timestamp"],
            let serial = items["serial_no"], let signature = items["signature"]
        else { return unsignedError(.unauthorized, "SIGN_ERROR", "Authorization头格式错误") }
        guard let merchant = merchants[mchID] else { return unsignedError(.unauthorized, "SIGN_ERROR", "商户号不存在") }
        guard serial == merchant.serial else {
            return signedError(.unauthorized, "SIGN_ERROR", "商户证书序列号有误", merchant: merchant)
        }
        guard let seconds = Int64(timestamp), abs(Date().timeIntervalSince1970 - Double(seconds)) < 300 else {
            return signedError(.unauthorized, "SIGN_ERROR", "请求时间戳与当前时间相差过大", merchant: merchant)
        }
        var message = Array("\(request.method.rawValue)\n\(request.uri.string)\n\(timestamp)\n\(nonce)\n".utf8)
        message += body
        message.append(UInt8(ascii: "\n"))
        guard let raw = Data(base64Encoded: signature),
            merchant.publicKey.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: raw), for: SHA256.hash(data: message),
                padding: .insecurePKCS1v1_5)
        else { return signedError(.unauthorized, "SIGN_ERROR", "错误的签名，验签失败", merchant: merchant) }
        return await handler(merchant, body)
    }

    // MARK: Certificates

    func certificates(_ merchant: Merchant) -> Response {
        let nonce = WeChatSandbox.random(12)
        guard
            let ciphertext = WeChatPlatformKeys.encrypt(
                Array(keys.certificatePEM.utf8), apiV3Key: merchant.apiV3Key, nonce: nonce,
                associatedData: "certificate")
        else { return signedError(.internalServerError, "SYSTEM_ERROR", "系统错误", merchant: merchant) }
        let list: [String: [[String: JSONish]]] = [
            "data": [
                [
                    "serial_no": .string(keys.certificate.serial),
                    "effective_time": .string(
                        WeChatSandbox.chinaTime(keys.notValidBefore, "yyyy-MM-dd'T'HH:mm:ssXXXXX")),
                    "expire_time": .string(WeChatSandbox.chinaTime(keys.notValidAfter, "yyyy-MM-dd'T'HH:mm:ssXXXXX")),
                    "encrypt_certificate": .object([
                        "algorithm": .string("AEAD_AES_256_GCM"), "nonce": .string(nonce),
                        "associated_data": .string("certificate"), "ciphertext": .string(ciphertext),
                    ]),
                ]
            ]
        ]
        // The certificate list is always signed with the platform certificate itself.
        return signedResponse(
            .ok, body: WeChatSandbox.json(list), serial: keys.certificate.serial, key: keys.certificate.privateKey)
    }

    // MARK: Create

    struct CreateBody: Decodable {
        struct Amount: Decodable {
            var total_amount: Int64
            var currency: String?
        }
        struct Sub: Decodable {
            var mchid: String
            var attach: String
            var amount: Amount
            var out_trade_no: String
            var description: String
        }
        struct Scene: Decodable { var payer_client_ip: String }
        var combine_appid: String
        var combine_mchid: String
        var combine_out_trade_no: String
        var scene_info: Scene
        var sub_orders: [Sub]
        var notify_url: String
        var time_expire: String?
    }

    func create(_ merchant: Merchant, body: [UInt8]) async -> Response {
        guard let request = try? JSONDecoder().decode(CreateBody.self, from: Data(body)) else {
            return signedError(.badRequest, "PARAM_ERROR", "请求参数格式错误或缺少必填参数", merchant: merchant)
        }
        guard request.combine_appid == merchant.appID, request.combine_mchid == merchant.mchID else {
            return signedError(
                .badRequest, "APPID_MCHID_NOT_MATCH", "combine_appid和combine_mchid不匹配", merchant: merchant)
        }
        guard (2...10).contains(request.sub_orders.count) else {
            return signedError(.badRequest, "PARAM_ERROR", "直连商户子单数量须为2-10笔", merchant: merchant)
        }
        guard request.notify_url.hasPrefix("https://") || request.notify_url.hasPrefix("http://"),
            !request.notify_url.contains("?")
        else {
            return signedError(.badRequest, "PARAM_ERROR", "notify_url格式错误", merchant: merchant)
        }
        var seen = Set<String>()
        for sub in request.sub_orders {
            guard merchant.subOrderMchIDs.contains(sub.mchid) else {
                return signedError(.badRequest, "PARAM_ERROR", "子单商户号与合单发起方appid无绑定关系", merchant: merchant)
            }
            guard sub.amount.total_amount > 0, (sub.amount.currency ?? "CNY") == "CNY" else {
                return signedError(.badRequest, "PARAM_ERROR", "子单金额错误", merchant: merchant)
            }
            guard !sub.description.isEmpty, !sub.attach.isEmpty, !sub.out_trade_no.isEmpty,
                seen.insert(sub.out_trade_no).inserted
            else {
                return signedError(.badRequest, "PARAM_ERROR", "子单参数错误", merchant: merchant)
            }
        }
        let subOrders = request.sub_orders.map {
            SubOrder(
                mchid: $0.mchid, out_trade_no: $0.out_trade_no, description: $0.description, attach: $0.attach,
                total_amount: $0.amount.total_amount)
        }
        let total = subOrders.reduce(0) { $0 + $1.total_amount }
        let scenario = SandboxScenario(amountFen: total)
        enum Decision {
            case existing(Order), conflict(HTTPResponse.Status, String, String), created(Order), refusedBeforeRecording
        }
        let decision: Decision = orders.withLockedValue { orders in
            if let existing = orders[request.combine_out_trade_no] {
                if existing.paid { return .conflict(.forbidden, "ORDERPAID", "订单已支付") }
                if existing.closed { return .conflict(.badRequest, "ORDER_CLOSED", "订单已关闭") }
                if existing.mchID == merchant.mchID, existing.subOrders == subOrders { return .existing(existing) }
                return .conflict(.forbidden, "OUT_TRADE_NO_USED", "商户订单号重复")
            }
            switch scenario {
            case .vendorError, .refused, .garbage: return .refusedBeforeRecording
            default: break
            }
            var order = Order(
                mchID: merchant.mchID, appID: merchant.appID, outTradeNo: request.combine_out_trade_no,
                subOrders: subOrders,
                notifyURL: request.notify_url,
                codeURL: "weixin://wxpay/bizpayurl/up?pr=" + WeChatSandbox.random(7) + "&groupid=00",
                createdAt: .now, createdDate: Date(), payerIP: request.scene_info.payer_client_ip, scenario: scenario
            )
            if scenario == .pending {
                for index in order.subOrders.indices { order.subOrders[index].trade_state = "USERPAYING" }
            }
            orders[request.combine_out_trade_no] = order
            return .created(order)
        }
        let order: Order
        switch decision {
        case .conflict(let status, let code, let message):
            return signedError(status, code, message, merchant: merchant)
        case .refusedBeforeRecording:
            switch scenario {
            case .vendorError: return signedError(.internalServerError, "SYSTEM_ERROR", "系统错误", merchant: merchant)
            case .refused: return signedError(.forbidden, "RULE_LIMIT", "业务规则限制（沙箱 refused 场景）", merchant: merchant)
            default:
                return WeChatSandbox.response(
                    status: .ok, contentType: "text/html", body: Array("<html><body>502 Bad Gateway</body></html>".utf8)
                )
            }
        case .existing(let existing):
            order = existing
        case .created(let created):
            order = created
            let id = created.outTradeNo
            context.scheduleAutopay(scenario: scenario) { [self] in
                _ = try? await self.pay(channel: Self.channel, outTradeNo: id)
            }
        }
        if scenario == .timeout { try? await Task.sleep(for: context.configuration.slowAnswer) }
        if scenario == .pending {
            return signed(
                .accepted, body: WeChatSandbox.json(["code": "USERPAYING", "message": "用户支付中，需要输入密码"]),
                merchant: merchant)
        }
        return signed(
            .ok, body: WeChatSandbox.json(["code_url": order.codeURL]), merchant: merchant,
            corrupt: scenario == .badResponseSignature)
    }

    // MARK: Query

    func query(_ merchant: Merchant, outTradeNo: String) -> Response {
        let (found, becamePaid) = orders.withLockedValue { orders -> (Order?, Bool) in
            guard var order = orders[outTradeNo], order.mchID == merchant.mchID else { return (nil, false) }
            order.queries += 1
            var becamePaid = false
            if order.scenario == .pending, !order.paid, !order.closed, order.queries >= 2 {
                Self.markPaid(&order)
                becamePaid = true
            }
            orders[outTradeNo] = order
            return (order, becamePaid)
        }
        guard let order = found else { return signedError(.notFound, "ORDER_NOT_EXIST", "订单不存在", merchant: merchant) }
        if becamePaid { sendCallbacks(for: order) }
        return signed(.ok, body: WeChatSandbox.json(Self.result(order)), merchant: merchant)
    }

    /// What a notification says differently from the truth (the fault scenarios).
    enum Tamper {
        case none
        /// The first sub-order reports `delta` fen more (and the total with it).
        case total(delta: Int64)
        /// 1 fen moves from the first sub-order to the second; the total is right.
        case moveOneFen
        /// The last sub-order names another merchant id.
        case otherMerchant
    }

    /// The combine order JSON (query answer and decrypted notification resource), in one of the
    /// shapes WeChat documents, chosen by the order number (``WeChatSandbox/shape(of:)``) so every
    /// order always gets the same shape and different orders get different ones:
    /// - `scene_info` absent, `{}`, `{"device_id"}` (what WeChat answers), or with a member clients do not know;
    /// - `combine_payer_info` present or absent on paid orders;
    /// - paid sub-orders with or without `promotion_detail` (a 1-fen coupon, `payer_amount` 1 fen lower);
    /// - sub-orders with or without the members PayFleet does not read (`trade_state_desc`,
    ///   `sub_mchid`, `sub_appid`, `sub_openid`, `amount.settlement_rate`, `bank_type`).
    static func result(_ order: Order, tamper: Tamper = .none) -> JSONish {
        let shape = WeChatSandbox.shape(of: order.outTradeNo)
        var subs: [JSONish] = []
        for (index, sub) in order.subOrders.enumerated() {
            var amount = sub.total_amount
            var mchid = sub.mchid
            switch tamper {
            case .none: break
            case .total(let delta): if index == 0 { amount += delta }
            case .moveOneFen:
                if index == 0 { amount -= 1 }
                if index == 1 { amount += 1 }
            case .otherMerchant:
                if index == order.subOrders.count - 1 { mchid = otherMerchantID(than: sub.mchid) }
            }
            var item: [String: JSONish] = [
                "mchid": .string(mchid), "trade_type": .string("NATIVE"), "trade_state": .string(sub.trade_state),
                "out_trade_no": .string(sub.out_trade_no),
                "amount": .object(["total_amount": .int(amount), "currency": .string("CNY")]),
            ]
            item["attach"] = .string(sub.attach)  // returned as sent (required in answers)
            if shape & 0b1_0000 != 0 {
                item["trade_state_desc"] = .string(WeChatSandbox.tradeStateDescription(sub.trade_state))
                item["sub_mchid"] = .string(sub.mchid)
                item["sub_appid"] = .string(order.appID)
            }
            if sub.trade_state == "SUCCESS" || sub.trade_state == "REFUND" {
                var payer = amount
                var amountObject: [String: JSONish] = ["total_amount": .int(amount), "currency": .string("CNY")]
                if shape & 0b1000 != 0, amount > 1 {
                    payer -= 1
                    item["promotion_detail"] = .array([
                        .object([
                            "coupon_id": .string("109519"), "name": .string("单品惠-6"), "scope": .string("SINGLE"),
                            "type": .string("DISCOUNT"), "stock_id": .string("931386"), "amount": .int(1),
                            "wechatpay_contribute": .int(0), "merchant_contribute": .int(1),
                            "other_contribute": .int(0),
                            "currency": .string("CNY"),
                            "goods_detail": .array([
                                .object([
                                    "goods_id": .string("M1006"), "quantity": .int(1), "unit_price": .int(amount),
                                    "discount_amount": .int(1), "goods_remark": .string("商品备注"),
                                ])
                            ]),
                        ])
                    ])
                }
                amountObject["payer_amount"] = .int(payer)
                amountObject["payer_currency"] = .string("CNY")
                if shape & 0b100_0000 != 0 { amountObject["settlement_rate"] = .int(100_000_000) }
                item["amount"] = .object(amountObject)
                item["transaction_id"] = sub.transaction_id.map(JSONish.string)
                item["success_time"] = sub.success_time.map(JSONish.string)
                if shape & 0b10_0000 == 0 { item["bank_type"] = .string("OTHERS") }
                if shape & 0b1_0000 != 0 { item["sub_openid"] = .string("oSandboxSubPayer00000000000000") }
            }
            subs.append(.object(item))
        }
        var result: [String: JSONish] = [
            "combine_appid": .string(order.appID), "combine_mchid": .string(order.mchID),
            "combine_out_trade_no": .string(order.outTradeNo), "sub_orders": .array(subs),
        ]
        switch shape & 0b11 {
        case 0: break
        case 1: result["scene_info"] = .object(["device_id": .string("POS1:1")])
        case 2: result["scene_info"] = .object([:])
        default:
            result["scene_info"] = .object([
                "device_id": .string("POS1:1"), "store_info": .object(["id": .string("SZTX001")]),
            ])
        }
        if order.paid, shape & 0b100 == 0 {
            result["combine_payer_info"] = .object(["openid": .string("oSandboxPayer0000000000000000")])
        }
        return .object(result)
    }

    /// A merchant id that is not `mchid` (for the wrong-merchant notification).
    static func otherMerchantID(than mchid: String) -> String {
        mchid == "1900000999" ? "1900000998" : "1900000999"
    }

    // MARK: Close

    func close(_ merchant: Merchant, outTradeNo: String, body: [UInt8]) -> Response {
        struct CloseBody: Decodable {
            struct Sub: Decodable, Hashable {
                var mchid: String
                var out_trade_no: String
            }
            var combine_appid: String
            var sub_orders: [Sub]
        }
        guard let request = try? JSONDecoder().decode(CloseBody.self, from: Data(body)) else {
            return signedError(.badRequest, "PARAM_ERROR", "请求参数格式错误或缺少必填参数", merchant: merchant)
        }
        guard request.combine_appid == merchant.appID else {
            return signedError(.badRequest, "APPID_MCHID_NOT_MATCH", "combine_appid与商户号不匹配", merchant: merchant)
        }
        let minimumAge = context.configuration.scaled(WeChatSandbox.closeMinimumAge)
        let failure: (HTTPResponse.Status, String, String)? = orders.withLockedValue { orders in
            guard var order = orders[outTradeNo], order.mchID == merchant.mchID else {
                return (.notFound, "ORDER_NOT_EXIST", "订单不存在")
            }
            let expected = Set(order.subOrders.map { CloseBody.Sub(mchid: $0.mchid, out_trade_no: $0.out_trade_no) })
            guard Set(request.sub_orders) == expected, request.sub_orders.count == expected.count else {
                return (.badRequest, "PARAM_ERROR", "关单子单须与下单时一致，不支持部分关单")
            }
            if order.paid { return (.forbidden, "ORDERPAID", "订单已支付") }
            if order.closed { return (.badRequest, "ORDER_CLOSED", "订单已关闭") }
            if ContinuousClock.now - order.createdAt < minimumAge {
                return (.badRequest, "INVALID_REQUEST", "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟")
            }
            order.closed = true
            for index in order.subOrders.indices { order.subOrders[index].trade_state = "CLOSED" }
            orders[outTradeNo] = order
            return nil
        }
        if let failure { return signedError(failure.0, failure.1, failure.2, merchant: merchant) }
        return signed(.noContent, body: [], merchant: merchant)
    }

    // MARK: Trade bill

    func applyBill(_ merchant: Merchant, request: Request) -> Response {
        let query = request.uri.queryParameters
        let date = query.get("bill_date") ?? ""
        let type = query.get("bill_type") ?? "ALL"
        let tar = query.get("tar_type")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = WeChatSandbox.chinaTimeZone
        formatter.dateFormat = "yyyy-MM-dd"
        guard formatter.date(from: date) != nil, date.count == 10, ["ALL", "SUCCESS", "REFUND"].contains(type),
            tar == nil || tar == "GZIP"
        else { return signedError(.badRequest, "PARAM_ERROR", "参数错误", merchant: merchant) }
        let today = WeChatSandbox.chinaTime(Date(), "yyyy-MM-dd")
        guard date <= today else {
            return signedError(.badRequest, "NO_STATEMENT_EXIST", "账单文件不存在", merchant: merchant)
        }

        let rows: [Order] = orders.withLockedValue { orders in
            orders.values.filter {
                $0.mchID == merchant.mchID && WeChatSandbox.chinaTime($0.createdDate, "yyyy-MM-dd") == date
            }
        }.sorted { $0.outTradeNo < $1.outTradeNo }
        var csv =
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率\r\n"
        var count = 0
        var sum: Int64 = 0
        for order in rows where type != "REFUND" {
            for sub in order.subOrders where type == "ALL" || sub.trade_state == "SUCCESS" {
                count += 1
                sum += sub.total_amount
                let time = WeChatSandbox.chinaTime(order.createdDate, "yyyy-MM-dd HH:mm:ss")
                let yuan = Self.yuan(sub.total_amount)
                csv +=
                    "`\(time),`\(order.appID),`\(sub.mchid),`0,`SANDBOX,`\(sub.transaction_id ?? ""),`\(sub.out_trade_no),`oSandboxPayer0000000000000000,`NATIVE,`\(sub.trade_state),`OTHERS,`CNY,`\(yuan),`0.00,`0,`0,`0.00,`0.00,`,`,`\(sub.description),`\(sub.attach),`0.00000,`0.60%\r\n"
            }
        }
        csv += "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
        csv += "`\(count),`\(Self.yuan(sum)),`0.00,`0.00,`0.00000,`\(Self.yuan(sum)),`0.00\r\n"
        let file = Array(csv.utf8)
        var hash = WeChatSandbox.hex(Insecure.SHA1.hash(data: file), upper: false)
        if date.hasPrefix("2000-") {
            // Documented fault: bills of any date in 2000 come with a wrong hash_value.
            hash = WeChatSandbox.hex(Insecure.SHA1.hash(data: file + [0x0A]), upper: false)
        }
        let token = WeChatSandbox.random(32)
        bills.withLockedValue { $0[token] = (file, tar == "GZIP") }
        let host = request.head.authority ?? "\(context.configuration.host):\(context.configuration.port)"
        let ticket = [
            "hash_type": "SHA1", "hash_value": hash,
            "download_url": "http://\(host)/v3/billdownload/file?token=\(token)",
        ]
        return signed(.ok, body: WeChatSandbox.json(ticket), merchant: merchant)
    }

    static func yuan(_ fen: Int64) -> String {
        let cents = fen % 100
        return "\(fen / 100).\(cents < 10 ? "0" : "")\(cents)"
    }

    func downloadBill(token: String) -> Response {
        guard let bill = bills.withLockedValue({ $0[token] }) else {
            return unsignedError(.badRequest, "INVALID_REQUEST", "下载地址已失效")
        }
        // The file stream is not signed (as at WeChat).
        return WeChatSandbox.response(
            status: .ok, contentType: "application/octet-stream",
            body: bill.gzip ? WeChatSandbox.gzip(bill.file) : bill.file)
    }

    // MARK: Control

    static func payability(of order: Order) -> SandboxPayability {
        if order.paid { return .alreadyPaid }
        return order.closed ? .closed : .payable
    }

    func view(_ order: Order) -> SandboxOrderView {
        SandboxOrderView(
            channel: Self.channel, outTradeNo: order.outTradeNo, amountFen: order.total, state: order.state,
            scenario: order.scenario.rawValue,
            transactionID: order.subOrders.compactMap(\.transaction_id).sorted().joined(separator: ",").nilIfEmpty,
            queries: order.queries, callbacksSent: order.callbacksSent
        )
    }

    static func markPaid(_ order: inout Order) {
        order.paid = true
        let time = WeChatSandbox.chinaTime(Date(), "yyyy-MM-dd'T'HH:mm:ssXXXXX")
        for index in order.subOrders.indices {
            order.subOrders[index].trade_state = "SUCCESS"
            order.subOrders[index].transaction_id = WeChatSandbox.transactionID()
            order.subOrders[index].success_time = time
        }
    }

    // MARK: Notifications

    func sendCallbacks(for order: Order) {
        guard let merchant = merchants[order.mchID] else { return }
        let tamper: Tamper
        switch order.scenario {
        case .amountMismatch: tamper = .total(delta: 1)
        case .subOrderAmountMismatch where order.subOrders.count >= 2 && order.subOrders[0].total_amount > 1:
            tamper = .moveOneFen
        case .subOrderMerchantMismatch: tamper = .otherMerchant
        default: tamper = .none
        }
        let resource = WeChatSandbox.json(Self.result(order, tamper: tamper))
        let nonce = WeChatSandbox.random(12)
        guard
            let ciphertext = WeChatPlatformKeys.encrypt(
                resource, apiV3Key: merchant.apiV3Key, nonce: nonce, associatedData: "transaction")
        else { return }
        var resourceObject: [String: JSONish] = [
            "algorithm": .string("AEAD_AES_256_GCM"), "ciphertext": .string(ciphertext),
            "associated_data": .string("transaction"), "nonce": .string(nonce),
        ]
        var envelopeObject: [String: JSONish] = [
            "id": .string(UUID().uuidString.lowercased()),
            "create_time": .string(WeChatSandbox.chinaTime(Date(), "yyyy-MM-dd'T'HH:mm:ssXXXXX")),
            "event_type": .string("TRANSACTION.SUCCESS"), "resource_type": .string("encrypt-resource"),
            "summary": .string("支付成功"),
        ]
        // The notification envelope varies too: `original_type` present or not, and a member clients do not know.
        let shape = WeChatSandbox.shape(of: order.outTradeNo)
        if shape & 0b1000_0000 == 0 { resourceObject["original_type"] = .string("transaction") }
        if shape & 0b1_0000_0000 != 0 { envelopeObject["event_version"] = .string("2.0") }
        envelopeObject["resource"] = .object(resourceObject)
        let envelope: JSONish = .object(envelopeObject)
        let body = WeChatSandbox.json(envelope)
        let deliveries = order.scenario == .duplicateCallback ? 2 : 1
        for _ in 0..<deliveries {
            let signing = signingKey(for: merchant)
            let timestamp = String(Int64(Date().timeIntervalSince1970))
            let headerNonce = WeChatSandbox.random(32)
            var message = Array("\(timestamp)\n\(headerNonce)\n".utf8) + body
            message.append(UInt8(ascii: "\n"))
            if order.scenario == .forgedCallback { message += Array("forged".utf8) }
            let signature = WeChatPlatformKeys.sign(message, with: signing.privateKey)
            orders.withLockedValue { $0[order.outTradeNo]?.callbacksSent += 1 }
            context.dispatcher.dispatch(
                CallbackDispatcher.Delivery(
                    channel: Self.channel, outTradeNo: order.outTradeNo, url: order.notifyURL,
                    headers: [
                        ("Content-Type", "application/json"), ("Wechatpay-Serial", signing.serial),
                        ("Wechatpay-Signature", signature), ("Wechatpay-Timestamp", timestamp),
                        ("Wechatpay-Nonce", headerNonce),
                        ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048"),
                    ],
                    body: body, retrySchedule: WeChatSandbox.retrySchedule,
                    isAcknowledged: { status, _ in status == 200 || status == 204 }
                ))
        }
    }

    // MARK: Signed answers

    func signingKey(for merchant: Merchant) -> WeChatPlatformKeys.SigningKey {
        merchant.signsWithPublicKey ? keys.publicKey : keys.certificate
    }

    func signed(_ status: HTTPResponse.Status, body: [UInt8], merchant: Merchant, corrupt: Bool = false) -> Response {
        let signing = signingKey(for: merchant)
        return signedResponse(status, body: body, serial: signing.serial, key: signing.privateKey, corrupt: corrupt)
    }

    func signedResponse(
        _ status: HTTPResponse.Status, body: [UInt8], serial: String, key: _RSA.Signing.PrivateKey,
        corrupt: Bool = false
    ) -> Response {
        let timestamp = String(Int64(Date().timeIntervalSince1970))
        let nonce = WeChatSandbox.random(32)
        var message = Array("\(timestamp)\n\(nonce)\n".utf8) + body
        message.append(UInt8(ascii: "\n"))
        if corrupt { message.insert(UInt8(ascii: "x"), at: 0) }
        return WeChatSandbox.response(
            status: status, contentType: body.isEmpty ? nil : "application/json", body: body,
            headers: [
                ("Wechatpay-Serial", serial), ("Wechatpay-Signature", WeChatPlatformKeys.sign(message, with: key)),
                ("Wechatpay-Timestamp", timestamp), ("Wechatpay-Nonce", nonce), ("Request-ID", UUID().uuidString),
            ]
        )
    }

    func signedError(_ status: HTTPResponse.Status, _ code: String, _ message: String, merchant: Merchant) -> Response {
        signed(status, body: WeChatSandbox.json(["code": code, "message": message]), merchant: merchant)
    }

    /// Errors before the merchant is known are not signed (there is no merchant to sign for).
    func unsignedError(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        WeChatSandbox.response(
            status: status, contentType: "application/json",
            body: WeChatSandbox.json(["code": code, "message": message]))
    }
}

/// A JSON value for building vendor payloads with stable key order.
indirect enum JSONish: Encodable, Sendable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case object([String: JSONish])
    case array([JSONish])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        }
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
