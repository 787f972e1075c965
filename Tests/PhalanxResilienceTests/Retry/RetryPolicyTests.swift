import Testing

@testable import PhalanxResilience

@Suite struct RetryPolicyTests {
    static let base = RetryPolicy(maxAttempts: 10, initialBackoff: .milliseconds(100), maxBackoff: .seconds(5), multiplier: 2)

    @Test func noJitterIsExponentialAndCapped() {
        var policy = Self.base
        policy.jitter = .none
        let delays = (1...8).map { policy.backoff(beforeRetry: $0, previous: .zero, random: 0.5) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                           .milliseconds(1600), .milliseconds(3200), .seconds(5), .seconds(5)])
    }

    @Test(arguments: Jitter.allCases)
    func jitterStaysInItsBoundsOverManyDraws(jitter: Jitter) {
        var policy = Self.base
        policy.jitter = jitter
        let random = SeededRandom(seed: 42)
        var previous = policy.initialBackoff
        var sawLow = false
        var sawHigh = false
        for draw in 0..<20_000 {
            let retry = draw % 9 + 1
            let exponential = min(policy.maxBackoff, policy.initialBackoff * (1 << (retry - 1)))
            let delay = policy.backoff(beforeRetry: retry, previous: previous, random: random.next())
            let (low, high): (Duration, Duration) =
                switch jitter {
                case .none: (exponential, exponential)
                case .full: (.zero, exponential)
                case .equal: (exponential / 2, exponential)
                case .decorrelated: (policy.initialBackoff, min(policy.maxBackoff, max(policy.initialBackoff, previous * 3)))
                }
            #expect(delay >= low && delay <= high, "draw \(draw): \(delay) outside [\(low), \(high)]")
            if delay - low < (high - low) / 10 { sawLow = true }
            if high - delay < (high - low) / 10 { sawHigh = true }
            previous = delay
        }
        if jitter != .none { #expect(sawLow && sawHigh, "draws should spread over the whole range") }
    }

    @Test func invalidSettingsAreNamed() {
        #expect { try RetryPolicy(maxAttempts: 0).validate() } throws: {
            ($0 as? ErrorContext)?.message.contains("maxAttempts") == true
        }
        #expect { try RetryPolicy(initialBackoff: .seconds(2), maxBackoff: .seconds(1)).validate() } throws: {
            ($0 as? ErrorContext)?.message.contains("maxBackoff") == true
        }
    }
}
