import NIOSSL
import PhalanxCore
import PhalanxResilience

/// Where a node's TLS material lives: the cluster CA, its certificate and its private key (PEM).
public struct TLSFiles: Sendable, Hashable {
    public var caCertificatePath: String
    public var certificatePath: String
    public var privateKeyPath: String

    public init(caCertificatePath: String, certificatePath: String, privateKeyPath: String) {
        self.caCertificatePath = caCertificatePath
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
    }

    /// A server context that requires a client certificate chaining to the cluster CA.
    ///
    /// Hostname verification is off on purpose (a server cannot match a client's hostname);
    /// the peer's identity is checked from its URI SAN after the handshake.
    public func makeServerContext() throws(ErrorContext) -> NIOSSLContext {
        let (chain, key, ca) = try load()
        var configuration = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key), trustRoots: .certificates(ca))
        configuration.minimumTLSVersion = .tlsv13
        return try makeContext(configuration)
    }

    /// A client context that presents this node's certificate and trusts only the cluster CA.
    public func makeClientContext() throws(ErrorContext) -> NIOSSLContext {
        let (chain, key, ca) = try load()
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = chain.map { .certificate($0) }
        configuration.privateKey = .privateKey(key)
        configuration.trustRoots = .certificates(ca)
        configuration.certificateVerification = .noHostnameVerification
        configuration.minimumTLSVersion = .tlsv13
        return try makeContext(configuration)
    }

    /// The identity written in this node's own certificate.
    public func localIdentity() throws(ErrorContext) -> NodeIdentity {
        let (chain, _, _) = try load()
        guard let leaf = chain.first else {
            throw ErrorContext(code: .invalidArgument, message: "\(certificatePath) holds no certificate")
        }
        return try CertificateIdentity.identity(of: leaf, source: certificatePath)
    }

    private func load() throws(ErrorContext) -> ([NIOSSLCertificate], NIOSSLPrivateKey, [NIOSSLCertificate]) {
        let chain = try read("certificate", certificatePath) { try NIOSSLCertificate.fromPEMFile($0) }
        let ca = try read("CA certificate", caCertificatePath) { try NIOSSLCertificate.fromPEMFile($0) }
        let key = try read("private key", privateKeyPath) { try NIOSSLPrivateKey(file: $0, format: .pem) }
        guard !chain.isEmpty else { throw ErrorContext(code: .invalidArgument, message: "\(certificatePath) holds no PEM certificate") }
        guard !ca.isEmpty else { throw ErrorContext(code: .invalidArgument, message: "\(caCertificatePath) holds no PEM certificate") }
        return (chain, key, ca)
    }

    private func read<T>(_ what: String, _ path: String, _ body: (String) throws -> T) throws(ErrorContext) -> T {
        do {
            return try body(path)
        } catch {
            throw ErrorContext(
                code: .invalidArgument,
                message: "cannot read the \(what) at \(path): \(error); run scripts/gen-certs.sh or fix the path in cluster.conf [tls]")
        }
    }

    private func makeContext(_ configuration: TLSConfiguration) throws(ErrorContext) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ErrorContext(code: .invalidArgument, message: "cannot build a TLS context from \(certificatePath) and \(privateKeyPath): \(error)")
        }
    }
}
