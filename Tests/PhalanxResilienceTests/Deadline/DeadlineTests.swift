import Clocks
import Testing

@testable import PhalanxResilience

@Suite struct DeadlineTests {
    @Test func expiryCancelsTheWorkAndThrowsDeadlineExceeded() async throws {
        let clock = TestClock()
        let sawCancellation = Locked(false)
        let call = Task {
            try await withTimeout(.seconds(5), on: clock) {
                do {
                    try await clock.sleep(for: .seconds(60))
                } catch {
                    sawCancellation.withLock { $0 = true }
                    throw error
                }
            }
        }
        try await waitForSleeper(on: clock)
        await clock.advance(by: .seconds(5))
        await #expect(throws: DeadlineExceededError.self) { try await call.value }
        #expect(sawCancellation.value, "the work must be cancelled and awaited before the call returns")
    }

    @Test func workThatFinishesInTimeReturnsItsValue() async throws {
        let clock = TestClock()
        let value = try await withTimeout(.seconds(5), on: clock) { 42 }
        #expect(value == 42)
    }

    @Test func aChildInheritsTheEarlierOfItsParentsDeadlineAndItsOwn() async throws {
        let clock = TestClock()
        let remaining = try await withTimeout(.seconds(2), on: clock) {
            try await withTimeout(.seconds(10), on: clock) { Deadline.current!.remaining }
        }
        #expect(remaining == .seconds(2))
        let narrower = try await withTimeout(.seconds(10), on: clock) {
            try await withTimeout(.seconds(3), on: clock) { Deadline.current!.remaining }
        }
        #expect(narrower == .seconds(3))
    }

    @Test func theParentsDeadlineCutsAChildWithALongerTimeout() async throws {
        let clock = TestClock()
        let call = Task {
            try await withTimeout(.seconds(1), on: clock) {
                try await withTimeout(.seconds(100), on: clock) {
                    try await clock.sleep(for: .seconds(50))
                }
            }
        }
        try await waitForSleeper(on: clock)
        await clock.advance(by: .seconds(1))
        await #expect(throws: DeadlineExceededError.self) { try await call.value }
    }

    @Test func aPassedDeadlineFailsWithoutStartingTheWork() async throws {
        let clock = TestClock()
        let deadline = Deadline.after(.seconds(1), on: clock)
        await clock.advance(by: .seconds(2))
        let started = Locked(false)
        await #expect(throws: DeadlineExceededError.self) {
            try await withDeadline(deadline) { started.withLock { $0 = true } }
        }
        #expect(!started.value)
    }

    @Test func errorsOfTheWorkPassThrough() async throws {
        let clock = TestClock()
        await #expect(throws: BusinessFailure.self) {
            try await withTimeout(.seconds(1), on: clock) { throw BusinessFailure() }
        }
    }

    @Test func deadlineExceededIsClassified() {
        let context = FailureHandler().context(for: DeadlineExceededError())
        #expect(context.code == .deadlineExceeded)
        #expect(!context.retryable)
    }
}
