import PhalanxResilience

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

    private struct Sample: Sendable, Hashable {
        let at: Duration
        let finished: UInt64
        let failed: UInt64
    }

    public let capacity: Int
    private var samples: [Sample] = []

    public init(capacity: Int = 120) {
        precondition(capacity >= 2)
        self.capacity = capacity
    }

    /// The counters at `at` (since start; they only grow).
    public mutating func record(at: Duration, finished: UInt64, failed: UInt64) {
        if let last = samples.last, at <= last.at { return }
        samples.append(Sample(at: at, finished: finished, failed: failed))
        if samples.count > capacity { samples.removeFirst(samples.count - capacity) }
    }

    /// One point per interval between consecutive samples, oldest first.
    public var points: [Point] {
        zip(samples, samples.dropFirst()).map { earlier, later in
            let elapsed = (later.at - earlier.at).components
            let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
            let finished = later.finished >= earlier.finished ? later.finished - earlier.finished : 0
            let failed = later.failed >= earlier.failed ? later.failed - earlier.failed : 0
            return Point(
                tasksPerSecond: seconds > 0 ? Double(finished) / seconds : 0,
                failureRatio: finished > 0 ? min(1, Double(failed) / Double(finished)) : 0)
        }
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
        public internal(set) var message: String
        public let traceID: String
        public let worker: String?
    }

    public let capacity: Int
    public private(set) var entries: [Entry] = []

    public init(capacity: Int = 20) {
        self.capacity = capacity
    }

    /// The most bytes of a failure's message kept here: a status reply carries these to clients,
    /// and a message may quote a whole payload.
    public static let maximumMessageBytes = 512

    public mutating func add(_ entry: Entry) {
        var entry = entry
        if entry.message.utf8.count > Self.maximumMessageBytes {
            entry.message = "\(entry.message.prefix(utf8Bytes: Self.maximumMessageBytes))… (\(entry.message.utf8.count) bytes)"
        }
        entries.insert(entry, at: 0)
        if entries.count > capacity { entries.removeLast(entries.count - capacity) }
    }
}
