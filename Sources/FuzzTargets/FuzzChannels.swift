import AsyncHTTPClient
import Fleet
import Foundation
import Logging
import Payments
import _CryptoExtras

/// The five demo merchants of `payfleet dev`, built once per process as real channels through
/// ``ChannelRegistry/makeChannel(account:http:logger:)``.
///
/// The accounts point at an address nothing listens on and no target makes a vendor call. The
/// WeChat APIv3 account is switched from downloaded platform certificates to a WeChat Pay public
/// key generated here (`platform_certificates: off`), so verifying a notification never touches
/// the network and the targets can sign notifications as WeChat would.
struct FuzzChannels: Sendable {
    /// The accounts, by channel.
    let accounts: [ChannelID: MerchantAccount]
    /// The channels, by channel.
    let channels: [ChannelID: any PaymentChannel]
    /// The same channels by merchant alias, as the worker resolves them.
    let registry: ChannelRegistry
    /// The WeChat Pay key that signs APIv3 notifications, and its `PUB_KEY_ID_…`.
    let platformKey: _RSA.Signing.PrivateKey
    let platformKeyID: String

    static let shared = FuzzChannels.make()

    /// A base URL that refuses connections (port 9, discard), should anything ever dial it.
    static let unreachableBaseURL = "http://127.0.0.1:9"

    private static func make() -> FuzzChannels {
        let logger = Logger(label: "payfleet.fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        let http = VendorHTTP(client: HTTPClient.shared, timeout: .seconds(1))
        let platformKey: _RSA.Signing.PrivateKey
        do {
            platformKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        } catch {
            fatalError("fuzz set-up: cannot generate the WeChat Pay platform key: \(error)")
        }
        let platformKeyID = "PUB_KEY_ID_0119000002FUZZ00000000"
        var accounts: [ChannelID: MerchantAccount] = [:]
        var channels: [ChannelID: any PaymentChannel] = [:]
        for var account in ChannelCatalog.demoAccounts(sandboxBaseURL: unreachableBaseURL) {
            if account.channel == .wechatV3Combine {
                account.settings["platform_certificates"] = "off"
                account.settings["wechatpay_public_key_id"] = platformKeyID
                account.secrets["wechatpay_public_key"] = Secret(platformKey.publicKey.pemRepresentation)
            }
            do throws(ChannelError) {
                channels[account.channel] = try ChannelRegistry.makeChannel(
                    account: account, http: http, logger: logger)
            } catch {
                fatalError("fuzz set-up: demo account \(account.alias) does not build a channel: \(error.message)")
            }
            accounts[account.channel] = account
        }
        let directory = MerchantDirectory(
            notifyBaseURL: unreachableBaseURL,
            accounts: Dictionary(uniqueKeysWithValues: accounts.values.map { ($0.alias, $0) }))
        let registry = ChannelRegistry(directory: directory, channels: Array(channels.values))
        return FuzzChannels(
            accounts: accounts, channels: channels, registry: registry, platformKey: platformKey,
            platformKeyID: platformKeyID)
    }

    func channel(_ id: ChannelID) -> any PaymentChannel {
        guard let channel = channels[id] else { fatalError("fuzz set-up: no demo channel \(id.rawValue)") }
        return channel
    }

    /// A secret of a demo account (the key the vendor would sign with).
    func secret(_ id: ChannelID, _ name: String) -> Secret {
        guard let secret = accounts[id]?.secrets[name] else {
            fatalError("fuzz set-up: demo \(id.rawValue) has no secret \(name)")
        }
        return secret
    }
}
