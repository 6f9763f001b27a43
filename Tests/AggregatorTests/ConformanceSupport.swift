import CoreMetrics
import Foundation
import NIOConcurrencyHelpers
import Payments
import Testing

/// The conformance corpus in `Fixtures/<vendor>/`: vendor samples PayFleet's sandbox did not write
/// (each folder's README says where every file comes from).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Every fixture of `vendor` (README excluded), sorted.
    static func names(_ vendor: String) -> [String] {
        let folder = root.appendingPathComponent(vendor).path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0 != "README.md" && !$0.hasPrefix(".") }.sorted()
    }

    static func bytes(_ vendor: String, _ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(vendor).appendingPathComponent(name)))
    }

    static func object(_ vendor: String, _ name: String) throws -> [String: JSONValue] {
        try #require(AnswerFields.object(try bytes(vendor, name)), "\(vendor)/\(name) is not a JSON object")
    }

    static func form(_ vendor: String, _ name: String) throws -> [String: String] {
        let text = String(decoding: try bytes(vendor, name), as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
        return try #require(FormEncoding.decode(text), "\(vendor)/\(name) is not a form")
    }

    static func json(_ object: [String: JSONValue]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(JSONValue.object(object))) ?? Data())
    }

    static func formBody(_ fields: [String: String]) -> [UInt8] {
        Array(FormEncoding.encode(fields.sorted { $0.key < $1.key }).utf8)
    }

    /// `object` with its `sign` replaced by `sign(members as text)` (null members left out).
    static func resigned(_ object: [String: JSONValue], _ sign: ([String: String]) -> String) -> [String: JSONValue] {
        var object = object
        object.removeValue(forKey: "sign")
        object["sign"] = .string(sign(AnswerFields(json: object, context: "").values))
        return object
    }

    /// Every string member that is a plain decimal integer without leading zeros, or a yuan
    /// amount, turned into a JSON number (what a vendor that "sometimes sends numbers" does).
    static func numbersAsNumbers(_ object: [String: JSONValue]) -> [String: JSONValue] {
        object.mapValues { value in
            guard case .string(let text) = value, !text.isEmpty, text.count < 15 else { return value }
            if text == "0" || (text.first != "0" && text.allSatisfy(\.isASCII) && text.allSatisfy(\.isNumber)) {
                return Int64(text).map(JSONValue.integer) ?? value
            }
            if let money = try? Money(yuan: text), text.contains("."), money.fen > 0,
                text.first != "0" || text.hasPrefix("0.")
            {
                return Double(text).map(JSONValue.number) ?? value
            }
            return value
        }
    }

    static let unknownMember: (String, JSONValue) = (
        "payfleet_unknown_member", .object(["nested": .array([.integer(1), .string("x")])])
    )
}

/// What a parser made of a fixture, comparable across shape variants.
enum Parsed: Hashable, CustomStringConvertible {
    case created(CreateOutcome)
    case status(TradeStatus)
    case closed(CloseOutcome?)
    case callback(VerifiedCallback)
    case channelError(ChannelError.Code, String)
    case callbackError(CallbackError.Kind, String)

    var isError: Bool {
        switch self {
        case .channelError, .callbackError: true
        default: false
        }
    }

    var errorMessage: String? {
        switch self {
        case .channelError(_, let message), .callbackError(_, let message): message
        default: nil
        }
    }

    /// The outcome without error wording, for "same outcome" comparisons.
    var kind: String {
        switch self {
        case .created(let outcome): "created \(outcome)"
        case .status(let status): "status \(status)"
        case .closed(let outcome): "closed \(String(describing: outcome))"
        case .callback(let verified):
            "callback \(verified.outTradeNo) \(verified.status) \(String(describing: verified.amount))"
        case .channelError(let code, _): "error \(code.rawValue)"
        case .callbackError(let kind, _): "callback error \(kind.rawValue)"
        }
    }

    var description: String { errorMessage.map { "\(kind): \($0)" } ?? kind }

    /// The same outcome: equal, except that verified callbacks compare without their member lists
    /// (a callback keeps every member it got, unknown ones included).
    func sameOutcome(_ other: Parsed) -> Bool {
        if case .callback(let mine) = self, case .callback(let theirs) = other {
            return mine.outTradeNo == theirs.outTradeNo && mine.status == theirs.status && mine.amount == theirs.amount
                && mine.vendorMerchantID == theirs.vendorMerchantID
        }
        return self == other
    }

    static func of(_ body: () throws(ChannelError) -> Parsed) -> Parsed {
        do { return try body() } catch { return .channelError(error.code, error.message) }
    }

    static func ofCallback(_ body: () throws(CallbackError) -> VerifiedCallback) -> Parsed {
        do { return .callback(try body()) } catch { return .callbackError(error.kind, error.message) }
    }
}

/// Counts `Counter` increments by label and dimensions, for the unmatched-message metric.
final class RecordingMetrics: MetricsFactory, @unchecked Sendable {
    // @unchecked: `counts` is a locked box.
    let counts = NIOLockedValueBox<[String: Int64]>([:])

    /// Installed once per test process (swift-metrics allows a single bootstrap).
    static let shared: RecordingMetrics = {
        let factory = RecordingMetrics()
        MetricsSystem.bootstrap(factory)
        return factory
    }()

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }).joined(separator: ",")
    }

    func value(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
        counts.withLockedValue { $0[Self.key(label, dimensions)] ?? 0 }
    }

    final class CountingHandler: CounterHandler, @unchecked Sendable {
        let key: String
        let counts: NIOLockedValueBox<[String: Int64]>
        init(key: String, counts: NIOLockedValueBox<[String: Int64]>) {
            self.key = key
            self.counts = counts
        }
        func increment(by amount: Int64) { counts.withLockedValue { $0[key, default: 0] += amount } }
        func reset() { counts.withLockedValue { $0[key] = 0 } }
    }

    final class Ignoring: RecorderHandler, TimerHandler, @unchecked Sendable {
        func record(_ value: Int64) {}
        func record(_ value: Double) {}
        func recordNanoseconds(_ duration: Int64) {}
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        CountingHandler(key: Self.key(label, dimensions), counts: counts)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Ignoring()
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Ignoring() }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
