/// The settings of a circuit breaker, in resilience4j's vocabulary.
public struct CircuitBreakerConfiguration: Sendable {
    /// Which recent calls the failure and slow-call rates are computed over.
    public enum SlidingWindow: Sendable, Hashable {
        /// The last `size` calls.
        case countBased(size: Int)
        /// The calls of the last `duration` (kept in one-second buckets, or finer for short windows).
        case timeBased(duration: Duration)
    }

    /// Percent of failed calls (of those recorded) at or above which the breaker opens.
    public var failureRateThreshold: Double = 50
    /// Percent of slow calls at or above which the breaker opens.
    public var slowCallRateThreshold: Double = 100
    /// A call that takes at least this long is slow.
    public var slowCallDurationThreshold: Duration = .seconds(60)
    /// No rate is judged before the window holds this many calls.
    public var minimumNumberOfCalls = 100
    /// The window the rates are computed over.
    public var slidingWindow: SlidingWindow = .countBased(size: 100)
    /// How long the breaker stays open before letting probes through.
    public var waitDurationInOpenState: Duration = .seconds(60)
    /// How many probe calls half-open admits; their outcomes decide between closed and open.
    public var permittedNumberOfCallsInHalfOpenState = 10
    /// A probe permit not reported back within this time is taken back, so half-open never sticks.
    public var probePermitTimeout: Duration = .seconds(60)
    /// Which failures count against the breaker: system failures by default, never business ones.
    public var recordsFailure: @Sendable (ErrorContext) -> Bool = { $0.failureClass == .system }

    public init() {}

    /// Checks every setting; the error names the setting and what is expected.
    public func validate() throws(ErrorContext) {
        guard (0...100).contains(failureRateThreshold), failureRateThreshold > 0 else {
            throw .invalidSetting("circuit breaker", "failureRateThreshold", "a percentage in (0, 100], got \(failureRateThreshold)")
        }
        guard (0...100).contains(slowCallRateThreshold), slowCallRateThreshold > 0 else {
            throw .invalidSetting("circuit breaker", "slowCallRateThreshold", "a percentage in (0, 100], got \(slowCallRateThreshold)")
        }
        guard slowCallDurationThreshold > .zero else { throw .invalidSetting("circuit breaker", "slowCallDurationThreshold", "a positive duration") }
        guard minimumNumberOfCalls >= 1 else { throw .invalidSetting("circuit breaker", "minimumNumberOfCalls", "at least 1, got \(minimumNumberOfCalls)") }
        switch slidingWindow {
        case .countBased(let size):
            guard size >= 1 else { throw .invalidSetting("circuit breaker", "slidingWindow.size", "at least 1, got \(size)") }
        case .timeBased(let duration):
            guard duration > .zero else { throw .invalidSetting("circuit breaker", "slidingWindow.duration", "a positive duration") }
        }
        guard waitDurationInOpenState >= .zero else { throw .invalidSetting("circuit breaker", "waitDurationInOpenState", "zero or more") }
        guard permittedNumberOfCallsInHalfOpenState >= 1 else {
            throw .invalidSetting("circuit breaker", "permittedNumberOfCallsInHalfOpenState", "at least 1, got \(permittedNumberOfCallsInHalfOpenState)")
        }
        guard probePermitTimeout > .zero else { throw .invalidSetting("circuit breaker", "probePermitTimeout", "a positive duration") }
    }
}
