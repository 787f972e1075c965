/// Counts of calls in a window: how many, how many failed, how many were slow.
public struct CallOutcomeCounts: Sendable, Hashable {
    public var calls = 0
    public var failures = 0
    public var slowCalls = 0

    public init(calls: Int = 0, failures: Int = 0, slowCalls: Int = 0) {
        self.calls = calls
        self.failures = failures
        self.slowCalls = slowCalls
    }

    /// Failure rate in percent (0 when there were no calls).
    public var failureRate: Double { calls == 0 ? 0 : Double(failures) * 100 / Double(calls) }
    /// Slow-call rate in percent (0 when there were no calls).
    public var slowCallRate: Double { calls == 0 ? 0 : Double(slowCalls) * 100 / Double(calls) }

    mutating func add(failed: Bool, slow: Bool) {
        calls += 1
        if failed { failures += 1 }
        if slow { slowCalls += 1 }
    }

    mutating func subtract(_ other: CallOutcomeCounts) {
        calls -= other.calls
        failures -= other.failures
        slowCalls -= other.slowCalls
    }

    mutating func add(_ other: CallOutcomeCounts) {
        calls += other.calls
        failures += other.failures
        slowCalls += other.slowCalls
    }
}
