import Hummingbird

/// One simulated vendor: its API routes and its half of the control endpoints.
public protocol VendorSimulator: Sendable {
    /// Channel ids this simulator serves (`POST /_sandbox/pay/<channel>/<out_trade_no>` is routed by them).
    var channels: [String] { get }
    /// Adds the vendor's API routes.
    func addRoutes(to router: Router<BasicRequestContext>)
    /// Pays an order now, as if the payer had confirmed, and starts the vendor's callbacks.
    func pay(channel: String, outTradeNo: String) async throws(SandboxError) -> SandboxOrderView
    /// The order as the vendor holds it, for tests and people.
    func order(channel: String, outTradeNo: String) async -> SandboxOrderView?
}

/// What the sandbox shows of one of its orders.
public struct SandboxOrderView: Sendable, Codable, Hashable {
    public var channel: String
    public var outTradeNo: String
    public var amountFen: Int64
    /// The vendor's state word (`NOTPAY`, `SUCCESS`, `CLOSED`, …).
    public var state: String
    public var scenario: String
    public var transactionID: String?
    public var queries: Int
    public var callbacksSent: Int

    public init(
        channel: String, outTradeNo: String, amountFen: Int64, state: String, scenario: String,
        transactionID: String?, queries: Int, callbacksSent: Int
    ) {
        self.channel = channel
        self.outTradeNo = outTradeNo
        self.amountFen = amountFen
        self.state = state
        self.scenario = scenario
        self.transactionID = transactionID
        self.queries = queries
        self.callbacksSent = callbacksSent
    }
}

/// A control request the sandbox cannot carry out.
public struct SandboxError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    public static func notFound(_ what: String) -> SandboxError { .init(status: 404, message: "\(what) not found") }
    public var description: String { message }
}
