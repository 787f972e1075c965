import PhalanxResilience

/// What the coordinator machine asks its shell to do, in order.
///
/// "Durable before visible" is an ordering of these: ``persist(_:)`` comes first in an event's
/// actions, and the shell performs every *visible* action after it — ``acknowledge(_:requestID:accepted:)``,
/// ``refuse(_:requestID:_:)``, ``deliver(_:_:)``, ``lookUp(_:requestID:taskIDs:pending:)``, ``deliverStored(_:_:)`` — only once
/// those changes (and all earlier ones) are durable, in order. Everything else, dispatch included,
/// it performs at once: a task may start on a worker while its acceptance is being written.
public enum CoordinatorAction<Spec: Sendable, Output: Sendable>: Sendable {
    /// Make these changes durable (the shell's ledger, group-committed).
    case persist([TaskChange<Spec, Output>])
    /// Read the ledger for these tasks of the connection's client (they are not unfinished in
    /// memory): send the finished ones' results, then reply with `pending` (attached to the
    /// connection, results to come) and the ones the ledger does not know.
    case lookUp(ConnectionID, requestID: UInt64, taskIDs: [String], pending: [String])
    /// Send the stored results of these finished originals, each under its duplicate's task id.
    case deliverStored(ConnectionID, [Duplicate])
    /// Tell the client its batch was accepted whole (`accepted` tasks, each will get one result).
    /// `duplicates` of them were resubmissions with the idempotency key of an earlier task: they
    /// get that task's result (under their own task id), and never run.
    case acknowledge(ConnectionID, requestID: UInt64, accepted: Int, duplicates: Int)
    /// Tell the client its batch was refused whole; nothing of it was accepted.
    case refuse(ConnectionID, requestID: UInt64, ErrorContext)
    /// Send these attempts to the worker (the shell cuts frames by bytes).
    case dispatch(ConnectionID, [TaskAssignment<Spec>])
    /// Send these finished tasks to the client that submitted them (the shell cuts frames by bytes).
    case deliver(ConnectionID, [TaskDelivery<Output>])
    /// Answer a worker's request to start child tasks: accepted (their count) or refused whole.
    case spawnReply(ConnectionID, requestID: UInt64, accepted: Int, ErrorContext?)
    /// Send finished children to the worker running their parent's attempt (not persisted: children
    /// live in their parent's attempt).
    case deliverToParent(ConnectionID, [ChildResult<Output>])
    /// Tell a worker to stop these attempts (cancel their handlers); they report as usual.
    case cancelAttempts(ConnectionID, [(task: TaskNumber, attempt: UInt32)])
    /// Answer a cancel request: which tasks were cancelled, which were not queued or running.
    case cancelReply(ConnectionID, requestID: UInt64, cancelled: [String], notRunning: [String])
    /// Confirm a worker's registration.
    case confirmRegistration(ConnectionID, worker: String, heartbeatInterval: Duration, participantStore: KnownParticipantStore?)
    /// Answer a heartbeat with a heartbeat (keeps the other end's idle timer quiet).
    case answerHeartbeat(ConnectionID)
    /// A worker goes on with a new participant store (it accepted that the old one is lost): what
    /// waits for the old store's acknowledgements stops waiting.
    case participantStoreReplaced(worker: String)
    /// Send the cluster's status.
    case sendStatus(ConnectionID, CoordinatorStatus)
    /// Answer a breaker command.
    case sendBreakers(ConnectionID, [WorkerBreakerStatus], ErrorContext?)
    /// Answer a drain request.
    case sendDrainReply(ConnectionID, ErrorContext?)
    /// Ask a worker to drain and stop.
    case requestDrain(ConnectionID, requestedBy: String)
    /// Send an Error frame with this context, then close.
    case close(ConnectionID, ErrorContext)
    /// Whether the connection's idle timeout is suspended (true while the peer waits for work).
    case holdIdleTimeout(ConnectionID, Bool)
    /// Call ``CoordinatorMachine/wakeUp(now:)`` at this time (replaces a later wake-up).
    case scheduleWakeUp(at: Duration)
    /// Write a log line.
    case log(CoordinatorLogEntry)
}

/// A change to the durable record of tasks.
public enum TaskChange<Spec: Sendable, Output: Sendable>: Sendable {
    /// A task was accepted.
    case accepted(TaskKey, Spec)
    /// A task was handed to a worker as this attempt.
    case dispatched(TaskKey, attempt: UInt32)
    /// An attempt of a task ended without finishing it and the task runs again: it failed for a
    /// system reason and waits out its backoff, or it ended without a result (its worker was lost,
    /// `losses` counts those so far; its draining worker handed it back; the coordinator restarted
    /// meanwhile) and waits in the queue. `history` is every such attempt so far, oldest first:
    /// what its result will say, kept across a coordinator restart.
    case attemptFailed(TaskKey, losses: UInt32, history: [FailedAttempt<Output>])
    /// A client cancelled the running task (after a restart it is finished, not run again).
    case cancelRequested(TaskKey)
    /// A task finished: this is what its client gets.
    case finished(TaskKey, TaskDelivery<Output>)
    /// A task that lost too many workers (it finished too) goes to the dead-letter queue.
    case deadLettered(TaskKey, Spec, ErrorContext, attempts: UInt32)
    /// A resubmission with an idempotency key was accepted as standing for `original` (a task id
    /// of the same client): asked for by its own id, it answers with that task.
    case aliased(TaskKey, original: String)
    /// A worker name's newest incarnation rose (the fence against its older processes, across restarts).
    case workerIncarnation(name: String, UInt64)
    /// The participant store a worker uses (its id, and the writes it made durable) changed, or is the first.
    case workerParticipantStore(name: String, KnownParticipantStore)
    /// A worker went on with another participant store than `previous` (it was started with
    /// `--accept-new-store`): the loss of what `previous` held was accepted (the shell records when).
    case participantStoreLossAccepted(name: String, previous: KnownParticipantStore, new: KnownParticipantStore)
}

/// A task read back from the durable record when the coordinator starts.
public struct RestoredTask<Spec: Sendable, Output: Sendable>: Sendable {
    public var key: TaskKey
    public var task: SubmittedTask<Spec>
    /// The last attempt it was handed to a worker as (0: never).
    public var attempt: UInt32
    public var losses: UInt32
    /// A client cancelled it while it ran (before the restart).
    public var cancelRequested: Bool
    /// Its failed attempts so far, oldest first (``TaskChange/attemptFailed(_:losses:history:)``).
    public var history: [FailedAttempt<Output>]

    public init(
        key: TaskKey, task: SubmittedTask<Spec>, attempt: UInt32, losses: UInt32, cancelRequested: Bool = false,
        history: [FailedAttempt<Output>] = []
    ) {
        self.cancelRequested = cancelRequested
        self.key = key
        self.task = task
        self.attempt = attempt
        self.losses = losses
        self.history = history
    }
}

/// One attempt of one task handed to one worker.
public struct TaskAssignment<Spec: Sendable>: Sendable {
    public let task: TaskNumber
    public let attempt: UInt32
    public let spec: Spec
    /// For a child task: its full id (`<parent id>/<attempt>/<name>`), which the spec (sent with its
    /// name only) does not carry; the shell puts it in the dispatched spec so every node logs it.
    public var childID: String? = nil
    /// When this coordinator process accepted the task (machine time; nil: read back from the
    /// ledger at start): the first attempt's dispatch latency.
    public var acceptedAt: Duration? = nil
}

/// One finished task on its way to the client that submitted it.
public struct TaskDelivery<Output: Sendable>: Sendable {
    /// The client's own task id.
    public var taskID: String
    /// Set when `taskID` was a resubmission with the idempotency key of this task: the result is its.
    public var original: String?
    public let attempt: UInt32
    /// The worker that ran the final attempt (nil when the task never ran).
    public let worker: String?
    public let outcome: Outcome
    /// Earlier attempts that failed for a system reason and were retried, or lost their worker, oldest first.
    public var history: [FailedAttempt<Output>] = []
    /// The worker reported a failure (the output describes it).
    public var reportedFailure = false
    /// When the coordinator accepted the task (machine time; set when it finishes): its latency.
    public var acceptedAt: Duration?
    /// The finished task's key (set when it finishes, with its `finished` change): the shell
    /// serializes the result once for the ledger and sends the client those bytes.
    public var key: TaskKey?
    /// The task's trace id (set when it finishes), for an error the shell makes about delivering it.
    public var traceID: String?

    /// Whether the task ended failed.
    public var failed: Bool {
        if case .failure = outcome { return true }
        return reportedFailure
    }

    public init(taskID: String, attempt: UInt32, worker: String?, outcome: Outcome, history: [FailedAttempt<Output>] = []) {
        self.taskID = taskID
        self.attempt = attempt
        self.worker = worker
        self.outcome = outcome
        self.history = history
    }

    /// How the task ended.
    public enum Outcome: Sendable {
        /// As the worker reported it.
        case reported(Output)
        /// A failure decided by the coordinator (deadline passed in the queue, workers lost, ...).
        case failure(ErrorContext)
    }
}

/// An attempt that failed and was run again: where it ran and what it reported (a system failure
/// that was retried), or why the coordinator gave up on it (its worker was lost).
public struct FailedAttempt<Output: Sendable>: Sendable {
    public let attempt: UInt32
    public let worker: String
    public let outcome: TaskDelivery<Output>.Outcome

    public init(attempt: UInt32, worker: String, outcome: TaskDelivery<Output>.Outcome) {
        self.attempt = attempt
        self.worker = worker
        self.outcome = outcome
    }

    /// Whether the worker reported this failure (a retry), rather than being lost with the attempt.
    public var wasReported: Bool {
        if case .reported = outcome { return true }
        return false
    }
}

/// A log line the machine asks for (the machine itself has no logger).
public struct CoordinatorLogEntry: Sendable, Hashable {
    /// How important the line is (mapped to swift-log's levels by the shell).
    public enum Level: Sendable, Hashable {
        case debug, info, notice, warning, error
    }

    public let level: Level
    public let message: String
    public let metadata: [String: String]

    public init(_ level: Level, _ message: String, _ metadata: [String: String] = [:]) {
        self.level = level
        self.message = message
        self.metadata = metadata
    }
}

/// The coordinator's view of the cluster, for `phalanx status`.
public struct CoordinatorStatus: Sendable, Hashable {
    /// One registered worker as the status shows it.
    public struct Worker: Sendable, Hashable {
        public let name: String
        /// Tasks it runs at once.
        public let capacity: Int
        /// Tasks it holds beyond `capacity`: `inFlight` may reach `capacity + prefetch`.
        public let prefetch: Int
        public let inFlight: Int
        public let kinds: [String]
        public let finished: Int
        public let breaker: String
        public let draining: Bool
        /// The largest task payload the coordinator sends it: what its frames carry, within the
        /// coordinator's own limit (0: not known).
        public var maximumPayloadBytes = 0
    }

    public let workers: [Worker]
    public let accepted: UInt64
    public let succeeded: UInt64
    public let failed: UInt64
    public let expired: UInt64
    public let queued: Int
    public let running: Int
    public let heldBytes: Int
    public let clients: Int
    /// Unfinished tasks read back from the ledger when this coordinator started.
    public let recovered: Int
    public var queuedByPriority = PriorityCounts()
    /// Waiting out a retry backoff.
    public var retrying = 0
    public var retried: UInt64 = 0
    public var deadLettered: UInt64 = 0
    /// Failed tasks by code and class.
    public var failures: [FailureKind: UInt64] = [:]
}

/// One worker's breaker, for `phalanx breaker list`.
public struct WorkerBreakerStatus: Sendable, Hashable {
    public let worker: String
    /// closed, open, half_open or forced_open.
    public let state: String
}

/// A submitted task whose idempotency key an earlier task of the same client has: it is not run;
/// it gets the result of `original` (that task's id), which runs at most once.
public struct Duplicate: Sendable, Hashable {
    public let taskID: String
    public let original: String

    public init(taskID: String, original: String) {
        self.taskID = taskID
        self.original = original
    }
}

/// A finished child task, for the attempt of its parent that started it.
public struct ChildResult<Output: Sendable>: Sendable {
    /// The parent's task number (its dispatch id on the worker) and attempt.
    public let parent: TaskNumber
    public let parentAttempt: UInt32
    /// The child's name within that attempt.
    public let name: String
    public let delivery: TaskDelivery<Output>

    public init(parent: TaskNumber, parentAttempt: UInt32, name: String, delivery: TaskDelivery<Output>) {
        self.parent = parent
        self.parentAttempt = parentAttempt
        self.name = name
        self.delivery = delivery
    }
}

/// The participant store a worker last reported: its id, and how many changes it had made durable
/// (a lower bound of what that store holds; a copy of it from before holds fewer).
public struct KnownParticipantStore: Sendable, Hashable {
    public var id: String
    public var writes: Int64

    public init(id: String, writes: Int64) {
        self.id = id
        self.writes = writes
    }
}
