import Dispatch
import Foundation
import PhalanxCore
import PhalanxWire
import Synchronization

/// The coordinator's durable record of tasks: what was accepted, how far each got, and how it
/// finished. A task is written before its submit is acknowledged and its result before it is
/// delivered, so nothing a client was told is lost by a crash.
///
/// The ledger stores the shell's own encodings of a task (`spec`) and of its result (`result`) as
/// opaque bytes. SQLite (``SQLiteTaskLedger``) is the embedded default; the interface is small so
/// that a PostgreSQL ledger for a standby coordinator can implement it too.
public protocol TaskLedger: Sendable {
    /// Makes `changes` durable, in order, in one transaction: when this returns, they survive a
    /// crash of the process and of the machine.
    func apply(_ changes: [LedgerChange]) async throws(LedgerError)
    /// ``apply(_:)`` for the group commit's own thread: returns when the changes are durable.
    /// Call it from a thread of your own, never from one of Swift's concurrency pool.
    func applyBlocking(_ changes: [LedgerChange]) throws(LedgerError)
    /// The group commit's write: ``applyBlocking(_:)``, except that the ledger may hold back the
    /// records that only say a task was dispatched until the next call, to write them with the
    /// task's next change (its result, mostly) in one row write. A call without changes writes
    /// what is held back (the group commit makes one when its queue has stayed empty for its `idleDelay`).
    func applyCoalescing(_ changes: [LedgerChange]) throws(LedgerError)
    /// Every accepted task without a result, oldest first (recovery after a restart).
    func unfinishedTasks() async throws(LedgerError) -> [StoredTask]
    /// The tasks among `keys` that the ledger knows (finished or not).
    func tasks(_ keys: [TaskKey]) async throws(LedgerError) -> [TaskKey: StoredTask]
    /// Deletes finished tasks that finished before `unixMilliseconds` (and transactions that ended,
    /// sagas that finished, before it); returns how many tasks.
    func pruneFinished(before unixMilliseconds: Int64) async throws(LedgerError) -> Int
    /// Counts one more start of the coordinator and returns the new count (1 on a new ledger).
    func beginIncarnation() async throws(LedgerError) -> UInt64
    func finishedIdempotencyKeys(since unixMilliseconds: Int64, limit: Int) async throws(LedgerError) -> [FinishedIdempotencyKey]
    /// Resubmissions (by their own key) that stand for unfinished tasks, with the original's task id.
    func aliasesOfUnfinishedTasks() async throws(LedgerError) -> [(alias: TaskKey, original: String)]
    /// The newest registered incarnation of every worker name.
    func workerIncarnations() async throws(LedgerError) -> [String: UInt64]
    /// The participant store (its id) each worker last reported using.
    func workerParticipantStores() async throws(LedgerError) -> [String: KnownParticipantStore]
    /// Every accepted loss of a participant store, oldest first (the audit reads them).
    func acceptedStoreLosses() async throws(LedgerError) -> [AcceptedStoreLoss]
    /// The dead-letter queue: tasks that lost too many workers, oldest first (at most `limit`).
    func deadLetters(limit: Int) async throws(LedgerError) -> [DeadLetter]
    /// How many tasks the dead-letter queue holds.
    func deadLetterCount() async throws(LedgerError) -> Int
    /// Removes these entries from the dead-letter queue (all of them when `keys` is nil); returns
    /// the entries removed.
    func removeDeadLetters(_ keys: [TaskKey]?) async throws(LedgerError) -> [DeadLetter]

    // MARK: The decision log of transactions (written through `apply` as `.transaction` changes)

    /// Transactions without END (recovery after a restart), oldest first.
    func unendedTransactions() async throws(LedgerError) -> [TransactionLogEntry]
    /// One transaction's entry, nil if the log does not have it.
    func transaction(_ id: String) async throws(LedgerError) -> TransactionLogEntry?
    /// Every transaction the log holds (the audit reads them all).
    func transactionLog() async throws(LedgerError) -> [TransactionLogEntry]
    /// The records of sagas that have not finished, by saga, in order (recovery after a restart).
    func unfinishedSagas() async throws(LedgerError) -> [SagaHistory]
    /// One saga's records, nil if the compensation log does not have it.
    func saga(_ id: String) async throws(LedgerError) -> SagaHistory?
    /// Every saga the compensation log holds (the audit reads them all).
    func sagaLog() async throws(LedgerError) -> [SagaHistory]
    /// The task ledger's own consistency: every finished task has exactly one readable terminal
    /// result (`isTerminalResult` reads one), and nothing unfinished sits in the dead-letter queue.
    func auditTasks(isTerminalResult: @escaping @Sendable ([UInt8]) -> Bool) async throws(LedgerError) -> TaskLedgerAudit
}

/// What the task ledger's audit counted and found.
public struct TaskLedgerAudit: Sendable, Hashable, Codable {
    public var accepted: Int
    public var finished: Int
    public var findings: [AuditViolation]

    public init(accepted: Int, finished: Int, findings: [AuditViolation]) {
        self.accepted = accepted
        self.finished = finished
        self.findings = findings
    }
}

extension TaskLedger {
    /// Holds nothing back.
    public func applyCoalescing(_ changes: [LedgerChange]) throws(LedgerError) {
        if !changes.isEmpty { try applyBlocking(changes) }
    }

    /// For a ledger whose writes are asynchronous (a network database): waits for ``apply(_:)``
    /// on the calling thread, which must not be one of Swift's concurrency pool.
    public func applyBlocking(_ changes: [LedgerChange]) throws(LedgerError) {
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<LedgerError?>(nil)
        Task {
            do throws(LedgerError) {
                try await apply(changes)
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }
        done.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

/// The idempotency key of a finished task, as recovery reads it back (newest first).
public struct FinishedIdempotencyKey: Sendable, Hashable {
    public var task: TaskKey
    public var key: String
    public var finishedUnixMilliseconds: Int64
    /// What the task asked for (nil: accepted before fingerprints were kept).
    public var requestFingerprint: UInt64?

    public init(task: TaskKey, key: String, finishedUnixMilliseconds: Int64, requestFingerprint: UInt64? = nil) {
        self.task = task
        self.key = key
        self.finishedUnixMilliseconds = finishedUnixMilliseconds
        self.requestFingerprint = requestFingerprint
    }
}

/// A task in the dead-letter queue: what it was, why it is there, when it got there.
public struct DeadLetter: Sendable, Hashable {
    public var key: TaskKey
    public var spec: [UInt8]
    /// The error code and message it finished with.
    public var code: String
    public var reason: String
    public var attempts: UInt32
    public var deadUnixMilliseconds: Int64

    public init(key: TaskKey, spec: [UInt8], code: String, reason: String, attempts: UInt32, deadUnixMilliseconds: Int64) {
        self.key = key
        self.spec = spec
        self.code = code
        self.reason = reason
        self.attempts = attempts
        self.deadUnixMilliseconds = deadUnixMilliseconds
    }
}

/// One change to the ledger.
public enum LedgerChange: Sendable, Hashable {
    /// A task was accepted (a finished task with the same key is replaced).
    /// `requestFingerprint`: what a keyed task asked for, kept with its key (a reuse of the key
    /// with another request is refused, also after a restart).
    case accepted(TaskKey, spec: [UInt8], acceptedUnixMilliseconds: Int64, idempotencyKey: String? = nil, requestFingerprint: UInt64? = nil)
    /// The task was handed to a worker as `attempt`.
    case dispatched(TaskKey, attempt: UInt32)
    /// An attempt of the task ended without finishing it and the task runs again (it failed and
    /// waits out a retry's backoff, lost its worker for the `losses`-th time, was handed back, or
    /// was cut short by a restart); `history` is the shell's encoding of those attempts so far,
    /// which a restart restores.
    case attemptFailed(TaskKey, losses: UInt32, history: [UInt8])
    /// The task finished; `result` is what its client gets.
    case finished(TaskKey, result: [UInt8], finishedUnixMilliseconds: Int64)
    /// A client cancelled the running task: after a restart it finishes CANCELLED instead of running again.
    case cancelRequested(TaskKey)
    /// The task (finished as well) goes to the dead-letter queue.
    case deadLettered(DeadLetter)
    /// The task leaves the dead-letter queue (it was accepted again).
    case deadLetterRemoved(TaskKey)
    /// A submitted task with the idempotency key of `original` (same client): it stands for that task.
    case aliased(TaskKey, original: String, acceptedUnixMilliseconds: Int64)
    /// The newest incarnation of a worker name that registered (a fence across restarts).
    case workerIncarnation(name: String, incarnation: UInt64)
    /// The participant store a worker uses (its id), recorded to tell it from a store made anew.
    case workerParticipantStore(name: String, store: KnownParticipantStore)
    /// A worker went on with another participant store, accepting the loss of the previous one.
    case participantStoreLossAccepted(AcceptedStoreLoss)
    /// A record of the transactions' decision log (BEGIN, COMMIT/ABORT, END). A BEGIN may come
    /// with its stored form made in advance (``encodedTransaction(_:)``), so the serial write does not encode it.
    case transaction(TransactionLogChange, beginRecord: Data? = nil)
    /// A record appended to the compensation log of sagas.
    case saga(SagaLogRecord)
}

extension LedgerChange {
    /// Roughly the bytes this change writes.
    public var approximateBytes: Int {
        switch self {
        case .accepted(let key, let spec, _, _, _): spec.count + key.client.utf8.count + key.taskID.utf8.count + 32
        case .finished(let key, let result, _): result.count + key.client.utf8.count + key.taskID.utf8.count + 16
        case .dispatched(let key, _), .cancelRequested(let key): key.client.utf8.count + key.taskID.utf8.count + 16
        case .attemptFailed(let key, _, let history): history.count + key.client.utf8.count + key.taskID.utf8.count + 16
        case .deadLettered(let entry): entry.spec.count + entry.reason.utf8.count + entry.key.taskID.utf8.count + 64
        case .deadLetterRemoved(let key): key.client.utf8.count + key.taskID.utf8.count + 16
        case .aliased(let key, let original, _): key.client.utf8.count + key.taskID.utf8.count + original.utf8.count + 16
        case .workerIncarnation(let name, _): name.utf8.count + 16
        case .workerParticipantStore(let name, let store): name.utf8.count + store.id.utf8.count + 24
        case .participantStoreLossAccepted(let loss): loss.worker.utf8.count + loss.previousStore.utf8.count + loss.newStore.utf8.count + 32
        case .saga(let record):
            switch record.event {
            case .begun(let begin): begin.steps.reduce(64) { $0 + ($1.forward.count + $1.compensation.count) * 48 }
            default: record.saga.utf8.count + 96
            }
        case .transaction(let change, _):
            switch change {
            case .begun(let begin): begin.participants.reduce(64) { $0 + $1.participant.utf8.count + $1.operations.count * 48 }
            case .decided(let id, _, let reason, _): id.utf8.count + (reason?.message.utf8.count ?? 0) + 48
            case .ended(let id, _): id.utf8.count + 16
            }
        }
    }
}

extension LedgerChange {
    /// `change` with a BEGIN's stored form made now, by the caller, instead of in the serial write.
    public static func encodedTransaction(_ change: TransactionLogChange) -> LedgerChange {
        guard case .begun(let begin) = change else { return .transaction(change) }
        return .transaction(change, beginRecord: StoredRecords.encode(begin))
    }
}

/// A task as the ledger keeps it.
public struct StoredTask: Sendable, Hashable {
    public var key: TaskKey
    public var spec: [UInt8]
    public var attempt: UInt32
    public var losses: UInt32
    /// A client cancelled it while it ran.
    public var cancelRequested = false
    public var acceptedUnixMilliseconds: Int64
    /// When it finished, nil while unfinished.
    public var finishedUnixMilliseconds: Int64?
    /// Its result, once finished.
    public var result: [UInt8]?
    /// Set when the key looked up was a resubmission standing for this task (its task id).
    public var original: String?
    /// Its failed attempts while unfinished (``LedgerChange/attemptFailed(_:losses:history:)``), nil if none.
    public var history: [UInt8]?

    public init(
        key: TaskKey, spec: [UInt8], attempt: UInt32 = 0, losses: UInt32 = 0, acceptedUnixMilliseconds: Int64,
        finishedUnixMilliseconds: Int64? = nil, result: [UInt8]? = nil
    ) {
        self.key = key
        self.spec = spec
        self.attempt = attempt
        self.losses = losses
        self.acceptedUnixMilliseconds = acceptedUnixMilliseconds
        self.finishedUnixMilliseconds = finishedUnixMilliseconds
        self.result = result
    }

    public var isFinished: Bool { finishedUnixMilliseconds != nil }
}

/// The ledger could not be opened, read or written; the message names the file and the cause.
public struct LedgerError: Error, CustomStringConvertible, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
