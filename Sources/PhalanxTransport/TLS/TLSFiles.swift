import Foundation
import NIOSSL
import PhalanxCore
import PhalanxResilience

/// Where a node's TLS material lives: the cluster CA, its certificate and its private key (PEM).
///
/// Every problem with the material (a missing, unreadable or garbage file, a key that does not
/// belong to the certificate, a certificate outside its validity period) is an `INVALID_ARGUMENT`
/// that names the file and what to do: a configuration error, reported before anything listens.
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
        guard let leaf = chain.first else { throw ErrorContext(code: .invalidArgument, message: "\(certificatePath) holds no PEM certificate") }
        guard !ca.isEmpty else { throw ErrorContext(code: .invalidArgument, message: "\(caCertificatePath) holds no PEM certificate") }
        try Self.checkValidity(of: leaf, path: certificatePath, now: Date())
        for authority in ca { try Self.checkValidity(of: authority, path: caCertificatePath, now: Date()) }
        return (chain, key, ca)
    }

    /// Refuses a certificate outside its validity period, naming the date.
    static func checkValidity(of certificate: NIOSSLCertificate, path: String, now: Date) throws(ErrorContext) {
        let notBefore = Date(timeIntervalSince1970: TimeInterval(certificate.notValidBefore))
        let notAfter = Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter))
        if now > notAfter {
            throw ErrorContext(
                code: .invalidArgument,
                message: "the certificate at \(path) expired on \(notAfter.ISO8601Format()); make a new one (scripts/gen-certs.sh) and restart")
        }
        if now < notBefore {
            throw ErrorContext(
                code: .invalidArgument,
                message: "the certificate at \(path) is not valid before \(notBefore.ISO8601Format()); check this machine's clock or the certificate")
        }
    }

    private func read<T>(_ what: String, _ path: String, _ body: (String) throws -> T) throws(ErrorContext) -> T {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ErrorContext(
                code: .invalidArgument,
                message: "the \(what) \(path) does not exist; make it with scripts/gen-certs.sh or fix tls.dir / the node name")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ErrorContext(code: .invalidArgument, message: "the \(what) \(path) is not readable by this user; fix its permissions")
        }
        do {
            return try body(path)
        } catch {
            throw ErrorContext(
                code: .invalidArgument,
                message: "the \(what) \(path) is not a PEM \(what) (\(error)); make it again with scripts/gen-certs.sh")
        }
    }

    private func makeContext(_ configuration: TLSConfiguration) throws(ErrorContext) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch NIOSSLError.failedToLoadPrivateKey {
            // Both files parsed on their own, so the key is not the certificate's.
            throw ErrorContext(
                code: .invalidArgument,
                message: "the private key at \(privateKeyPath) does not belong to the certificate at \(certificatePath); use the key made together with that certificate (scripts/gen-certs.sh)")
        } catch {
            throw ErrorContext(code: .invalidArgument, message: "cannot build a TLS context from \(certificatePath) and \(privateKeyPath): \(error)")
        }
    }
}

