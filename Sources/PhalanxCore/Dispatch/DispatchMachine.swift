import PhalanxResilience

/// The coordinator's dispatch logic as a pure value: which task runs where, under which attempt.
///
/// Tasks wait in one FIFO queue per kind (so a kind no worker serves never blocks the others).
/// ``assign()`` hands queued tasks to the least-loaded live worker that serves their kind and has
/// a free slot. A result is accepted only from the worker running the task's current attempt
/// (fencing): a late result of a superseded attempt is dropped. A lost worker's tasks go back to
/// the head of their queues under a new attempt, up to `maximumAttempts`.
///
/// `Task` is the caller's opaque task description (the wire message); the machine never reads it.
public struct DispatchMachine<Task: Sendable>: Sendable {
    /// One task handed to one worker.
    public struct Assignment: Sendable {
        public let worker: String
        public let key: TaskKey
        public let attempt: UInt32
        public let task: Task
    }

    /// What became of a submitted task.
    public enum SubmitOutcome: Sendable, Hashable {
        case accepted
        /// The same key is already queued or running: the submission is a duplicate and ignored.
        case duplicate
        /// The queue is at its bound; the task was not accepted.
        case overloaded(queued: Int)
    }

    /// Whether a reported result ends its task.
    public enum ResultDecision: Sendable {
        /// The result ends the task; route it to the client.
        case accepted(TaskKey)
        /// The result is for an attempt that is no longer current (or an unknown task): dropped.
        case stale
    }

    private enum Placement: Sendable, Hashable {
        case queued
        case running(worker: String)
    }

    private struct Entry: Sendable {
        let kind: String
        let task: Task
        var attempt: UInt32
        var placement: Placement
    }

    /// The most tasks that may wait (queued, not running) at once.
    public let maximumQueuedTasks: Int
    /// How many attempts a task gets when workers running it are lost.
    public let maximumAttempts: UInt32

    private var entries: [TaskKey: Entry] = [:]
    private var queues: [String: TaskQueue] = [:]
    public private(set) var workers: [String: WorkerSlot] = [:]
    public private(set) var queuedCount = 0

    public init(maximumQueuedTasks: Int, maximumAttempts: UInt32 = 3) {
        precondition(maximumQueuedTasks > 0 && maximumAttempts > 0)
        self.maximumQueuedTasks = maximumQueuedTasks
        self.maximumAttempts = maximumAttempts
    }

    /// Tasks currently running on workers.
    public var runningCount: Int { entries.count - queuedCount }

    /// Accepts a task into its kind's queue.
    public mutating func submit(_ key: TaskKey, kind: String, task: Task) -> SubmitOutcome {
        guard entries[key] == nil else { return .duplicate }
        guard queuedCount < maximumQueuedTasks else { return .overloaded(queued: queuedCount) }
        entries[key] = Entry(kind: kind, task: task, attempt: 0, placement: .queued)
        queues[kind, default: TaskQueue()].append(key)
        queuedCount += 1
        return .accepted
    }

    /// A worker registered (or registered again after being lost).
    public mutating func workerRegistered(name: String, capacity: Int, kinds: Set<String>) {
        workers[name] = WorkerSlot(name: name, capacity: capacity, kinds: kinds)
    }

    /// A worker was lost (connection gone or heartbeats missed). Its running tasks go back to the
    /// head of their queues under a new attempt; those out of attempts are returned as given up.
    public mutating func workerLost(name: String) -> (requeued: [TaskKey], gaveUp: [TaskKey]) {
        guard workers.removeValue(forKey: name) != nil else { return ([], []) }
        var requeued: [TaskKey] = []
        var gaveUp: [TaskKey] = []
        for (key, entry) in entries where entry.placement == .running(worker: name) {
            if entry.attempt >= maximumAttempts {
                entries[key] = nil
                gaveUp.append(key)
            } else {
                entries[key]!.placement = .queued
                queues[entry.kind, default: TaskQueue()].prepend(key)
                queuedCount += 1
                requeued.append(key)
            }
        }
        return (requeued, gaveUp)
    }

    /// Hands queued tasks to workers with free slots: least-loaded worker serving the kind first.
    public mutating func assign() -> [Assignment] {
        var assignments: [Assignment] = []
        var progress = true
        while progress && queuedCount > 0 {
            progress = false
            for kind in queues.keys.sorted() where !(queues[kind]?.isEmpty ?? true) {
                guard let worker = leastLoadedWorker(serving: kind) else { continue }
                guard let key = queues[kind]!.popFirst() else { continue }
                queuedCount -= 1
                guard let index = entries.index(forKey: key) else { continue }
                // Updated in place: copying an entry out and back costs a retain per field on the hot path.
                entries.values[index].attempt += 1
                entries.values[index].placement = .running(worker: worker)
                workers[worker]!.inFlight += 1
                assignments.append(
                    Assignment(worker: worker, key: key, attempt: entries.values[index].attempt, task: entries.values[index].task))
                progress = true
            }
        }
        return assignments
    }

    /// A worker reported the end of an attempt.
    public mutating func resultReceived(from worker: String, key: TaskKey, attempt: UInt32) -> ResultDecision {
        guard let index = entries.index(forKey: key), entries.values[index].attempt == attempt,
            entries.values[index].placement == .running(worker: worker)
        else {
            return .stale
        }
        entries.remove(at: index)
        workers[worker]?.inFlight -= 1
        workers[worker]?.finished += 1
        return .accepted(key)
    }

    private func leastLoadedWorker(serving kind: String) -> String? {
        var best: WorkerSlot?
        for worker in workers.values where worker.kinds.contains(kind) && worker.freeCapacity > 0 {
            if best == nil || worker.load < best!.load || (worker.load == best!.load && worker.name < best!.name) {
                best = worker
            }
        }
        return best?.name
    }
}

/// A FIFO of task keys with O(1) push, pop and push-to-front.
struct TaskQueue: Sendable {
    private var front: [TaskKey] = []  // reversed: last element is the head
    private var back: [TaskKey] = []

    var isEmpty: Bool { front.isEmpty && back.isEmpty }

    mutating func append(_ key: TaskKey) { back.append(key) }

    mutating func prepend(_ key: TaskKey) { front.append(key) }

    mutating func popFirst() -> TaskKey? {
        if front.isEmpty {
            front = back.reversed()
            back.removeAll(keepingCapacity: true)
        }
        return front.popLast()
    }
}
