/// The sliding window a closed breaker judges: the last N calls, or the calls of the last D.
struct OutcomeWindow: Sendable {
    // Exactly one of the two is set; kept as optionals (not enum payloads) so updates happen in place.
    private var ring: CountRing?
    private var buckets: TimeBuckets<CallOutcomeCounts>?

    init(_ window: CircuitBreakerConfiguration.SlidingWindow) {
        switch window {
        case .countBased(let size):
            ring = CountRing(size: size)
        case .timeBased(let duration):
            let seconds = Int(duration / .seconds(1))
            let bucketCount = seconds >= 1 ? min(seconds, 3_600) : 10
            buckets = TimeBuckets(
                window: duration, bucketCount: bucketCount, zero: CallOutcomeCounts(),
                add: { $0.add($1) }, subtract: { $0.subtract($1) })
        }
    }

    /// Records one call's outcome at `elapsed` since the breaker's origin.
    mutating func record(failed: Bool, slow: Bool, at elapsed: Duration) {
        ring?.record(failed: failed, slow: slow)
        buckets?.record(CallOutcomeCounts(calls: 1, failures: failed ? 1 : 0, slowCalls: slow ? 1 : 0), at: elapsed)
    }

    /// The counts of the calls still inside the window at `elapsed`.
    mutating func counts(at elapsed: Duration) -> CallOutcomeCounts {
        if let ring { return ring.total }
        buckets?.advance(to: elapsed)
        return buckets?.total ?? CallOutcomeCounts()
    }

    /// The number of calls the window can hold, if it is count-based.
    var capacity: Int? { ring?.size }
}

/// The last `size` outcomes in a ring, with their running total.
private struct CountRing: Sendable {
    private var slots: [(failed: Bool, slow: Bool)]
    private var next = 0
    private var filled = 0
    private(set) var total = CallOutcomeCounts()

    init(size: Int) {
        slots = Array(repeating: (false, false), count: size)
    }

    var size: Int { slots.count }

    mutating func record(failed: Bool, slow: Bool) {
        if filled == slots.count {
            let evicted = slots[next]
            total.subtract(CallOutcomeCounts(calls: 1, failures: evicted.failed ? 1 : 0, slowCalls: evicted.slow ? 1 : 0))
        } else {
            filled += 1
        }
        slots[next] = (failed, slow)
        next = (next + 1) % slots.count
        total.add(failed: failed, slow: slow)
    }
}
