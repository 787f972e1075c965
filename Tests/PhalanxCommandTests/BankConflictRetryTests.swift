import Testing

@testable import phalanx

/// A transfer that meets a locked account is retried for a time, not a count: the hostile tester
/// saw one fail after 100 quick retries while an audit slowed a worker down.
@Suite struct BankConflictRetryTests {
    @Test func aConflictIsRetriedUntilThirtySecondsHavePassedAndNotAfter() {
        #expect(BankConflictRetry.delay(beforeRetry: 1_000, elapsed: .seconds(29), random: 0.5) != nil)
        #expect(BankConflictRetry.delay(beforeRetry: 1_000, elapsed: .milliseconds(29_999), random: 0.5) != nil)
        #expect(BankConflictRetry.delay(beforeRetry: 2, elapsed: .seconds(30), random: 0.5) == nil)
    }

    @Test func thePauseGrowsFromHalfAMillisecondAndStaysUnderFiftyMilliseconds() {
        #expect(BankConflictRetry.delay(beforeRetry: 1, elapsed: .zero, random: 0.999)! <= .microseconds(500))
        #expect(BankConflictRetry.delay(beforeRetry: 5, elapsed: .zero, random: 0.999)! > .milliseconds(7))
        #expect(BankConflictRetry.delay(beforeRetry: 10_000, elapsed: .zero, random: 0.999)! <= .milliseconds(50))
        #expect(BankConflictRetry.delay(beforeRetry: 10_000, elapsed: .zero, random: 0.999)! > .milliseconds(49))
    }
}
