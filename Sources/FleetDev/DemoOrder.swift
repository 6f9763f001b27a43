import Fleet
import Foundation
import Payments

/// One order the demo (and the end-to-end benchmark) submits, as an upstream order system would.
public struct DemoOrder: Sendable, Hashable {
    public var outTradeNo: String
    public var merchant: String
    public var channel: ChannelID
    public var amountFen: Int64
    public var description: String
    public var expiresAt: Date?
    public var options: [String: JSONValue]

    public init(
        outTradeNo: String, merchant: String, channel: ChannelID, amountFen: Int64, description: String,
        expiresAt: Date? = nil, options: [String: JSONValue] = [:]
    ) {
        self.outTradeNo = outTradeNo
        self.merchant = merchant
        self.channel = channel
        self.amountFen = amountFen
        self.description = description
        self.expiresAt = expiresAt
        self.options = options
    }

    /// The `payfleet.order-requests` value (`action: create`), per the upstream contract.
    public var requestJSON: Data {
        var object: [String: JSONValue] = [
            "action": .string("create"),
            "out_trade_no": .string(outTradeNo),
            "merchant": .string(merchant),
            "channel": .string(channel.rawValue),
            "amount_fen": .integer(amountFen),
            "description": .string(description),
            "client_ip": .string("127.0.0.1"),
        ]
        if let expiresAt { object["expires_at"] = .string(RFC3339.format(expiresAt)) }
        if !options.isEmpty { object["options"] = .object(options) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(JSONValue.object(object))) ?? Data()
    }

    /// An order for a demo merchant of `channel` with the options that channel needs.
    /// - Parameters:
    ///   - amountFen: the last two digits select a sandbox scenario (`…04` is never paid).
    public static func sample(
        channel: ChannelID, outTradeNo: String, amountFen: Int64, description: String, expiresAt: Date? = nil
    ) -> DemoOrder {
        let demo = ChannelCatalog.descriptor(channel)?.demo
        let merchant = demo?.alias ?? "demo-\(channel.rawValue)"
        let options = demo?.orderOptions(outTradeNo, amountFen) ?? [:]
        return DemoOrder(
            outTradeNo: outTradeNo, merchant: merchant, channel: channel, amountFen: amountFen,
            description: description,
            expiresAt: expiresAt, options: options)
    }
}
