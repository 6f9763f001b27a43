import Foundation
import Kafka
import Payments
import Synchronization

@testable import Fleet

/// A publisher that records what it was given, optionally after a delay or failing.
final class IngressRecordingPublisher: RecordPublisher {
    enum Behaviour: Sendable {
        case acknowledge
        case fail
        case delay(Duration)
    }

    private let behaviour: Behaviour
    private let stored = Mutex<[KafkaProducerMessage]>([])

    init(_ behaviour: Behaviour = .acknowledge) {
        self.behaviour = behaviour
    }

    var messages: [KafkaProducerMessage] { stored.withLock { $0 } }

    struct Refused: Error {}

    func publish(_ message: KafkaProducerMessage) async throws {
        switch behaviour {
        case .acknowledge: break
        case .fail: throw Refused()
        case .delay(let delay): try? await Task.sleep(for: delay)
        }
        stored.withLock { $0.append(message) }
    }
}

/// A channel whose callbacks are `key=<out_trade_no>` bodies, genuine when they carry the header
/// `X-Sig: abc`; everything else is unused by the ingress.
struct IngressFakeChannel: PaymentChannel {
    var channel: ChannelID
    var merchant: String
    var policy = ChannelPolicy()

    func validate(_ order: PaymentOrder) throws(ChannelError) {}
    func create(_ order: PaymentOrder) async throws(ChannelError) -> CreateOutcome { throw .configuration("not used") }
    func query(_ order: OrderReference) async throws(ChannelError) -> TradeStatus { throw .configuration("not used") }
    func close(_ order: OrderReference) async throws(ChannelError) -> CloseOutcome { throw .configuration("not used") }
    func verifyCallback(_ callback: RawCallback) async throws(CallbackError) -> VerifiedCallback {
        let key = try callbackOrderKey(callback)
        guard callback.header("x-sig") == "abc" else { throw .badSignature() }
        return VerifiedCallback(outTradeNo: key, status: .notPaid, vendorMerchantID: nil, amount: nil)
    }

    func callbackOrderKey(_ callback: RawCallback) throws(CallbackError) -> String {
        let text = String(decoding: callback.body, as: UTF8.self)
        guard text.hasPrefix("key=") else { throw .malformed("no key field") }
        return String(text.dropFirst(4))
    }

    var acknowledgement: CallbackAcknowledgement {
        CallbackAcknowledgement(
            success: CallbackReply(status: 200, contentType: "text/plain", body: "SUCCESS"),
            failure: CallbackReply(status: 500, contentType: "text/plain", body: "FAIL"))
    }
}
