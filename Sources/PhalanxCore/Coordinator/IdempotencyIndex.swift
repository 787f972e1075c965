/// Which task an idempotency key names, per client certificate name.
///
/// Unfinished tasks are named by task number while they run; finished ones by task id, for a
/// window bounded by age and by count (the oldest are forgotten first), so that a resubmission
/// after a task finished still finds it. Memory is bounded: at most `maximumFinished` finished
/// keys, each a few hundred bytes.
public struct IdempotencyIndex: Sendable {
    /// A key as one client uses it.
    public struct Key: Hashable, Sendable {
        public let client: String
        public let key: String

        public init(client: String, key: String) {
            self.client = client
            self.key = key
        }

        /// Keys are compared by their UTF-8 bytes, as the ledger compares them.
        public static func == (lhs: Key, rhs: Key) -> Bool { ByteWise.equal(lhs.key, rhs.key) && ByteWise.equal(lhs.client, rhs.client) }

        public func hash(into hasher: inout Hasher) {
            ByteWise.hash(client, into: &hasher)
            ByteWise.hash(key, into: &hasher)
        }
    }

    /// The task a key names.
    public enum Entry: Hashable, Sendable {
        case unfinished(TaskNumber, taskID: String)
        case finished(taskID: String, at: Duration)

        /// The id of the task the key names.
        public var taskID: String {
            switch self {
            case .unfinished(_, let taskID), .finished(let taskID, _): taskID
            }
        }
    }

    public let maximumFinished: Int
    public let window: Duration

    private var entries: [Key: Entry] = [:]
    /// Finished keys oldest first; an entry whose key was renamed since is skipped when it comes up.
    private var finishedOrder: [(key: Key, taskID: String, at: Duration)] = []
    private var finishedHead = 0
    /// The key of each finished task, so that a new task taking its id forgets it.
    private var keyOfFinished: [TaskKey: String] = [:]
    /// The request fingerprint of each key's task, where it is known.
    private var fingerprints: [Key: UInt64] = [:]

    public init(maximumFinished: Int, window: Duration) {
        self.maximumFinished = maximumFinished
        self.window = window
    }

    /// Finished keys remembered now.
    public var finishedCount: Int { keyOfFinished.count }

    /// What `key` names, if anything (finished keys past the window are forgotten first).
    public mutating func entry(for key: Key, now: Duration) -> Entry? {
        expire(now: now)
        return entries[key]
    }

    /// The request fingerprint of the task `key` names, if it is known.
    public func fingerprint(of key: Key) -> UInt64? { fingerprints.isEmpty ? nil : fingerprints[key] }

    /// A new task was accepted: it takes its key, and a finished task of the same id is forgotten
    /// (its result in the ledger is replaced by the new task's).
    public mutating func accepted(_ taskID: String, client: String, key: String?, number: TaskNumber, fingerprint: UInt64? = nil) {
        if !keyOfFinished.isEmpty, let old = keyOfFinished.removeValue(forKey: TaskKey(client: client, taskID: taskID)) {
            entries[Key(client: client, key: old)] = nil
            fingerprints[Key(client: client, key: old)] = nil
        }
        guard let key else { return }
        entries[Key(client: client, key: key)] = .unfinished(number, taskID: taskID)
        fingerprints[Key(client: client, key: key)] = fingerprint
    }

    /// A keyed task finished at `now` (elapsed time on the machine's clock).
    public mutating func finished(_ taskID: String, client: String, key: String, at now: Duration, fingerprint: UInt64? = nil) {
        let indexKey = Key(client: client, key: key)
        entries[indexKey] = .finished(taskID: taskID, at: now)
        if let fingerprint { fingerprints[indexKey] = fingerprint }
        keyOfFinished[TaskKey(client: client, taskID: taskID)] = key
        finishedOrder.append((indexKey, taskID, now))
        expire(now: now)
    }

    /// Forgets finished keys older than the window, and the oldest beyond `maximumFinished`.
    mutating func expire(now: Duration) {
        while finishedHead < finishedOrder.count {
            let oldest = finishedOrder[finishedHead]
            let current = entries[oldest.key] == .finished(taskID: oldest.taskID, at: oldest.at)
            guard !current || keyOfFinished.count > maximumFinished || oldest.at + window <= now else { break }
            finishedHead += 1
            if current {
                entries[oldest.key] = nil
                fingerprints[oldest.key] = nil
                keyOfFinished[TaskKey(client: oldest.key.client, taskID: oldest.taskID)] = nil
            }
        }
        if finishedHead > 1_024 && finishedHead * 2 > finishedOrder.count {
            finishedOrder.removeFirst(finishedHead)
            finishedHead = 0
        }
    }
}
