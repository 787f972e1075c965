import Testing

@testable import PhalanxResilience

@Suite struct TokenBucketTests {
    @Test func grantsExactlyTheConfiguredRateOverSimulatedTime() {
        var bucket = TokenBucket(capacity: 10, perSecond: 100)
        var granted = 0
        // Try every 100 µs for 60 simulated seconds.
        var now = Duration.zero
        while now <= .seconds(60) {
            if bucket.tryTake(at: now) { granted += 1 }
            now += .microseconds(100)
        }
        // The initial burst of 10, then 100 per second for 60 seconds.
        #expect(granted == 10 + 6_000)
    }

    @Test func burstIsCappedAtCapacity() {
        var bucket = TokenBucket(capacity: 5, perSecond: 1)
        let burst = (0..<20).filter { _ in bucket.tryTake(at: .seconds(1_000)) }.count
        #expect(burst == 5)
        #expect(bucket.availableTokens(at: .seconds(1_000)) == 0)
        #expect(bucket.availableTokens(at: .seconds(1_002)) == 2)
    }

    @Test func waitTimeSaysWhenTokensArrive() {
        var bucket = TokenBucket(capacity: 2, refillInterval: .milliseconds(500))
        #expect(bucket.tryTake(2, at: .zero) == true)
        #expect(bucket.waitTime(for: 1, at: .zero) == .milliseconds(500))
        #expect(bucket.waitTime(for: 2, at: .milliseconds(200)) == .milliseconds(800))
        #expect(bucket.tryTake(at: .milliseconds(499)) == false)
        #expect(bucket.tryTake(at: .milliseconds(500)) == true)
    }
}
