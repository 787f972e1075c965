import Foundation
import PhalanxResilience

/// One task to submit: an id unique for this client, a kind, a payload, optionally a timeout.
public struct TaskRequest: Sendable, Hashable {
    public var taskID: String
    public var kind: String
    public var payload: [UInt8]
    /// The task must finish within this time from submission (nil: no deadline).
    public var timeout: Duration?
    /// Attempts when it fails for a system reason, the first included (nil: the coordinator's
    /// default for its kind; 1: never retried).
    public var maxAttempts: Int?
    /// Dispatch order among queued tasks of one kind (weighted: low is slower, never starved).
    public var priority: Priority = .normal
    /// A task with the key of an earlier task of this client certificate (unfinished, or finished
    /// within the coordinator's window) is not run: its outcome is that task's (``TaskOutcome/original``).
    public var idempotencyKey: String?

    /// How urgent a task is.
    public enum Priority: String, Sendable, Hashable, CaseIterable {
        case high, normal, low
    }

    public init(
        taskID: String, kind: String, payload: [UInt8], timeout: Duration? = nil, maxAttempts: Int? = nil, priority: Priority = .normal
    ) {
        self.maxAttempts = maxAttempts
        self.priority = priority
        self.taskID = taskID
        self.kind = kind
        self.payload = payload
        self.timeout = timeout
    }

    public init(
        taskID: String, kind: String, text: String, timeout: Duration? = nil, maxAttempts: Int? = nil, priority: Priority = .normal
    ) {
        self.init(taskID: taskID, kind: kind, payload: Array(text.utf8), timeout: timeout, maxAttempts: maxAttempts, priority: priority)
    }
}

/// How a task ended: its output, or its failure with full context (code, class, origin node, trace).
public struct TaskOutcome: Sendable {
    public let taskID: String
    public let worker: String?
    public let attempt: UInt32
    public let result: Result<[UInt8], ErrorContext>
    /// Earlier attempts, oldest first: each that failed for a system reason and was retried, and each
    /// whose worker was lost while it ran (`WORKER_LOST`), after which the task ran again.
    public var history: [FailedAttempt] = []
    /// Set when this task was a resubmission with an earlier task's idempotency key: the id of
    /// that task, whose outcome this is (it ran once).
    public var original: String?

    public init(taskID: String, worker: String?, attempt: UInt32, result: Result<[UInt8], ErrorContext>, history: [FailedAttempt] = []) {
        self.taskID = taskID
        self.worker = worker
        self.attempt = attempt
        self.result = result
        self.history = history
    }

    /// One earlier attempt: where it ran and how it failed.
    public struct FailedAttempt: Sendable {
        public let attempt: UInt32
        public let worker: String
        public let error: ErrorContext
        /// The attempt ended without a result from its worker (the coordinator made `error`): the
        /// worker was lost, handed it back while draining, or the coordinator restarted meanwhile
        /// (then `worker` is empty). Otherwise the worker reported it failed.
        public var lost = false

        public init(attempt: UInt32, worker: String, error: ErrorContext, lost: Bool = false) {
            self.attempt = attempt
            self.worker = worker
            self.error = error
            self.lost = lost
        }
    }

    /// The output as UTF-8 text, if the task succeeded.
    public var outputText: String? {
        if case .success(let bytes) = result { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }
}

/// What the coordinator reports about the cluster.
public struct ClusterStatus: Sendable, Codable {
    /// One registered worker as the coordinator sees it.
    public struct Worker: Sendable, Codable {
        public let name: String
        /// Tasks it runs at once.
        public let capacity: UInt32
        /// Tasks it holds beyond `capacity`: `inFlight` may reach `capacity + prefetch`.
        public let prefetch: UInt32
        public let inFlight: UInt32
        public let kinds: [String]
        public let finished: UInt64
        /// closed, open, half_open or forced_open.
        public let breaker: String
        public let draining: Bool
        /// Kinds left out of `kinds` so the status fit this client's frame limit.
        public var kindsOmitted: UInt32 = 0
        /// Why its participant store is not available (it votes NO on every transaction); nil: it is.
        public var participantProblem: String? = nil
        /// The largest task payload the coordinator sends it (its frames, within the coordinator's
        /// limit); nil: not known (a coordinator of an earlier version).
        public var maximumPayloadBytes: UInt64? = nil

        /// Whether the coordinator can send it a task with a payload of `bytes` (unknown: assumed so).
        public func accepts(payloadBytes bytes: Int) -> Bool { maximumPayloadBytes.map { UInt64(bytes) <= $0 } ?? true }
    }

    public let coordinator: String
    public let workers: [Worker]
    public let tasksAccepted: UInt64
    public let tasksSucceeded: UInt64
    public let tasksFailed: UInt64
    public let tasksQueued: UInt64
    public let tasksRunning: UInt64
    /// Finished `DEADLINE_EXCEEDED` while still queued (never dispatched).
    public let tasksExpired: UInt64
    /// Payload bytes the coordinator holds for unfinished tasks.
    public let queuedBytes: UInt64
    /// Client and admin connections.
    public let clients: UInt32
    /// Unfinished tasks the coordinator read back from its ledger when it started.
    public let tasksRecovered: UInt64
    /// `tasksQueued` by priority.
    public var queuedHigh: UInt64 = 0
    public var queuedNormal: UInt64 = 0
    public var queuedLow: UInt64 = 0
    /// Waiting out a retry backoff.
    public var tasksRetrying: UInt64 = 0
    /// Attempts that failed for a system reason and were scheduled again.
    public var tasksRetried: UInt64 = 0
    public var tasksDeadLettered: UInt64 = 0
    /// Failed tasks by code and class since the coordinator started, most frequent first.
    public var failures: [FailureCount] = []
    /// The last failed tasks, newest first.
    public var recentFailures: [RecentFailure] = []
    /// Workers left out of `workers` so the status fit this client's frame limit.
    public var workersOmitted: UInt32 = 0
    /// The oldest recent failures left out of ``recentFailures`` so that the status fit this client's frames.
    public var recentFailuresOmitted: UInt32 = 0

    /// Failed tasks of one code and class.
    public struct FailureCount: Sendable, Codable {
        public let code: String
        public let failureClass: String
        public let count: UInt64
    }

    /// One recently failed task.
    public struct RecentFailure: Sendable, Codable {
        public let client: String
        public let taskID: String
        public let code: String
        public let message: String
        public let traceID: String
        public let worker: String?
        public let unixMilliseconds: Int64
    }
}

/// An admin's command for the coordinator's per-worker circuit breakers.
public enum BreakerAction: Sendable, Hashable {
    case list
    /// Stop dispatching to the worker until closed again.
    case open(worker: String)
    /// Close the worker's breaker with a fresh window.
    case close(worker: String)
}

/// One worker's circuit breaker as the coordinator reports it.
public struct WorkerBreaker: Sendable, Hashable, Codable {
    public let worker: String
    /// closed, open, half_open or forced_open.
    public let state: String
}

/// What the coordinator said about tasks asked for by id (``PhalanxClient/attach(_:)``).
public struct ResultLookup: Sendable, Hashable {
    /// Unfinished: attached to this connection, their outcomes will come.
    public var pending: [String]
    /// Never accepted under this client's name, or pruned after the coordinator's retention.
    public var unknown: [String]

    public init(pending: [String], unknown: [String]) {
        self.pending = pending
        self.unknown = unknown
    }
}

/// What the coordinator did with a cancel request (``PhalanxClient/cancel(_:)``).
public struct CancelOutcome: Sendable, Hashable {
    /// Were queued (finished `CANCELLED`) or running (their handlers are being cancelled).
    public var cancelled: [String]
    /// Not queued or running: finished already, or never accepted under this client's name.
    public var notRunning: [String]

    public init(cancelled: [String], notRunning: [String]) {
        self.cancelled = cancelled
        self.notRunning = notRunning
    }
}

/// What to do with the dead-letter queue (``PhalanxClient/deadLetters(_:)``).
public enum DeadLetterAction: Sendable, Hashable {
    case list
    /// Accept these tasks again, under their own client and task id.
    case retry([DeadLetterEntry.Key])
    case retryAll
    /// Forget these tasks.
    case purge([DeadLetterEntry.Key])
    case purgeAll
}

/// What a dead-letter request did (``PhalanxClient/deadLetters(_:)``).
public struct DeadLetterReport: Sendable, Hashable {
    /// The entries listed, retried or purged, as many as fit the replies.
    public var entries: [DeadLetterEntry] = []
    /// Entries the replies left out to fit this client's frames: for a list, the rest of the
    /// queue (a list shows at most 1,000, oldest first); for a retry or purge, tasks retried or
    /// purged but not named here.
    public var omitted = 0
    /// Named tasks that were not in the queue.
    public var missing: [DeadLetterEntry.Key] = []

    public init() {}
}

/// A task in the dead-letter queue: it lost `coordinator.max_attempts` workers.
public struct DeadLetterEntry: Sendable, Hashable, Codable {
    /// A task's identity: the client certificate name that submitted it and its task id.
    public struct Key: Sendable, Hashable, Codable, CustomStringConvertible {
        public var client: String
        public var taskID: String

        public init(client: String, taskID: String) {
            self.client = client
            self.taskID = taskID
        }

        /// `CLIENT/TASK_ID`, as `phalanx dlq` prints and reads it.
        public var description: String { "\(client)/\(taskID)" }

        /// Reads `CLIENT/TASK_ID` (the task id may contain further slashes).
        public init?(_ text: String) {
            guard let slash = text.firstIndex(of: "/"), slash != text.startIndex, text.index(after: slash) != text.endIndex else { return nil }
            self.init(client: String(text[..<slash]), taskID: String(text[text.index(after: slash)...]))
        }
    }

    public let key: Key
    public let kind: String
    public let code: String
    public let reason: String
    public let attempts: UInt32
    public let deadUnixMilliseconds: Int64
}

/// What ``PhalanxClient/submit(_:)`` got accepted.
public struct SubmitReceipt: Sendable, Hashable {
    /// Tasks accepted (every one will have exactly one outcome).
    public let accepted: Int
    /// Of them, resubmissions with the idempotency key of an earlier task: they do not run; each
    /// gets that task's outcome (``TaskOutcome/original``).
    public let duplicates: Int

    public init(accepted: Int, duplicates: Int) {
        self.accepted = accepted
        self.duplicates = duplicates
    }
}
