import Foundation
import Payments
import _CryptoExtras

/// The keys that may sign WeChat's answers and notifications, by serial: the WeChat Pay public key
/// (`PUB_KEY_ID_…`, configured) and the platform certificates (downloaded from `/v3/certificates`,
/// decrypted with the APIv3 key). Both can be active at once, which is how WeChat rotates from
/// certificates to the public key.
///
/// Certificates are refreshed lazily inside calls: when none were downloaded yet, when the last
/// download is older than ``refreshInterval``, when one is about to expire, or when a message
/// names an unknown serial (at most once per ``unknownSerialBackoff``, so forged serials cannot
/// make us hammer WeChat).
actor WeChatV3KeyStore {
    typealias Downloader = @Sendable () async throws(ChannelError) -> [WeChatPlatformCertificate]

    let publicKeyID: String?
    let publicKey: _RSA.Signing.PublicKey?
    let downloader: Downloader?
    let refreshInterval: TimeInterval
    let unknownSerialBackoff: TimeInterval
    private var certificates: [String: WeChatPlatformCertificate] = [:]
    private var lastRefresh: Date?
    private var lastAttempt: Date?
    private var refreshing: Task<Result<[WeChatPlatformCertificate], ChannelError>, Never>?

    init(
        publicKeyID: String?, publicKey: _RSA.Signing.PublicKey?, downloader: Downloader?,
        refreshInterval: TimeInterval = 3600, unknownSerialBackoff: TimeInterval = 60
    ) {
        self.publicKeyID = publicKeyID
        self.publicKey = publicKey
        self.downloader = downloader
        self.refreshInterval = refreshInterval
        self.unknownSerialBackoff = unknownSerialBackoff
    }

    /// The key for `serial`, refreshing certificates first when due. `nil` when nothing matches.
    func key(serial: String, now: Date) async -> _RSA.Signing.PublicKey? {
        if let publicKeyID, serial == publicKeyID { return publicKey }
        guard downloader != nil else { return nil }
        // A download already in flight (the first calls after start-up run concurrently) is joined
        // rather than skipped: skipping it answered "unknown serial" for every call but the first.
        let inFlight = refreshing != nil && certificates[serial] == nil
        if inFlight || refreshDue(now: now) || (certificates[serial] == nil && unknownSerialMayRefresh(now: now)) {
            _ = await refresh(now: now)
        }
        guard let certificate = certificates[serial], certificate.notValidAfter > now else { return nil }
        return certificate.publicKey
    }

    /// The serials currently known (certificates not yet expired, and the public key id).
    func knownSerials(now: Date) -> [String] {
        var serials = certificates.values.filter { $0.notValidAfter > now }.map(\.serial).sorted()
        if let publicKeyID { serials.append(publicKeyID) }
        return serials
    }

    /// Downloads the certificates now (coalescing concurrent refreshes).
    func refresh(now: Date) async -> Result<Void, ChannelError> {
        guard let downloader else { return .failure(.configuration("platform certificate download is off")) }
        lastAttempt = now
        let task: Task<Result<[WeChatPlatformCertificate], ChannelError>, Never>
        if let refreshing {
            task = refreshing
        } else {
            task = Task {
                do throws(ChannelError) {
                    return .success(try await downloader())
                } catch {
                    return .failure(error)
                }
            }
            refreshing = task
        }
        let result = await task.value
        if refreshing == task { refreshing = nil }
        switch result {
        case .success(let downloaded):
            for certificate in downloaded { certificates[certificate.serial] = certificate }
            certificates = certificates.filter { $0.value.notValidAfter > now }
            lastRefresh = now
            return .success(())
        case .failure(let error):
            return .failure(error)
        }
    }

    private func refreshDue(now: Date) -> Bool {
        guard let lastRefresh else {
            return lastAttempt.map { now.timeIntervalSince($0) >= unknownSerialBackoff } ?? true
        }
        if now.timeIntervalSince(lastRefresh) >= refreshInterval { return true }
        // Refresh ahead of expiry: WeChat issues the next certificate well before the current one expires.
        return certificates.values.contains { $0.notValidAfter.timeIntervalSince(now) < 12 * 3600 }
            && now.timeIntervalSince(lastRefresh) >= unknownSerialBackoff
    }

    private func unknownSerialMayRefresh(now: Date) -> Bool {
        guard let lastAttempt else { return true }
        return now.timeIntervalSince(lastAttempt) >= unknownSerialBackoff
    }
}
