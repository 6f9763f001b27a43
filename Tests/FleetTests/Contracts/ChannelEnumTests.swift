import AsyncHTTPClient
import Fleet
import Foundation
import Kafka
import Logging
import Payments
import Sandbox
import Testing

/// The channel ids the topic schemas promise upstream, the registered channel descriptors and the
/// sandbox's simulators are exactly the channels the product has: adding a channel without its
/// schemas, its descriptor or its simulator, or listing a channel that does not exist, fails here.
@Suite("Channel enums in the topic schemas")
struct ChannelEnumTests {
    /// Every `enum` array in a JSON Schema whose members look like channel ids, with its path.
    static func channelEnums(in value: Any, path: String, into found: inout [(String, Set<String>)]) {
        if let object = value as? [String: Any] {
            for (key, member) in object {
                if key == "channel", let schema = member as? [String: Any], let values = schema["enum"] as? [String] {
                    found.append((path + "/channel", Set(values)))
                }
                channelEnums(in: member, path: path + "/" + key, into: &found)
            }
        } else if let array = value as? [Any] {
            for (index, member) in array.enumerated() {
                channelEnums(in: member, path: "\(path)/\(index)", into: &found)
            }
        }
    }

    @Test("every `channel` enum of every topic schema equals the registered channels")
    func schemaEnumsMatchChannels() throws {
        let catalog = try TopicCatalog.builtIn()
        let channels = Set(ChannelID.allCases.map(\.rawValue))
        var checked = 0
        for topic in catalog.topics {
            let schema = try JSONSerialization.jsonObject(with: Data(topic.value.schemaJSON.utf8))
            var found: [(String, Set<String>)] = []
            Self.channelEnums(in: schema, path: topic.name, into: &found)
            for (path, values) in found {
                #expect(values == channels, "\(path): \(values.sorted()) but the channels are \(channels.sorted())")
                checked += 1
            }
        }
        // order-requests, order-state, payment-events, query-jobs and the five delay tiers carry one each.
        #expect(checked >= 9, "found \(checked) channel enums")
    }

    @Test("ChannelCatalog registers one descriptor per channel, in ChannelID order")
    func catalogMatchesChannels() {
        #expect(ChannelCatalog.all.map(\.id) == ChannelID.allCases)
        for channel in ChannelID.allCases {
            #expect(ChannelCatalog.descriptor(channel)?.id == channel, "\(channel) has no descriptor")
        }
        let aliases = ChannelCatalog.all.map(\.demo.alias)
        #expect(Set(aliases).count == aliases.count, "demo aliases repeat: \(aliases)")
    }

    @Test("the sandbox's standard simulators serve exactly the registered channels, each once")
    func simulatorsMatchChannels() async throws {
        let logger = Logger(label: "simulators", factory: { _ in SwiftLogNoOpLogHandler() })
        let configuration = SandboxConfiguration()
        let dispatcher = CallbackDispatcher(client: HTTPClient.shared, configuration: configuration, logger: logger)
        let context = SandboxContext(configuration: configuration, dispatcher: dispatcher, logger: logger)
        let served = VendorSandbox.standardSimulators(context: context).flatMap(\.channels)
        #expect(served.sorted() == ChannelID.allCases.map(\.rawValue).sorted())
    }

    @Test("each descriptor's demo account builds its channel and declares every setting it holds")
    func demoAccountsBuildTheirChannels() throws {
        let logger = Logger(label: "descriptors", factory: { _ in SwiftLogNoOpLogHandler() })
        let http = VendorHTTP(client: HTTPClient.shared, timeout: .seconds(1))
        for descriptor in ChannelCatalog.all {
            let account = descriptor.demo.account(sandboxBaseURL: "http://127.0.0.1:9")
            #expect(account.channel == descriptor.id && account.alias == descriptor.demo.alias)
            let channel = try descriptor.factory(account, http, logger)
            #expect(channel.channel == descriptor.id)
            #expect(channel.merchant == descriptor.demo.alias)
            let declaredSettings = Set(descriptor.settings.filter { $0.kind == .setting }.map(\.name))
            let declaredSecrets = Set(descriptor.settings.filter { $0.kind == .secret }.map(\.name))
            #expect(
                Set(account.settings.keys).isSubset(of: declaredSettings),
                "\(descriptor.id): undeclared settings \(Set(account.settings.keys).subtracting(declaredSettings).sorted())"
            )
            #expect(
                Set(account.secrets.keys).isSubset(of: declaredSecrets),
                "\(descriptor.id): undeclared secrets \(Set(account.secrets.keys).subtracting(declaredSecrets).sorted())"
            )
            #expect(
                descriptor.requiredSettings.contains(.required(descriptor.vendorMerchantIDSetting)),
                "\(descriptor.id): the vendor merchant id setting must be a required setting")
            #expect(ChannelRegistry.vendorMerchantIDSetting(descriptor.id) == descriptor.vendorMerchantIDSetting)
        }
    }

    @Test("a descriptor's required settings are the ones building the channel fails without, naming them")
    func requiredSettingsAreRequired() {
        let logger = Logger(label: "descriptors", factory: { _ in SwiftLogNoOpLogHandler() })
        let http = VendorHTTP(client: HTTPClient.shared, timeout: .seconds(1))
        for descriptor in ChannelCatalog.all {
            for setting in descriptor.requiredSettings {
                var account = descriptor.demo.account(sandboxBaseURL: "http://127.0.0.1:9")
                switch setting.kind {
                case .setting: account.settings.removeValue(forKey: setting.name)
                case .secret: account.secrets.removeValue(forKey: setting.name)
                }
                do throws(ChannelError) {
                    _ = try descriptor.factory(account, http, logger)
                    Issue.record(
                        "\(descriptor.id) builds without its required \(setting.kind.rawValue) '\(setting.name)'")
                } catch {
                    #expect(error.code == .configuration)
                    #expect(error.message.contains("'\(setting.name)'"), "\(descriptor.id): \(error.message)")
                }
            }
        }
    }

    @Test("every demo order's options pass its channel's validation")
    func demoOrderOptionsValidate() throws {
        let logger = Logger(label: "descriptors", factory: { _ in SwiftLogNoOpLogHandler() })
        let http = VendorHTTP(client: HTTPClient.shared, timeout: .seconds(1))
        for descriptor in ChannelCatalog.all {
            let channel = try descriptor.factory(
                descriptor.demo.account(sandboxBaseURL: "http://127.0.0.1:9"), http, logger)
            let order = PaymentOrder(
                outTradeNo: "DEMOCHECK\(descriptor.demo.amountFen)", amount: Money(fen: descriptor.demo.amountFen),
                description: "demo", createdAt: Date(),
                notifyURL: "http://127.0.0.1:8081/notify/\(descriptor.id)/\(descriptor.demo.alias)",
                options: descriptor.demo.orderOptions(
                    "DEMOCHECK\(descriptor.demo.amountFen)", descriptor.demo.amountFen))
            #expect(throws: Never.self, "\(descriptor.id)") { try channel.validate(order) }
        }
    }

    @Test(
        "operator tools: an unknown --api is a usage error naming the known ones; a signature verifies the vendor's way"
    )
    func operatorToolsSign() throws {
        for descriptor in ChannelCatalog.all where !descriptor.operatorTools.signingAPIs.isEmpty {
            let request = ChannelDescriptor.OperatorTools.SignRequest(
                api: "no-such-api", parameters: ["a": "1"], key: Secret("k"), signType: nil)
            do throws(ChannelDescriptor.OperatorTools.Failure) {
                _ = try descriptor.operatorTools.sign(request)
                Issue.record("\(descriptor.id) signed for an unknown api")
            } catch {
                guard case .usage(let message) = error else {
                    Issue.record("\(descriptor.id): \(error)")
                    continue
                }
                #expect(message.contains(descriptor.operatorTools.signingAPIs[0]))
            }
        }
        let v2 = try #require(ChannelCatalog.descriptor(.wechatV2))
        let report = try v2.operatorTools.sign(
            .init(
                api: nil,
                parameters: [
                    "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000",
                    "body": "test", "nonce_str": "ibuaiVcKdpRxkhJA",
                ],
                key: Secret("192006250b4c09247ec02edce69f6a2d"), signType: nil))
        // WeChat Pay v2 published signing example (pay.weixin.qq.com wiki, chapter=4_3).
        #expect(report.signature == "9A0A8659F005D6984697E2CA0A9CF3B7")
        #expect(report.explanation.first == "sign_type: MD5")
        #expect(!report.explanation.joined().contains("192006250b4c09247ec02edce69f6a2d"), "the key is masked")
        do throws(ChannelDescriptor.OperatorTools.Failure) {
            _ = try ChannelCatalog.descriptor(.wechatV3Combine)?.operatorTools.sign(
                .init(api: nil, parameters: [:], key: Secret("k"), signType: nil))
            Issue.record("wechat-v3-combine has no parameter signature")
        } catch {
            guard case .usage = error else {
                Issue.record("\(error)")
                return
            }
        }
    }
}
