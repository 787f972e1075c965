import Testing

@testable import PhalanxWire

/// Deadlines on the wire are Unix milliseconds; 0 means none, and any value in the past has passed.
@Suite struct WireTimeTests {
    @Test func zeroIsNoDeadlineAndPastOrNegativeDeadlinesHavePassedWithoutOverflow() {
        let now: Int64 = 1_800_000_000_000
        #expect(WireTime.remaining(untilUnixMilliseconds: 0, now: now) == nil)
        #expect(WireTime.remaining(untilUnixMilliseconds: now + 1_500, now: now) == .milliseconds(1_500))
        #expect(WireTime.remaining(untilUnixMilliseconds: 1, now: now)! < .zero)
        #expect(WireTime.remaining(untilUnixMilliseconds: -5, now: now)! < .zero, "before 1970: passed, not 'no deadline'")
        #expect(WireTime.remaining(untilUnixMilliseconds: .min, now: now) == .milliseconds(-now))
        #expect(WireTime.remaining(untilUnixMilliseconds: .max, now: now)! > .seconds(1_000_000_000))
    }
}
