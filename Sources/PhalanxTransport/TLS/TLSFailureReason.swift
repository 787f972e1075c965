import NIOSSL

/// Names why a TLS handshake failed, in words an operator can act on.
public enum TLSFailureReason {
    /// A short reason for `error`, or nil if it is not a TLS failure.
    public static func describe(_ error: any Error) -> String? {
        let text = String(describing: error)
        guard error is NIOSSLError || error is BoringSSLError || text.contains("SSL") else { return nil }
        let reasons: [(String, String)] = [
            ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "the peer sent no client certificate (mutual TLS is required)"),
            ("CERTIFICATE_REQUIRED", "the peer sent no client certificate (mutual TLS is required)"),
            ("CERTIFICATE_VERIFY_FAILED", "the peer's certificate does not chain to the cluster CA (or is expired)"),
            ("TLSV1_ALERT_UNKNOWN_CA", "the other side does not trust our certificate's CA"),
            ("SSLV3_ALERT_BAD_CERTIFICATE", "the other side rejected our certificate"),
            ("WRONG_VERSION_NUMBER", "non-TLS bytes: the peer is not speaking TLS (plaintext client?)"),
            ("HTTP_REQUEST", "non-TLS bytes: the peer sent an HTTP request"),
            ("PACKET_LENGTH_TOO_LONG", "non-TLS bytes: the peer is not speaking TLS"),
            ("UNSUPPORTED_PROTOCOL", "the peer's TLS version is too old (TLS 1.3 is required)"),
            ("uncleanShutdown", "the peer closed the connection during the TLS handshake"),
        ]
        for (marker, reason) in reasons where text.contains(marker) { return reason }
        return "TLS failure: \(text)"
    }

    /// A short reason for a TLS error on a connection whose handshake completed long ago (nil if
    /// `error` is not a TLS error): the peer went away, nothing about certificates.
    public static func describeAfterHandshake(_ error: any Error) -> String? {
        let text = String(describing: error)
        guard error is NIOSSLError || error is BoringSSLError || text.contains("SSL") else { return nil }
        if text.contains("uncleanShutdown") { return "the peer closed the connection without a TLS close_notify (it stopped or was killed)" }
        return "TLS error on an established connection: \(text)"
    }
}
