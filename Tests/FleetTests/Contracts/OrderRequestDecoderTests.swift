import Foundation
import Payments
import Testing

@testable import Fleet

@Suite("Order request decoding")
struct OrderRequestDecoderTests {
    let decoder = OrderRequestDecoder()

    func decode(_ json: String, key: String? = "order-1") -> Result<OrderRequest, RequestRejection> {
        decoder.decode(value: Data(json.utf8), key: key)
    }

    func reject(_ json: String, key: String? = "order-1") -> RequestRejection? {
        if case .failure(let rejection) = decode(json, key: key) { return rejection }
        return nil
    }

    static let valid =
        #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":9900,"description":"tea","attach":"a1","expires_at":"2026-11-22T10:30:00+08:00","client_ip":"10.0.0.1","options":{"trade_type":"NATIVE"}}"#

    @Test("a complete create decodes into typed fields")
    func valid() throws {
        let request = try decode(Self.valid).get()
        #expect(request.action == .create)
        #expect(request.outTradeNo == "order-1")
        #expect(request.merchant == "shop")
        #expect(request.channel == .wechatV2)
        #expect(request.amount == Money(fen: 9900))
        #expect(request.description == "tea")
        #expect(request.attach == "a1")
        #expect(request.clientIP == "10.0.0.1")
        #expect(request.expiresAt == Date(timeIntervalSince1970: 1_795_314_600))
        #expect(request.options["trade_type"] == .string("NATIVE"))
    }

    @Test("the content digest ignores key order and whitespace but not content")
    func digest() throws {
        let a = try decode(Self.valid).get().contentDigest
        let reordered =
            #"{ "channel":"wechat-v2", "merchant":"shop", "out_trade_no":"order-1", "action":"create", "amount_fen":9900, "description":"tea","attach":"a1","expires_at":"2026-11-22T10:30:00+08:00","client_ip":"10.0.0.1","options":{"trade_type":"NATIVE"} }"#
        #expect(try decode(reordered).get().contentDigest == a)
        let changed = Self.valid.replacingOccurrences(of: "9900", with: "9901")
        #expect(try decode(changed).get().contentDigest != a)
        #expect(a.count == 64)
    }

    @Test(
        "each broken request gets its own reason and a detail naming the field",
        arguments: [
            (#"{"action":"create""#, "malformed_json", "not valid JSON"),
            (#"[1,2]"#, "not_an_object", "JSON object"),
            (
                #"{"out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":1,"description":"d"}"#,
                "missing_field", "action is required"
            ),
            (
                #"{"action":"reverse","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2"}"#,
                "unknown_action", "reverse"
            ),
            (
                #"{"action":"create","merchant":"shop","channel":"wechat-v2","amount_fen":1,"description":"d"}"#,
                "missing_field", "out_trade_no is required"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","channel":"wechat-v2","amount_fen":1,"description":"d"}"#,
                "missing_field", "merchant is required"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"alipay","amount_fen":1,"description":"d"}"#,
                "unknown_channel", "alipay"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":1.5,"description":"d"}"#,
                "bad_amount", "no decimals"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":-5,"description":"d"}"#,
                "bad_amount", "positive"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":0,"description":"d"}"#,
                "bad_amount", "positive"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":"100","description":"d"}"#,
                "bad_amount", "a string"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":100000000000,"description":"d"}"#,
                "bad_amount", "at most"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","description":"d"}"#,
                "missing_field", "amount_fen is required"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":1}"#,
                "missing_field", "description is required"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":5,"channel":"wechat-v2","amount_fen":1,"description":"d"}"#,
                "invalid_field", "merchant must be a string"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":1,"description":"d","expires_at":"tomorrow"}"#,
                "bad_expires_at", "RFC 3339"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":1,"description":"d","options":[1]}"#,
                "invalid_field", "options must be a JSON object"
            ),
            (
                #"{"action":"create","out_trade_no":"order 1","merchant":"shop","channel":"wechat-v2","amount_fen":1,"description":"d"}"#,
                "invalid_field", "printable ASCII"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v2","amount_fen":1,"description":"d","options":{"sub_orders":[]}}"#,
                "invalid_field", "only valid for channel wechat-v3-combine"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v3-combine","amount_fen":300,"description":"d"}"#,
                "missing_field", "sub_orders is required"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v3-combine","amount_fen":300,"description":"d","options":{"sub_orders":[{"out_trade_no":"s1","amount_fen":100,"description":"x"},{"out_trade_no":"s2","amount_fen":100,"description":"y"}]}}"#,
                "sub_orders_mismatch", "sum to 200 fen but amount_fen is 300"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v3-combine","amount_fen":200,"description":"d","options":{"sub_orders":[{"out_trade_no":"s1","amount_fen":100,"description":"x"},{"out_trade_no":"s1","amount_fen":100,"description":"y"}]}}"#,
                "sub_orders_mismatch", "repeats"
            ),
            (
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v3-combine","amount_fen":200,"description":"d","options":{"sub_orders":[{"out_trade_no":"s1","amount_fen":"100","description":"x"}]}}"#,
                "sub_orders_mismatch", "sub_orders[0].amount_fen"
            ),
        ])
    func rejections(json: String, reason: String, fragment: String) throws {
        let rejection = try #require(reject(json))
        #expect(rejection.reason.rawValue == reason)
        #expect(rejection.detail.contains(fragment), "detail: \(rejection.detail)")
    }

    @Test("a rejection names the order when the request named it, so a rejected event can be published")
    func rejectionKnowsOrder() throws {
        let rejection = try #require(
            reject(
                #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"nope","amount_fen":1,"description":"d"}"#
            ))
        #expect(rejection.outTradeNo == "order-1")
        #expect(rejection.merchant == "shop")
        #expect(rejection.channel == "nope")
        #expect(rejection.action == "create")
    }

    @Test("the record key must be the out_trade_no")
    func keyMismatch() throws {
        #expect(try #require(reject(Self.valid, key: "order-2")).reason == .keyMismatch)
        #expect(try #require(reject(Self.valid, key: nil)).reason == .keyMismatch)
    }

    @Test("a tombstone is rejected as null_value, not a crash")
    func tombstone() {
        guard case .failure(let rejection) = decoder.decode(value: nil, key: "order-1") else {
            Issue.record("decoded a tombstone")
            return
        }
        #expect(rejection.reason == .nullValue)
        #expect(rejection.outTradeNo == "order-1")
    }

    @Test("close and query need no amount or description; a valid combine create decodes")
    func otherActions() throws {
        let close = try decode(#"{"action":"close","out_trade_no":"order-1","merchant":"shop","channel":"storepos"}"#)
            .get()
        #expect(close.action == .close && close.amount == nil)
        let query = try decode(
            #"{"action":"query","out_trade_no":"order-1","merchant":"shop","channel":"yungouos","amount_fen":5}"#
        ).get()
        #expect(query.amount == Money(fen: 5))
        let combine = try decode(
            #"{"action":"create","out_trade_no":"order-1","merchant":"shop","channel":"wechat-v3-combine","amount_fen":300,"description":"d","options":{"sub_orders":[{"out_trade_no":"s1","amount_fen":100,"description":"x"},{"out_trade_no":"s2","amount_fen":200,"description":"y","mchid":"1900000109"}]}}"#
        ).get()
        #expect(combine.options["sub_orders"]?.arrayValue?.count == 2)
    }

    @Test(
        "garbage bytes never crash the decoder",
        arguments: [[0xFF, 0xFE, 0x00], [], Array("null".utf8), Array("\"x\"".utf8), Array("{}".utf8)] as [[UInt8]])
    func garbage(bytes: [UInt8]) {
        guard case .failure = decoder.decode(value: Data(bytes), key: "order-1") else {
            Issue.record("garbage decoded")
            return
        }
    }
}
