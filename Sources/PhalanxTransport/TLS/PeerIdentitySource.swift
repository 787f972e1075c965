import NIOCore
import NIOSSL
import PhalanxCore
import PhalanxResilience

/// Where a ``ConnectionHandler`` learns who the peer is once TLS reports its handshake complete.
///
/// In every real pipeline that is the certificate NIOSSL verified (``tlsCertificate``). Tests that
/// run the handler on an `EmbeddedChannel`, without TLS, name the peer with ``fixed(_:)`` and
/// fire `TLSUserEvent.handshakeCompleted` themselves.
public struct PeerIdentitySource {
    let identify: (ChannelHandlerContext) throws(ErrorContext) -> NodeIdentity

    /// The identity in the URI SAN of the certificate the peer presented in the TLS handshake.
    public static var tlsCertificate: PeerIdentitySource {
        PeerIdentitySource { context throws(ErrorContext) in
            guard let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                throw ErrorContext(code: .unauthenticated, message: "the peer presented no certificate")
            }
            return try CertificateIdentity.identity(of: certificate, source: "the peer's certificate")
        }
    }

    /// Always `identity`: for a handler tested without TLS.
    public static func fixed(_ identity: NodeIdentity) -> PeerIdentitySource {
        PeerIdentitySource { _ in identity }
    }
}
