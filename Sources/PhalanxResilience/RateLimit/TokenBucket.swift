/// A token bucket as a pure value: `capacity` tokens at most, refilled at one token per
/// `refillInterval`. Time is the elapsed `Duration` since an origin the owner picks.
///
/// It is kept in the exact form of the generic cell rate algorithm: instead of a fractional token
/// count it stores the time at which the bucket will be full again, so no rounding ever grants or
/// loses a token over any span of time.
public struct TokenBucket: Sendable, Hashable {
    public let capacity: Int
    public let refillInterval: Duration
    /// The time at which the bucket is (or will be) full again.
    private var fullAt: Duration = .zero

    /// A bucket that starts full.
    public init(capacity: Int, refillInterval: Duration) {
        precondition(capacity >= 1 && refillInterval > .zero, "a token bucket needs capacity ≥ 1 and a positive refill interval")
        self.capacity = capacity
        self.refillInterval = refillInterval
    }

    /// A bucket refilled at `perSecond` tokens a second.
    public init(capacity: Int, perSecond: Int) {
        self.init(capacity: capacity, refillInterval: .seconds(1) / perSecond)
    }

    /// Whole tokens available at `now`.
    public func availableTokens(at now: Duration) -> Int {
        let missing = max(.zero, fullAt - now)
        return capacity - Int((missing / refillInterval).rounded(.up))
    }

    /// Takes `tokens` if they are there now; returns whether it did.
    public mutating func tryTake(_ tokens: Int = 1, at now: Duration) -> Bool {
        guard waitTime(for: tokens, at: now) == .zero else { return false }
        take(tokens, at: now)
        return true
    }

    /// How long until `tokens` are available at `now` (zero if they are there now).
    /// Asking for more than `capacity` is a programming error.
    public func waitTime(for tokens: Int, at now: Duration) -> Duration {
        precondition(tokens >= 1 && tokens <= capacity, "asked for \(tokens) tokens from a bucket of \(capacity)")
        let start = max(fullAt, now)
        let newFullAt = start + refillInterval * tokens
        let earliest = newFullAt - refillInterval * capacity
        return max(.zero, earliest - now)
    }

    /// Takes `tokens` now, even ahead of time (a reservation): later takers wait for the refill.
    public mutating func take(_ tokens: Int, at now: Duration) {
        fullAt = max(fullAt, now) + refillInterval * tokens
    }
}
