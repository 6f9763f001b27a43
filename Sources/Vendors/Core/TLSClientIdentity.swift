import Crypto
import NIOSSL

/// A TLS client identity: a certificate chain and its private key, presented by calls that need
/// mutual TLS (WeChat Pay v2 refunds with the merchant's API client certificate).
///
/// The TLS configuration is built once, when the merchant's channel is built, and reused for every
/// call: `AsyncHTTPClient` keys its connection pools by the request's TLS configuration, so each
/// identity gets exactly one pool of its own and never shares a connection with another merchant
/// or with calls made without a certificate.
///
/// Neither the key nor the certificate ever appears in a description, log line or error.
public struct TLSClientIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The configuration `VendorHTTP` sets on a request that presents this identity.
    let configuration: TLSConfiguration
    /// Lowercase hex SHA-256 of the leaf certificate's DER bytes (the certificate is public).
    public let fingerprint: String

    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#1, SEC1 or PKCS#8).
    /// `trustRootsPEM`, when given, replaces the system trust store for the server's certificate.
    /// Errors name what is wrong, never the content.
    public init(certificatePEM: Secret, privateKeyPEM: Secret, trustRootsPEM: String? = nil) throws(ChannelError) {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.reveal().utf8))
        } catch {
            throw .configuration("the client certificate is not a PEM certificate")
        }
        guard let leaf = chain.first else { throw .configuration("the client certificate PEM holds no certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.reveal().utf8), format: .pem)
        } catch {
            throw .configuration("the client certificate key is not a PEM private key")
        }
        let der: [UInt8]
        do {
            der = try leaf.toDERBytes()
        } catch {
            throw .configuration("the client certificate cannot be encoded")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = chain.map { .certificate($0) }
        configuration.privateKey = .privateKey(key)
        if let trustRootsPEM {
            do {
                let roots = try NIOSSLCertificate.fromPEMBytes(Array(trustRootsPEM.utf8))
                guard !roots.isEmpty else { throw ChannelError.configuration("no trust root") }
                configuration.trustRoots = .certificates(roots)
            } catch {
                throw .configuration("the trust roots are not PEM certificates")
            }
        }
        self.configuration = configuration
        self.fingerprint = Hex.encode(Array(SHA256.hash(data: der)), uppercase: false)
    }

    public var description: String { "TLSClientIdentity(sha256:\(fingerprint.prefix(16))…)" }

    public static func == (lhs: TLSClientIdentity, rhs: TLSClientIdentity) -> Bool {
        lhs.fingerprint == rhs.fingerprint && lhs.configuration.bestEffortEquals(rhs.configuration)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }
}
