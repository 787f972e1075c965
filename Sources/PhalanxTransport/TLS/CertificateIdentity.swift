import NIOSSL
import PhalanxCore
import PhalanxResilience

/// Reads a node's identity from its certificate's URI SAN.
public enum CertificateIdentity {
    /// The identity in `certificate`; the error names the certificate's `source` and what is wrong.
    public static func identity(of certificate: NIOSSLCertificate, source: String) throws(ErrorContext) -> NodeIdentity {
        var uris: [String] = []
        for name in certificate._subjectAlternativeNames() where name.nameType == .uri {
            uris.append(String(decoding: name.contents, as: UTF8.self))
        }
        do {
            return try NodeIdentity.fromSubjectAlternativeNameURIs(uris)
        } catch {
            throw ErrorContext(code: .unauthenticated, message: "\(source): \(error)")
        }
    }
}
