import NIOSSL

/// Names why a TLS handshake failed, in words an operator can act on.
public enum TLSFailureReason {
    /// A short reason for `error`, or nil if it is not a TLS failure.
    public static func describe(_ error: any Error) -> String? {
        classify(error).map { $0.reason }
    }

    /// A short bounded label for `error` (a metric label), or nil if it is not a TLS failure.
    public static func label(_ error: any Error) -> String? {
        classify(error).map { $0.label }
    }

    /// Whether `error` is a handshake cut short by the peer going away (it stopped, was killed, or
    /// the network failed): worth retrying, unlike a refusal of certificates.
    public static func isClosedDuringHandshake(_ error: any Error) -> Bool {
        label(error) == "closed_during_handshake"
    }

    /// Every label ``label(_:)`` returns, and `timeout` and `identity` for the handshake's other failures.
    public static let labels = ["no_client_certificate", "untrusted_certificate", "rejected_by_peer", "not_tls", "old_tls_version", "closed_during_handshake", "other", "timeout", "identity"]

    private static func classify(_ error: any Error) -> (reason: String, label: String)? {
        let text = String(describing: error)
        guard error is NIOSSLError || error is BoringSSLError || text.contains("SSL") else { return nil }
        let reasons: [(String, String, String)] = [
            ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "the peer sent no client certificate (mutual TLS is required)", "no_client_certificate"),
            ("CERTIFICATE_REQUIRED", "the peer sent no client certificate (mutual TLS is required)", "no_client_certificate"),
            ("CERTIFICATE_VERIFY_FAILED", "the peer's certificate does not chain to the cluster CA (or is expired)", "untrusted_certificate"),
            ("TLSV1_ALERT_UNKNOWN_CA", "the other side does not trust our certificate's CA", "rejected_by_peer"),
            ("SSLV3_ALERT_BAD_CERTIFICATE", "the other side rejected our certificate", "rejected_by_peer"),
            ("WRONG_VERSION_NUMBER", "non-TLS bytes: the peer is not speaking TLS (plaintext client?)", "not_tls"),
            ("HTTP_REQUEST", "non-TLS bytes: the peer sent an HTTP request", "not_tls"),
            ("PACKET_LENGTH_TOO_LONG", "non-TLS bytes: the peer is not speaking TLS", "not_tls"),
            ("UNSUPPORTED_PROTOCOL", "the peer's TLS version is too old (TLS 1.3 is required)", "old_tls_version"),
            ("uncleanShutdown", "the peer closed the connection during the TLS handshake", "closed_during_handshake"),
            ("EOF during handshake", "the peer closed the connection during the TLS handshake", "closed_during_handshake"),
        ]
        for (marker, reason, label) in reasons where text.contains(marker) { return (reason, label) }
        return ("TLS failure: \(text)", "other")
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
