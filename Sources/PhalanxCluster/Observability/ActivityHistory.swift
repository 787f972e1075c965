/// The coordinator's recent activity for the status page's sparklines: finished and failed task
/// counts sampled at a fixed interval, the last ``capacity`` samples kept. Pure: time is an argument.
public struct ActivityHistory: Sendable, Hashable {
    /// One interval's throughput and failure rate.
    public struct Point: Sendable, Hashable {
        /// Tasks finished per second over the interval.
        public let tasksPerSecond: Double
        /// Failed tasks among those finished, 0...1 (0 when none finished).
        public let failureRatio: Double
    }

    public let capacity: Int
    private var samples: [(at: Duration, finished: UInt64, failed: UInt64)] = []

    public init(capacity: Int = 120) {
        precondition(capacity >= 2)
        self.capacity = capacity
    }

    /// The counters at `at` (since start; they only grow).
    public mutating func record(at: Duration, finished: UInt64, failed: UInt64) {
        if let last = samples.last, at <= last.at { return }
        samples.append((at, finished, failed))
        if samples.count > capacity { samples.removeFirst(samples.count - capacity) }
    }

    /// One point per interval between consecutive samples, oldest first.
    public var points: [Point] {
        zip(samples, samples.dropFirst()).map { earlier, later in
            let seconds = Double((later.at - earlier.at).components.seconds) + Double((later.at - earlier.at).components.attoseconds) / 1e18
            let finished = later.finished >= earlier.finished ? later.finished - earlier.finished : 0
            let failed = later.failed >= earlier.failed ? later.failed - earlier.failed : 0
            return Point(
                tasksPerSecond: seconds > 0 ? Double(finished) / seconds : 0,
                failureRatio: finished > 0 ? min(1, Double(failed) / Double(finished)) : 0)
        }
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.capacity == rhs.capacity && lhs.samples.elementsEqual(rhs.samples) { $0 == $1 }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(capacity)
        for sample in samples { hasher.combine(sample.at); hasher.combine(sample.finished); hasher.combine(sample.failed) }
    }
}

/// The last failed tasks, newest first, for the status page (bounded: ``capacity`` entries).
public struct RecentFailures: Sendable, Hashable {
    /// One failed task.
    public struct Entry: Sendable, Hashable {
        public let unixMilliseconds: Int64
        public let client: String
        public let taskID: String
        public let code: String
        public let message: String
        public let traceID: String
        public let worker: String?
    }

    public let capacity: Int
    public private(set) var entries: [Entry] = []

    public init(capacity: Int = 20) {
        self.capacity = capacity
    }

    public mutating func add(_ entry: Entry) {
        entries.insert(entry, at: 0)
        if entries.count > capacity { entries.removeLast(entries.count - capacity) }
    }
}
