import Foundation
import NIOConcurrencyHelpers
import Payments
import Testing
import _CryptoExtras

@testable import WeChatPay

/// The verification-key store: public key by id, platform certificates downloaded lazily, refreshed
/// on schedule and on unknown serials (with a backoff so forged serials cannot hammer WeChat).
@Suite struct WeChatV3KeyStoreTests {
    static func certificate() throws -> WeChatPlatformCertificate {
        let pem = try WeChatV3Crypto.decrypt(
            apiV3Key: Secret("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"), nonce: "14b16c03dc1b", associatedData: "certificate",
            ciphertextBase64: JavaSDKCertificateVector.ciphertext
        )
        return try WeChatPlatformCertificate(pem: String(decoding: pem, as: UTF8.self))
    }

    @Test func downloadsLazilyRefreshesOnScheduleAndBacksOffOnUnknownSerials() async throws {
        let certificate = try Self.certificate()
        let downloads = NIOLockedValueBox(0)
        let publicKey = try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey
        let store = WeChatV3KeyStore(
            publicKeyID: "PUB_KEY_ID_1", publicKey: publicKey,
            downloader: { () async throws(ChannelError) -> [WeChatPlatformCertificate] in
                downloads.withLockedValue { $0 += 1 }
                return [certificate]
            },
            refreshInterval: 3600, unknownSerialBackoff: 60
        )
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        // The public key needs no download.
        #expect(await store.key(serial: "PUB_KEY_ID_1", now: start) != nil)
        #expect(downloads.withLockedValue { $0 } == 0)
        // First use of a certificate serial downloads once; later uses do not.
        #expect(await store.key(serial: certificate.serial, now: start) != nil)
        #expect(await store.key(serial: certificate.serial, now: start.addingTimeInterval(10)) != nil)
        #expect(downloads.withLockedValue { $0 } == 1)
        // An unknown serial refreshes at most once per backoff window.
        #expect(await store.key(serial: "FORGED", now: start.addingTimeInterval(20)) == nil)
        #expect(await store.key(serial: "FORGED2", now: start.addingTimeInterval(30)) == nil)
        #expect(downloads.withLockedValue { $0 } == 1)
        #expect(await store.key(serial: "FORGED3", now: start.addingTimeInterval(100)) == nil)
        #expect(downloads.withLockedValue { $0 } == 2)
        // The hourly refresh.
        _ = await store.key(serial: certificate.serial, now: start.addingTimeInterval(3700))
        #expect(downloads.withLockedValue { $0 } == 3)
        #expect(await store.knownSerials(now: start).contains(certificate.serial))
        // An expired certificate is never used.
        #expect(
            await store.key(serial: certificate.serial, now: certificate.notValidAfter.addingTimeInterval(1)) == nil)
    }

    @Test func concurrentFirstCallsShareOneDownloadAndAllFindTheKey() async throws {
        let certificate = try Self.certificate()
        let downloads = NIOLockedValueBox(0)
        let store = WeChatV3KeyStore(
            publicKeyID: nil, publicKey: nil,
            downloader: { () async throws(ChannelError) -> [WeChatPlatformCertificate] in
                downloads.withLockedValue { $0 += 1 }
                try? await Task.sleep(for: .milliseconds(200))
                return [certificate]
            }
        )
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let found = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                group.addTask {
                    await store.key(serial: certificate.serial, now: start.addingTimeInterval(Double(index) * 0.01))
                        != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(found == Array(repeating: true, count: 8), "every concurrent first call finds the certificate")
        #expect(downloads.withLockedValue { $0 } == 1)
    }

    @Test func aFailedDownloadIsRetriedAfterTheBackoff() async throws {
        let downloads = NIOLockedValueBox(0)
        let store = WeChatV3KeyStore(
            publicKeyID: nil, publicKey: nil,
            downloader: { () async throws(ChannelError) -> [WeChatPlatformCertificate] in
                downloads.withLockedValue { $0 += 1 }
                throw ChannelError(.unreachable, "down")
            }
        )
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(await store.key(serial: "A", now: start) == nil)
        #expect(await store.key(serial: "A", now: start.addingTimeInterval(5)) == nil)
        #expect(downloads.withLockedValue { $0 } == 1)
        #expect(await store.key(serial: "A", now: start.addingTimeInterval(61)) == nil)
        #expect(downloads.withLockedValue { $0 } == 2)
    }
}
