import Foundation
import Payments
import Testing

@testable import Fleet

@Suite("Merchants file")
struct MerchantsFileLoaderTests {
    /// A temporary directory with a secret file, removed afterwards.
    final class SecretsDirectory {
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "payfleet-merchants-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        func write(_ name: String, _ text: String) throws -> String {
            let file = path + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            return file
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test("accounts with settings and secrets from a file and from the environment")
    func loads() throws {
        let directory = try SecretsDirectory()
        let keyFile = try directory.write("api_key", "file-secret-0123456789abcdef\n")
        let yaml = """
            notify_base_url: https://pay.example.com/
            merchants:
              shop-wechat:
                channel: wechat-v2
                settings:
                  appid: wx2421b1c4370ec43b
                  mch_id: "10000100"
                  leading_zero: 007
                secrets:
                  api_key: { file: \(keyFile) }
              shop-pos:
                channel: storepos
                settings: { mch_id: "m1", agent_id: "a1" }
                secrets:
                  key: { env: POS_KEY }
              shop-relative:
                channel: yungouos
                secrets:
                  key: { file: api_key }
            """
        let merchants = try MerchantsFileLoader(environment: ["POS_KEY": "env-secret"]).parse(
            yaml, baseDirectory: directory.path)
        #expect(merchants.aliases == ["shop-pos", "shop-relative", "shop-wechat"])
        #expect(merchants.notifyBaseURL == "https://pay.example.com")
        let wechat = try #require(merchants.account("shop-wechat"))
        #expect(wechat.channel == .wechatV2)
        #expect(wechat.settings["mch_id"] == "10000100")
        #expect(wechat.settings["leading_zero"] == "007")
        #expect(wechat.secrets["api_key"]?.reveal() == "file-secret-0123456789abcdef")
        #expect(merchants.account("shop-pos")?.secrets["key"]?.reveal() == "env-secret")
        #expect(merchants.account("shop-relative")?.secrets["key"]?.reveal() == "file-secret-0123456789abcdef")
        #expect(
            merchants.notifyURL(channel: .wechatV2, merchant: "shop-wechat")
                == "https://pay.example.com/notify/wechat-v2/shop-wechat")
    }

    @Test("PAYFLEET_NOTIFY_BASE_URL overrides the file")
    func notifyOverride() throws {
        let yaml = "notify_base_url: https://a.example.com\nmerchants: {}\n"
        let merchants = try MerchantsFileLoader(environment: [:], notifyBaseURLOverride: "http://127.0.0.1:8080").parse(
            yaml)
        #expect(merchants.notifyURL(channel: .storepos, merchant: "m") == "http://127.0.0.1:8080/notify/storepos/m")
    }

    @Test(
        "errors name the setting and never the secret value",
        arguments: [
            (
                "merchants:\n  s:\n    channel: wechat-v2\n    secrets:\n      api_key: { env: MISSING_KEY }\n",
                "merchants.s.secrets.api_key", "MISSING_KEY is not set"
            ),
            (
                "merchants:\n  s:\n    channel: wechat-v2\n    secrets:\n      api_key: sup3r-s3cret-inline\n",
                "merchants.s.secrets.api_key", "never written inline"
            ),
            (
                "merchants:\n  s:\n    channel: wechat-v2\n    secrets:\n      api_key: { file: /nonexistent/payfleet/key }\n",
                "merchants.s.secrets.api_key", "cannot be read"
            ),
            ("merchants:\n  s:\n    channel: paypal\n", "merchants.s.channel", "must be one of"),
            ("merchants:\n  s:\n    settings: {}\n", "merchants.s.channel", "is required"),
            ("merchants:\n  s:\n    channel: storepos\n    setings: {}\n", "merchants.s.setings", "not a known key"),
            (
                "merchants:\n  s:\n    channel: storepos\n    settings:\n      mch_id: [1, 2]\n",
                "merchants.s.settings.mch_id", "plain string"
            ),
            ("merchants:\n  \"bad alias/\":\n    channel: storepos\n", "merchants", "aliases"),
            ("merchants: [1]\n", "merchants", "mapping"),
        ])
    func errors(body: String, setting: String, fragment: String) throws {
        let yaml = "notify_base_url: https://pay.example.com\n" + body
        do {
            _ = try MerchantsFileLoader(environment: ["OTHER": "sup3r-s3cret-env"]).parse(yaml)
            Issue.record("loaded")
        } catch {
            #expect(error.setting == setting)
            #expect(error.message.contains(fragment), "message: \(error.message)")
            #expect(!error.description.contains("sup3r-s3cret"))
        }
    }

    @Test("notify_base_url is required and must be http(s)")
    func notifyBase() {
        #expect(throws: ConfigurationError.self) { try MerchantsFileLoader(environment: [:]).parse("merchants: {}\n") }
        #expect(throws: ConfigurationError.self) {
            try MerchantsFileLoader(environment: [:]).parse("notify_base_url: ftp://x\nmerchants: {}\n")
        }
    }

    @Test("a YAML syntax error does not echo the file's text")
    func syntaxError() {
        do {
            _ = try MerchantsFileLoader(environment: [:]).parse("notify_base_url: [sup3r-s3cret\nmerchants: {")
            Issue.record("parsed")
        } catch {
            #expect(!error.description.contains("sup3r-s3cret"))
        }
    }

    @Test("an empty secret file is an error")
    func emptySecretFile() throws {
        let directory = try SecretsDirectory()
        let file = try directory.write("empty", "\n")
        let yaml =
            "notify_base_url: https://p.example.com\nmerchants:\n  s:\n    channel: yungouos\n    secrets:\n      key: { file: \(file) }\n"
        #expect(throws: ConfigurationError.self) { try MerchantsFileLoader(environment: [:]).parse(yaml) }
    }
}

@Suite("Worker settings")
struct WorkerSettingsTests {
    @Test("defaults and environment overrides")
    func environment() throws {
        let defaults = try WorkerSettings(environment: [:])
        #expect(defaults.groupID == "payfleet-worker")
        #expect(defaults.orderTTL == .seconds(7200))
        #expect(defaults.maxInFlight == 64)
        let settings = try WorkerSettings(environment: [
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092,127.0.0.1:9093", "KAFKA_SECURITY_PROTOCOL": "plaintext",
            "PAYFLEET_GROUP_ID": "g", "PAYFLEET_ORDER_TTL": "1h30m", "PAYFLEET_MAX_IN_FLIGHT": "8",
            "PAYFLEET_MERCHANTS": "/etc/merchants.yaml", "PAYFLEET_NOTIFY_BASE_URL": "https://n.example.com",
            "PAYFLEET_SHUTDOWN_TIMEOUT": "5s", "PAYFLEET_STATE_RETENTION": "24h",
        ])
        #expect(settings.kafka.bootstrapServers == ["127.0.0.1:9092", "127.0.0.1:9093"])
        #expect(settings.kafka.properties["security.protocol"] == "plaintext")
        #expect(settings.groupID == "g")
        #expect(settings.orderTTL == .seconds(5400))
        #expect(settings.machine.defaultTTL == .seconds(5400))
        #expect(settings.machine.stateRetention == .seconds(86_400))
        #expect(settings.maxInFlight == 8)
        #expect(settings.merchantsPath == "/etc/merchants.yaml")
        #expect(settings.notifyBaseURL == "https://n.example.com")
        #expect(settings.shutdownTimeout == .seconds(5))
    }

    @Test(
        "bad values name the variable",
        arguments: [
            ("PAYFLEET_ORDER_TTL", "soon"), ("PAYFLEET_MAX_IN_FLIGHT", "0"), ("PAYFLEET_MAX_IN_FLIGHT", "many"),
            ("PAYFLEET_SHUTDOWN_TIMEOUT", "1ms"), ("PAYFLEET_HTTP_PORT", "70000"),
        ])
    func badValues(variable: String, value: String) {
        do {
            _ = try WorkerSettings(environment: [variable: value])
            Issue.record("accepted \(variable)=\(value)")
        } catch {
            #expect(error.setting == variable)
        }
    }

    @Test(
        "durations",
        arguments: [
            ("90", 90.0), ("90s", 90), ("500ms", 0.5), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1d", 86400),
        ])
    func durations(text: String, seconds: Double) throws {
        #expect(try #require(DurationParser.parse(text)) == .milliseconds(Int64(seconds * 1000)))
    }

    @Test("not durations", arguments: ["", "h", "1x", "-5s", "1.5h", "5 s"])
    func notDurations(text: String) {
        #expect(DurationParser.parse(text) == nil)
    }
}
