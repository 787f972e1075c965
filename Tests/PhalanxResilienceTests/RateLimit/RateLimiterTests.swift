import Clocks
import Testing

@testable import PhalanxResilience

@Suite struct RateLimiterTests {
    @Test func acquireWaitsForItsTokens() async throws {
        let clock = TestClock()
        let limiter = try RateLimiter(name: "client-a", capacity: 1, refillInterval: .seconds(1), clock: clock)
        #expect(limiter.tryAcquire())
        #expect(!limiter.tryAcquire())
        let waiter = Task { try await limiter.acquire() }
        try await waitForSleeper(on: clock)
        await clock.advance(by: .seconds(1))
        try await waiter.value
    }

    @Test func refusesWithOverloadedWhenTokensWouldComeAfterTheDeadline() async throws {
        let clock = TestClock()
        let limiter = try RateLimiter(name: "client-a", capacity: 1, refillInterval: .seconds(10), maxWait: .seconds(60), clock: clock)
        #expect(limiter.tryAcquire())
        await #expect {
            try await withDeadline(.after(.seconds(5), on: clock)) { try await limiter.acquire() }
        } throws: { error in
            let context = error as? ErrorContext
            return context?.code == .overloaded && context?.message.contains("retry after") == true
        }
        // Nothing was reserved by the refused call: 10 s after the first token, one is free again.
        await clock.advance(by: .seconds(10))
        #expect(limiter.tryAcquire())
    }

    @Test func badSettingsAreRefusedWithTheirName() {
        #expect { try RateLimiter(name: "x", capacity: 0, refillInterval: .seconds(1), clock: TestClock()) } throws: {
            ($0 as? ErrorContext)?.message.contains("capacity") == true
        }
    }
}
