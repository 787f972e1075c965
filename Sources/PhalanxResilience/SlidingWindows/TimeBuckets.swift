/// A time-based sliding window: a fixed ring of equal buckets, each holding the counts of one slice of time.
///
/// Time is given as the elapsed `Duration` since an origin the owner chooses, so the window is a pure
/// value that knows no clock. Buckets older than the window are cleared as time moves on; the
/// window's total is kept up to date incrementally, so reading it is O(1).
struct TimeBuckets<Counts: Sendable>: Sendable {
    private var buckets: [(index: Int64, counts: Counts)]
    private let bucketDuration: Duration
    private let zero: Counts
    private let add: @Sendable (inout Counts, Counts) -> Void
    private let subtract: @Sendable (inout Counts, Counts) -> Void
    private(set) var total: Counts

    init(
        window: Duration, bucketCount: Int, zero: Counts,
        add: @escaping @Sendable (inout Counts, Counts) -> Void,
        subtract: @escaping @Sendable (inout Counts, Counts) -> Void
    ) {
        precondition(bucketCount > 0 && window > .zero, "a time window needs a positive duration and at least one bucket")
        self.bucketDuration = window / bucketCount
        self.buckets = Array(repeating: (index: -1, counts: zero), count: bucketCount)
        self.zero = zero
        self.add = add
        self.subtract = subtract
        self.total = zero
    }

    /// Moves the window to `elapsed`, dropping buckets that fell out of it.
    mutating func advance(to elapsed: Duration) {
        let current = bucketIndex(elapsed)
        for slot in buckets.indices where buckets[slot].index >= 0 && buckets[slot].index <= current - Int64(buckets.count) {
            subtract(&total, buckets[slot].counts)
            buckets[slot] = (index: -1, counts: zero)
        }
    }

    /// Adds `counts` to the bucket for `elapsed`.
    mutating func record(_ counts: Counts, at elapsed: Duration) {
        advance(to: elapsed)
        let index = bucketIndex(elapsed)
        let slot = Int(index % Int64(buckets.count))
        if buckets[slot].index != index {
            subtract(&total, buckets[slot].counts)
            buckets[slot] = (index: index, counts: zero)
        }
        add(&buckets[slot].counts, counts)
        add(&total, counts)
    }

    private func bucketIndex(_ elapsed: Duration) -> Int64 {
        Int64(max(elapsed, .zero) / bucketDuration)
    }
}
