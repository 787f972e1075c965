/// When and how long to wait before trying again. Pure: the random draw is passed in.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included (1 means no retry).
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    public var multiplier: Double
    public var jitter: Jitter

    public init(
        maxAttempts: Int = 3,
        initialBackoff: Duration = .milliseconds(100),
        maxBackoff: Duration = .seconds(10),
        multiplier: Double = 2,
        jitter: Jitter = .full
    ) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// Checks every setting; the error names the setting and what is expected.
    public func validate() throws(ErrorContext) {
        guard maxAttempts >= 1 else { throw .invalidSetting("retry", "maxAttempts", "at least 1, got \(maxAttempts)") }
        guard initialBackoff >= .zero else { throw .invalidSetting("retry", "initialBackoff", "zero or more") }
        guard maxBackoff >= initialBackoff else { throw .invalidSetting("retry", "maxBackoff", "at least initialBackoff") }
        guard multiplier >= 1 else { throw .invalidSetting("retry", "multiplier", "at least 1, got \(multiplier)") }
    }

    /// The delay before retry number `retry` (1 for the first retry), given the previous delay
    /// and a uniform random draw `random` in [0, 1).
    public func backoff(beforeRetry retry: Int, previous: Duration, random: Double) -> Duration {
        let exponential = min(maxBackoff, initialBackoff * pow(multiplier, retry - 1))
        switch jitter {
        case .none:
            return exponential
        case .full:
            return exponential * random
        case .equal:
            return exponential / 2 + (exponential / 2) * random
        case .decorrelated:
            let upper = max(initialBackoff, previous * 3)
            return min(maxBackoff, initialBackoff + (upper - initialBackoff) * random)
        }
    }

    private func pow(_ base: Double, _ exponent: Int) -> Double {
        // Capped so the product cannot overflow Duration's range; maxBackoff caps the delay anyway.
        var result = 1.0
        for _ in 0..<max(0, min(exponent, 64)) { result *= base }
        return result
    }
}
