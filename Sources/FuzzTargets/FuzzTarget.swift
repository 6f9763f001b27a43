import Dispatch
import Foundation

/// The parsers that read bytes from outside PayFleet before any signature is checked, one fuzz
/// target each: every vendor's callback body, the order-request decoder and the callback-record
/// decoder.
///
/// Each target takes arbitrary bytes, drives the parser through the same entry points the
/// ingress and the worker use, and checks the properties that must hold for every input (no trap;
/// the ingress partition key and the verified order agree; what the product encodes it decodes
/// back). A broken property is a ``FuzzFinding``; typed rejections of bad input are the expected
/// outcome and are not findings. The fuzzers in `Fuzz/` and the corpus regression test both call
/// ``run(_:)``, so every committed seed and reproducer is replayed on every test run.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `OrderRequestDecoder.decode(value:key:)`, then the channel's `validate` for a decoded create.
    case orderRequest = "order-request"
    /// `CallbackRecord.decode(key:value:headers:)` on a record written as text (see ``CallbackRecordInput``).
    case callbackRecord = "callback-record"
    /// WeChat Pay v2 XML notification (`wechat-v2`).
    case wechatV2Callback = "wechat-v2-callback"
    /// WeChat Pay APIv3 combine notification: the envelope JSON and the decrypted resource JSON.
    case wechatV3Notification = "wechat-v3-notification"
    /// YunGouOS form callback.
    case yungouosCallback = "yungouos-callback"
    /// 乐收赢 JSON callback.
    case leshouyingCallback = "leshouying-callback"
    /// storepos form callback.
    case storeposCallback = "storepos-callback"

    /// Runs one input through the target.
    /// - Returns: how far the input got.
    /// - Throws: ``FuzzFinding`` when a property that must hold for every input does not.
    @discardableResult
    public func run(_ input: [UInt8]) async throws(FuzzFinding) -> FuzzOutcome {
        switch self {
        case .orderRequest: try OrderRequestFuzzing.run(input)
        case .callbackRecord: try await CallbackRecordFuzzing.run(input)
        case .wechatV2Callback: try await CallbackFuzzing.wechatV2(input)
        case .wechatV3Notification: try await CallbackFuzzing.wechatV3(input)
        case .yungouosCallback: try await CallbackFuzzing.yungouos(input)
        case .leshouyingCallback: try await CallbackFuzzing.leshouying(input)
        case .storeposCallback: try await CallbackFuzzing.storepos(input)
        }
    }

    /// ``run(_:)`` from synchronous code (the libFuzzer entry point): waits for the async work.
    /// - Returns: the finding, or `nil`.
    public func runBlocking(_ input: [UInt8]) -> FuzzFinding? {
        let outcome = FindingBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            do throws(FuzzFinding) {
                try await run(input)
            } catch {
                outcome.set(error)
            }
            done.signal()
        }
        done.wait()
        return outcome.get()
    }

    /// The target named by `PAYFLEET_FUZZ_TARGET` in `environment`.
    public static func selected(environment: [String: String] = ProcessInfo.processInfo.environment) -> FuzzTarget? {
        environment["PAYFLEET_FUZZ_TARGET"].flatMap(FuzzTarget.init(rawValue:))
    }
}

/// How far one input got: which paths accepted it. The corpus test uses it to prove that the seeds
/// reach the code behind the signature check.
public struct FuzzOutcome: Sendable, Hashable {
    /// Callbacks: the bytes verified as received. Order requests and callback records: they decoded.
    public var acceptedAsReceived = false
    /// Callbacks: the bytes, re-signed with the merchant's key (APIv3: encrypted as the resource), verified.
    public var acceptedSigned = false

    public init(acceptedAsReceived: Bool = false, acceptedSigned: Bool = false) {
        self.acceptedAsReceived = acceptedAsReceived
        self.acceptedSigned = acceptedSigned
    }
}

/// A property that must hold for every input and did not.
public struct FuzzFinding: Error, Sendable, Hashable, CustomStringConvertible {
    public var target: FuzzTarget
    public var message: String

    public init(_ target: FuzzTarget, _ message: String) {
        self.target = target
        self.message = message
    }

    public var description: String { "\(target.rawValue): \(message)" }
}

/// The finding of one run, handed from the task back to the waiting thread.
private final class FindingBox: @unchecked Sendable {
    // Safe: written by the task before it signals the semaphore, read by the waiter after it.
    private let lock = NSLock()
    private var finding: FuzzFinding?

    func set(_ value: FuzzFinding) { lock.withLock { finding = value } }
    func get() -> FuzzFinding? { lock.withLock { finding } }
}
