import Synchronization

/// Layer 3: admission by token bucket, e.g. per client.
///
/// ``tryAcquire(_:)`` answers at once; ``acquire(_:)`` reserves tokens and waits for them, but
/// only if they arrive before the current deadline (and within `maxWait`); otherwise it refuses at
/// once with `OVERLOADED`, saying when tokens will be there, and reserves nothing.
public final class RateLimiter<C: Clock>: Sendable where C.Duration == Duration {
    public let name: String
    private let clock: C
    private let origin: C.Instant
    private let bucket: Mutex<TokenBucket>
    private let maxWait: Duration

    /// A limiter of `capacity` tokens refilled at one per `refillInterval`; waits at most `maxWait`.
    public init(name: String, capacity: Int, refillInterval: Duration, maxWait: Duration = .seconds(1), clock: C) throws(ErrorContext) {
        guard capacity >= 1 else {
            throw ErrorContext(code: .invalidArgument, message: "rate limiter '\(name)': capacity must be at least 1, got \(capacity)")
        }
        guard refillInterval > .zero else {
            throw ErrorContext(code: .invalidArgument, message: "rate limiter '\(name)': the refill interval must be positive")
        }
        self.name = name
        self.clock = clock
        self.origin = clock.now
        self.bucket = Mutex(TokenBucket(capacity: capacity, refillInterval: refillInterval))
        self.maxWait = maxWait
    }

    /// Takes `tokens` if they are available now.
    public func tryAcquire(_ tokens: Int = 1) -> Bool {
        let now = elapsed()
        return bucket.withLock { $0.tryTake(tokens, at: now) }
    }

    /// Takes `tokens`, waiting for them if they come before the deadline and within `maxWait`.
    public func acquire(_ tokens: Int = 1) async throws(ErrorContext) {
        let now = elapsed()
        let budget = min(maxWait, Deadline.current?.remaining ?? maxWait)
        let wait = bucket.withLock { bucket -> Duration? in
            let wait = bucket.waitTime(for: tokens, at: now)
            guard wait <= budget else { return nil }
            bucket.take(tokens, at: now)
            return wait
        }
        guard let wait else {
            let retryAfter = bucket.withLock { $0.waitTime(for: tokens, at: now) }
            throw ErrorContext(
                code: .overloaded,
                message: "rate limit '\(name)' reached: \(tokens) token(s) free in \(retryAfter), past the allowed wait of \(budget); retry after \(retryAfter)")
        }
        guard wait > .zero else { return }
        do {
            try await clock.sleep(for: wait)
        } catch {
            // The reservation is kept: giving tokens back could let a later caller exceed the rate.
            throw ErrorContext(code: .cancelled, message: "cancelled while waiting for rate limit '\(name)'")
        }
    }

    private func elapsed() -> Duration { origin.duration(to: clock.now) }
}
