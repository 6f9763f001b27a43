import Foundation
import Payments

/// The `detail` field of `pay/unifiedorder`: a JSON string in WeChat's 单品优惠 shape
/// `{"cost_price"?, "receipt_id"?, "goods_detail": [{"goods_id", "wxpay_goods_id"?, "goods_name"?,
/// "quantity", "price"}]}` with integer fen prices.
///
/// Source: https://pay.weixin.qq.com/wiki/doc/api/danpin.php?chapter=9_102&index=2 (单品优惠参数说明) and
/// the unifiedorder request example on https://pay.weixin.qq.com/wiki/doc/api/native.php?chapter=9_1,
/// whose `detail` is `{"goods_detail":[{"goods_id","wxpay_goods_id","goods_name","quantity","price",…}]}`.
///
/// The merchant's `goods_detail` option is accepted as a JSON list of goods, as an object with a
/// `goods_detail` list (plus `cost_price` / `receipt_id`), or as either of those already written as
/// JSON text; what is sent is always the documented object.
enum WeChatV2GoodsDetail {
    /// The `detail` JSON text for an order's `goods_detail` option.
    static func detail(from option: JSONValue) throws(ChannelError) -> String {
        var value = option
        if case .string(let text) = option {
            guard let data = text.data(using: .utf8), let parsed = try? JSONDecoder().decode(JSONValue.self, from: data)
            else {
                throw .invalidRequest("goods_detail text is not JSON")
            }
            value = parsed
        }
        var out: [String: JSONValue] = [:]
        let goods: [JSONValue]
        switch value {
        case .array(let list):
            goods = list
        case .object(let object):
            guard let list = object["goods_detail"]?.arrayValue else {
                throw .invalidRequest("goods_detail must be a list of goods or an object with a goods_detail list")
            }
            goods = list
            if let cost = object["cost_price"], cost != .null {
                guard let fen = cost.integerValue, fen > 0 else {
                    throw .invalidRequest("goods_detail.cost_price must be a positive integer number of fen")
                }
                out["cost_price"] = .integer(fen)
            }
            if let receipt = object["receipt_id"], receipt != .null {
                guard let text = receipt.stringValue, !text.isEmpty, text.utf8.count <= 32 else {
                    throw .invalidRequest("goods_detail.receipt_id must be 1-32 bytes")
                }
                out["receipt_id"] = .string(text)
            }
        default:
            throw .invalidRequest("goods_detail must be a list of goods or an object with a goods_detail list")
        }
        guard !goods.isEmpty else { throw .invalidRequest("goods_detail must list at least one item") }
        var items: [JSONValue] = []
        for (index, item) in goods.enumerated() {
            guard case .object(let good) = item else {
                throw .invalidRequest("goods_detail[\(index)] must be an object")
            }
            guard let id = good["goods_id"]?.stringValue, !id.isEmpty, id.utf8.count <= 32 else {
                throw .invalidRequest("goods_detail[\(index)].goods_id must be 1-32 bytes")
            }
            guard let quantity = good["quantity"]?.integerValue, quantity > 0 else {
                throw .invalidRequest("goods_detail[\(index)].quantity must be a positive integer")
            }
            guard let price = good["price"]?.integerValue, price >= 0 else {
                throw .invalidRequest("goods_detail[\(index)].price must be an integer number of fen")
            }
            var sent: [String: JSONValue] = [
                "goods_id": .string(id), "quantity": .integer(quantity), "price": .integer(price),
            ]
            if let wxpay = good["wxpay_goods_id"], wxpay != .null {
                guard let text = wxpay.stringValue, text.utf8.count <= 32 else {
                    throw .invalidRequest("goods_detail[\(index)].wxpay_goods_id must be at most 32 bytes")
                }
                sent["wxpay_goods_id"] = .string(text)
            }
            if let name = good["goods_name"], name != .null {
                guard let text = name.stringValue, text.utf8.count <= 256 else {
                    throw .invalidRequest("goods_detail[\(index)].goods_name must be at most 256 bytes")
                }
                sent["goods_name"] = .string(text)
            }
            items.append(.object(sent))
        }
        out["goods_detail"] = .array(items)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(JSONValue.object(out)) else {
            throw .invalidRequest("goods_detail cannot be encoded as JSON")
        }
        let text = String(decoding: data, as: UTF8.self)
        guard text.utf8.count <= 6000 else { throw .invalidRequest("detail must be at most 6000 bytes") }
        return text
    }
}
