/// Retries a call with backoff: only retryable (system) failures, never past the current deadline,
/// and only while the retry budget (if any) allows.
///
/// When it gives up, the thrown ``ErrorContext`` is the last failure with the attempt count set and
/// a message saying why no further attempt was made.
public struct Retrier<C: Clock>: Sendable where C.Duration == Duration {
    public let policy: RetryPolicy
    public let budget: RetryBudget<C>?
    private let clock: C
    private let failureHandler: FailureHandler
    private let randomUnit: @Sendable () -> Double

    /// A retrier; `randomUnit` draws uniformly from [0, 1) (inject a seeded one in tests).
    public init(
        policy: RetryPolicy = RetryPolicy(),
        budget: RetryBudget<C>? = nil,
        clock: C,
        failureHandler: FailureHandler = FailureHandler(),
        randomUnit: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) throws(ErrorContext) {
        try policy.validate()
        self.policy = policy
        self.budget = budget
        self.clock = clock
        self.failureHandler = failureHandler
        self.randomUnit = randomUnit
    }

    /// Runs `operation` (given the attempt number, from 1) until it succeeds or a retry is not allowed.
    public func run<Success>(
        isolation: isolated (any Actor)? = #isolation,
        _ operation: (_ attempt: Int) async throws -> Success
    ) async throws(ErrorContext) -> Success {
        budget?.recordCall()
        var previousDelay = policy.initialBackoff
        var attempt = 1
        while true {
            let failure: ErrorContext
            do {
                return try await operation(attempt)
            } catch {
                failure = failureHandler.context(for: error, attempt: attempt)
            }
            func givingUp(_ reason: String) -> ErrorContext {
                var last = failure
                last.attempt = attempt
                last.message += " (\(reason))"
                return last
            }
            guard failure.retryable else { throw givingUp("not retried: \(failure.failureClass.rawValue) failure") }
            guard attempt < policy.maxAttempts else { throw givingUp("gave up after \(attempt) attempts") }
            let delay = policy.backoff(beforeRetry: attempt, previous: previousDelay, random: randomUnit())
            if let deadline = Deadline.current, delay >= deadline.remaining {
                throw givingUp("gave up after \(attempt) attempts: the next retry would start after the deadline")
            }
            if let budget, !budget.withdrawRetry() {
                throw givingUp("gave up after \(attempt) attempts: the retry budget is spent")
            }
            do {
                if delay > .zero { try await clock.sleep(for: delay) } else { try Task.checkCancellation() }
            } catch {
                throw failureHandler.context(for: CancellationError(), attempt: attempt).wrapped(
                    in: .cancelled, "cancelled while waiting to retry after: \(failure.message)")
            }
            previousDelay = delay
            attempt += 1
        }
    }
}
