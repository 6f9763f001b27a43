import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Logging
import NIOCore
import Payments
import Synchronization

/// Plays an upstream order system and a payer against a running fleet: writes create requests to
/// `payfleet.order-requests`, follows `payfleet.payment-events`, and (when autopay is off) pays
/// prepared orders through the sandbox's `/_sandbox/pay`. Used by `payfleet demo`, `payfleet dev
/// --demo`, the end-to-end tests and the rate benchmark.
public final class DemoClient: Sendable {
    private let kafka: KafkaConfiguration
    private let sandboxURL: String?
    private let logger: Logger
    private let producer: KafkaProducer
    private let httpClient: HTTPClient

    /// - Parameters:
    ///   - sandboxURL: where to pay orders as a payer (`nil`: never pay; autopay or a real payer does).
    public init(kafka: KafkaConfiguration, sandboxURL: String?, logger: Logger) throws {
        var producerKafka = kafka
        producerKafka.clientID = "payfleet-demo"
        if producerKafka.properties["linger.ms"] == nil { producerKafka.properties["linger.ms"] = "2" }
        self.kafka = kafka
        self.sandboxURL = sandboxURL
        self.logger = logger
        self.producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(kafka: producerKafka), logger: logger)
        self.httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    /// Flushes and closes the producer and the HTTP client.
    public func close() async {
        await producer.close(timeout: .seconds(5))
        try? await httpClient.shutdown()
    }

    /// The demo set: one order per channel, paid, plus a `yungouos` order with the sandbox's
    /// never-paid amount (`…04` fen) that expires after `closeAfter` and must end `closed`.
    public static func demoOrders(runID: String, closeAfter: Duration = .seconds(15)) -> [DemoOrder] {
        var orders: [DemoOrder] = []
        for (index, descriptor) in ChannelCatalog.all.enumerated() {
            orders.append(
                .sample(
                    channel: descriptor.id, outTradeNo: "DEMO\(runID)\(index + 1)",
                    amountFen: descriptor.demo.amountFen,
                    description: "PayFleet demo \(descriptor.id.rawValue)"))
        }
        let seconds = Double(closeAfter.components.seconds) + Double(closeAfter.components.attoseconds) / 1e18
        orders.append(
            .sample(
                channel: .yungouos, outTradeNo: "DEMO\(runID)9", amountFen: 504,
                description: "PayFleet demo, never paid",
                expiresAt: Date().addingTimeInterval(seconds)))
        return orders
    }

    /// Writes the create requests (keyed by out_trade_no) and waits for the broker's acknowledgements.
    public func submit(_ orders: [DemoOrder]) async throws {
        let messages = orders.map {
            KafkaProducerMessage(topic: FleetTopic.orderRequests, key: $0.outTradeNo, value: $0.requestJSON)
        }
        _ = try await producer.sendAll(messages)
    }

    /// Pays an order at the sandbox, as the payer would.
    public func pay(_ order: DemoOrder) async throws {
        guard let sandboxURL else { return }
        var request = HTTPClientRequest(url: "\(sandboxURL)/_sandbox/pay/\(order.channel.rawValue)/\(order.outTradeNo)")
        request.method = .POST
        let response = try await httpClient.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code < 300 else {
            throw DemoError("the sandbox refused to pay \(order.outTradeNo): HTTP \(response.status.code)")
        }
    }

    /// Follows the events of `orders` until each has a terminal event or `timeout` passes.
    ///
    /// - Parameters:
    ///   - payPrepared: pay every `prepared` order whose amount is not the never-paid scenario.
    ///   - onEvent: called for each event of one of the orders, in arrival order.
    /// - Returns: the terminal event type per out_trade_no (absent when none arrived in time).
    @discardableResult
    public func follow(
        _ orders: [DemoOrder], payPrepared: Bool, timeout: Duration,
        onEvent: @escaping @Sendable (DemoOrder, ReceivedPaymentEvent) -> Void = { _, _ in }
    ) async throws -> [String: String] {
        let byKey = Dictionary(orders.map { ($0.outTradeNo, $0) }, uniquingKeysWith: { first, _ in first })
        var configuration = kafka
        configuration.clientID = "payfleet-demo"
        configuration.properties["auto.offset.reset"] = "earliest"
        configuration.properties["enable.auto.commit"] = "false"
        configuration.properties["fetch.wait.max.ms"] = "50"
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                kafka: configuration, groupID: "payfleet-demo-\(UUID().uuidString.lowercased())"),
            logger: logger)
        try consumer.subscribe(topics: [FleetTopic.paymentEvents])
        let timer = Task {
            try? await Task.sleep(for: timeout)
            await consumer.close(timeout: .seconds(5))
        }
        defer { timer.cancel() }
        var terminal: [String: String] = [:]
        var paid: Set<String> = []
        for try await message in consumer.messages {
            guard let event = ReceivedPaymentEvent(headers: message.headers, value: message.value),
                let order = byKey[event.subject]
            else { continue }
            onEvent(order, event)
            let kind = PaymentEvent.Kind(rawValue: event.type)
            if kind.isTerminal { terminal[order.outTradeNo] = kind.shortName }
            if payPrepared, kind == .prepared, order.amountFen % 100 != 4, paid.insert(order.outTradeNo).inserted {
                do { try await pay(order) } catch {
                    logger.warning(
                        "demo could not pay an order",
                        metadata: [LogKey.outTradeNo: "\(order.outTradeNo)", LogKey.error: "\(error)"])
                }
            }
            if terminal.count == byKey.count { break }
        }
        await consumer.close(timeout: .seconds(5))
        return terminal
    }

    /// One human-readable line for an event.
    public static func describe(_ event: ReceivedPaymentEvent, order: DemoOrder) -> String {
        let kind = PaymentEvent.Kind(rawValue: event.type)
        let time = event.time.map { RFC3339.format($0) } ?? "-"
        func field(_ name: String) -> String? {
            guard let value = event.data[name] else { return nil }
            switch value {
            case .string(let text): return text
            case .integer(let number): return String(number)
            case .number(let number): return String(number)
            case .bool(let flag): return String(flag)
            default: return nil
            }
        }
        var details: [String] = []
        switch kind {
        case .prepared:
            for name in ["code_url", "qr_image_url"] {
                if let value = field(name) { details.append("\(name)=\(value)") }
            }
            if details.isEmpty, case .object(let parameters)? = event.data["pay_parameters"] {
                details.append("pay_parameters=\(parameters.keys.sorted().joined(separator: ","))")
            }
        case .succeeded:
            for name in ["transaction_id", "amount_fen", "paid_at"] {
                if let value = field(name) { details.append("\(name)=\(value)") }
            }
        case .failed, .anomaly, .rejected:
            for name in ["reason", "kind", "code", "message", "detail"] {
                if let value = field(name) { details.append("\(name)=\(value)") }
            }
        default:
            for name in ["reason"] { if let value = field(name) { details.append("\(name)=\(value)") } }
        }
        let yuan = Money(fen: order.amountFen).yuanString
        return
            "\(time)  \(order.merchant.padding(toLength: 22, withPad: " ", startingAt: 0)) \(order.outTradeNo)  ¥\(yuan)  "
            + "\(kind.shortName.uppercased().padding(toLength: 9, withPad: " ", startingAt: 0)) \(details.joined(separator: " "))"
    }
}

/// A demo step that could not be carried out.
public struct DemoError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
