import Metrics

/// Counts connections refused during the TLS handshake or the identity check that follows it
/// (`phalanx_tls_handshake_failures_total{reason}`), one series per bounded reason.
public final class HandshakeFailureMetrics: Sendable {
    public static let metricName = "phalanx_tls_handshake_failures_total"
    private let counters: [String: Counter]

    public init(factory: any MetricsFactory) {
        counters = Dictionary(uniqueKeysWithValues: TLSFailureReason.labels.map { label in
            (label, Counter(label: Self.metricName, dimensions: [("reason", label)], factory: factory))
        })
    }

    /// One more failure for `reason` (a label of ``TLSFailureReason/labels``; others count as `other`).
    public func record(_ reason: String) {
        (counters[reason] ?? counters["other"]!).increment()
    }
}
