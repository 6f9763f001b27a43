import Logging

/// What every simulator shares: the configuration, the callback dispatcher and a logger.
public struct SandboxContext: Sendable {
    public var configuration: SandboxConfiguration
    public var dispatcher: CallbackDispatcher
    public var logger: Logger

    public init(configuration: SandboxConfiguration, dispatcher: CallbackDispatcher, logger: Logger) {
        self.configuration = configuration
        self.dispatcher = dispatcher
        self.logger = logger
    }

    /// The merchants configured for a channel.
    public func merchants(channel: String) -> [SandboxMerchant] {
        configuration.merchants.filter { $0.channel == channel }
    }

    /// The merchants of a channel by the vendor's id for them (`id` returns nil for an account that lacks it).
    func merchants(channel: String, keyedBy id: (SandboxMerchant) -> String?) -> [String: SandboxMerchant] {
        var keyed: [String: SandboxMerchant] = [:]
        for merchant in merchants(channel: channel) {
            if let key = id(merchant) { keyed[key] = merchant }
        }
        return keyed
    }

    /// Pays a newly created order after ``SandboxConfiguration/autopayAfter`` unless its scenario never pays.
    /// `pay` is the simulator's own pay operation.
    public func scheduleAutopay(scenario: SandboxScenario, _ pay: @escaping @Sendable () async -> Void) {
        guard let delay = configuration.autopayAfter, scenario != .neverPaid else { return }
        Task {
            try? await Task.sleep(for: delay)
            await pay()
        }
    }
}
