import PhalanxResilience

/// How `phalanx bank run` retries a transfer that met a locked account (CONFLICT): with capped,
/// jittered exponential backoff for as long as `limit` since the transfer began, not a number of
/// attempts, so a lock held for a while (a slow participant, an audit) does not fail a transfer.
struct BankConflictRetry {
    static let policy = RetryPolicy(
        maxAttempts: .max, initialBackoff: .microseconds(500), maxBackoff: .milliseconds(50), multiplier: 2, jitter: .full)
    static let limit: Duration = .seconds(30)

    /// The pause before retry `retry` (1 for the first), or nil when `elapsed` since the transfer
    /// began is past the limit and it is counted failed. `random` is a draw in [0, 1).
    static func delay(beforeRetry retry: Int, elapsed: Duration, random: Double) -> Duration? {
        guard elapsed < limit else { return nil }
        return policy.backoff(beforeRetry: retry, previous: .zero, random: random)
    }
}
