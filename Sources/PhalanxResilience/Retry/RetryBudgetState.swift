/// The accounting of a retry budget: retries may be at most `ratio` of calls over a sliding window,
/// plus a small floor so a quiet client can still retry. Pure; time is passed in.
public struct RetryBudgetState: Sendable {
    private struct Counts: Sendable {
        var calls = 0
        var retries = 0
    }

    /// Retries allowed per call, as a fraction (0.1 = one retry per ten calls).
    public let ratio: Double
    /// Retries always allowed per window, whatever the ratio.
    public let minimumRetriesPerWindow: Int
    private var buckets: TimeBuckets<Counts>

    public init(ratio: Double, minimumRetriesPerWindow: Int, window: Duration) {
        self.ratio = ratio
        self.minimumRetriesPerWindow = minimumRetriesPerWindow
        self.buckets = TimeBuckets(
            window: window, bucketCount: 10, zero: Counts(),
            add: { $0.calls += $1.calls; $0.retries += $1.retries },
            subtract: { $0.calls -= $1.calls; $0.retries -= $1.retries })
    }

    /// Records a first attempt at `now` (or `count` of them).
    public mutating func recordCall(at now: Duration, count: Int = 1) {
        buckets.record(Counts(calls: count), at: now)
    }

    /// Takes one retry from the budget if it has one at `now`; returns whether it did.
    public mutating func withdrawRetry(at now: Duration) -> Bool {
        buckets.advance(to: now)
        let allowed = Double(minimumRetriesPerWindow) + ratio * Double(buckets.total.calls)
        guard Double(buckets.total.retries + 1) <= allowed else { return false }
        buckets.record(Counts(retries: 1), at: now)
        return true
    }
}
