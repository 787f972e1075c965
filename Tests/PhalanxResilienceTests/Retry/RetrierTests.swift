import Clocks
import Synchronization
import Testing

@testable import PhalanxResilience

@Suite struct RetrierTests {
    static let policy = RetryPolicy(maxAttempts: 4, initialBackoff: .seconds(1), maxBackoff: .seconds(10), multiplier: 2, jitter: .none)

    @Test func retriesSystemFailuresWithBackoffUntilSuccess() async throws {
        let clock = TestClock()
        let retrier = try Retrier(policy: Self.policy, clock: clock)
        let attempts = Locked<[Int]>([])
        let call = Task {
            try await retrier.run { attempt in
                attempts.withLock { $0.append(attempt) }
                if attempt < 3 { throw SystemFailure() }
                return "ok"
            }
        }
        try await waitForSleeper(on: clock)
        await clock.advance(by: .milliseconds(999))
        #expect(attempts.value == [1])
        await clock.advance(by: .milliseconds(1))
        try await waitForSleeper(on: clock)
        #expect(attempts.value == [1, 2])
        await clock.advance(by: .seconds(2))
        #expect(try await call.value == "ok")
        #expect(attempts.value == [1, 2, 3])
    }

    @Test func neverRetriesABusinessFailure() async throws {
        let retrier = try Retrier(policy: Self.policy, clock: TestClock())
        let calls = Locked(0)
        await #expect {
            try await retrier.run { _ in
                calls.withLock { $0 += 1 }
                throw BusinessFailure()
            }
        } throws: { error in
            let context = error as? ErrorContext
            return context?.code == .businessRejected && context?.attempt == 1 && context?.message.contains("not retried") == true
        }
        #expect(calls.value == 1)
    }

    @Test func givesUpAfterMaxAttemptsWithTheAttemptCount() async throws {
        let clock = TestClock()
        let retrier = try Retrier(policy: RetryPolicy(maxAttempts: 2, initialBackoff: .seconds(1), jitter: .none), clock: clock)
        let call = Task { try await retrier.run { _ in throw SystemFailure() } }
        try await waitForSleeper(on: clock)
        await clock.advance(by: .seconds(1))
        let context = try await Self.failure(of: call)
        #expect(context.attempt == 2)
        #expect(context.code == .unavailable)
        #expect(context.message.contains("gave up after 2 attempts"))
    }

    @Test func neverSleepsPastTheDeadline() async throws {
        let clock = TestClock()
        let retrier = try Retrier(policy: Self.policy, clock: clock)
        let calls = Locked(0)
        // Delays would be 1 s, 2 s, 4 s; the deadline 2.5 s away allows only the first retry.
        let call = Task {
            try await withDeadline(.after(.milliseconds(2_500), on: clock)) {
                try await retrier.run { _ in
                    calls.withLock { $0 += 1 }
                    throw SystemFailure()
                }
            }
        }
        try await waitForSleeper(on: clock)
        await clock.advance(by: .seconds(1))
        let context = try await Self.failure(of: call)
        #expect(calls.value == 2)
        #expect(context.attempt == 2)
        #expect(context.message.contains("after the deadline"))
        #expect(clock.now == TestClock<Duration>.Instant(offset: .seconds(1)))
    }

    @Test func theBudgetStopsARetryStorm() async throws {
        let clock = TestClock()
        let budget = RetryBudget(ratio: 0, minimumRetriesPerWindow: 1, window: .seconds(60), clock: clock)
        let retrier = try Retrier(policy: RetryPolicy(maxAttempts: 5, initialBackoff: .zero, maxBackoff: .zero, jitter: .none), budget: budget, clock: clock)
        let calls = Locked(0)
        for _ in 0..<10 {
            _ = try? await retrier.run { _ in
                calls.withLock { $0 += 1 }
                throw SystemFailure()
            }
        }
        // 10 first attempts and a single retry from the budget, not 50 calls.
        #expect(calls.value == 11)
    }

    /// The ErrorContext a call failed with; fails the test if it succeeded or threw something else.
    static func failure<Success>(of call: Task<Success, any Error>) async throws -> ErrorContext {
        let result = await call.result
        guard case .failure(let error) = result, let context = error as? ErrorContext else {
            Issue.record("expected an ErrorContext failure, got \(result)")
            throw WaitError(what: "a failure")
        }
        return context
    }
}
