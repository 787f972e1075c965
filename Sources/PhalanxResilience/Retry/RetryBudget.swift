import Synchronization

/// A retry budget shared by all callers of one dependency, so that a sick dependency cannot
/// cause a retry storm: retries are capped at a fraction of calls over a sliding window.
public final class RetryBudget<C: Clock>: Sendable where C.Duration == Duration {
    private let clock: C
    private let origin: C.Instant
    private let state: Mutex<RetryBudgetState>

    /// A budget of `ratio` retries per call over `window`, with `minimumRetriesPerWindow` always allowed.
    public init(ratio: Double = 0.1, minimumRetriesPerWindow: Int = 10, window: Duration = .seconds(10), clock: C) {
        precondition(ratio >= 0 && minimumRetriesPerWindow >= 0 && window > .zero, "retry budget settings must not be negative")
        self.clock = clock
        self.origin = clock.now
        self.state = Mutex(RetryBudgetState(ratio: ratio, minimumRetriesPerWindow: minimumRetriesPerWindow, window: window))
    }

    /// Records a first attempt.
    public func recordCall() {
        let now = origin.duration(to: clock.now)
        state.withLock { $0.recordCall(at: now) }
    }

    /// Takes a retry from the budget; false when the budget is spent.
    public func withdrawRetry() -> Bool {
        let now = origin.duration(to: clock.now)
        return state.withLock { $0.withdrawRetry(at: now) }
    }
}
