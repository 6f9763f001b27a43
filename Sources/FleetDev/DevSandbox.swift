import AsyncHTTPClient
import Logging
import Payments
import Sandbox

/// The one place that builds the vendor simulator for a set of merchant accounts: `payfleet dev`
/// (through ``DevStack``), `payfleet sandbox` and the tests.
public enum DevSandbox {
    /// The sandbox's view of a merchant account: it verifies and signs with the same keys.
    public static func merchant(_ account: MerchantAccount) -> SandboxMerchant {
        SandboxMerchant(
            channel: account.channel.rawValue, settings: account.settings,
            secrets: account.secrets.mapValues { $0.reveal() })
    }

    /// The sandbox with every standard simulator, serving `accounts` (they replace
    /// `configuration.merchants`); its callbacks go out through `client`.
    public static func make(
        configuration: SandboxConfiguration, accounts: [MerchantAccount], client: HTTPClient, logger: Logger
    ) -> VendorSandbox {
        var configuration = configuration
        configuration.merchants = accounts.map(merchant)
        let dispatcher = CallbackDispatcher(client: client, configuration: configuration, logger: logger)
        let context = SandboxContext(configuration: configuration, dispatcher: dispatcher, logger: logger)
        return VendorSandbox(context: context, simulators: VendorSandbox.standardSimulators(context: context))
    }
}
