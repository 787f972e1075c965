import PhalanxResilience

/// One step of a saga: a transaction that commits on its own, and the transaction that undoes it
/// (run if a later step fails for good).
public struct SagaStep: Sendable, Hashable, Codable {
    public var forward: [ParticipantOperations]
    /// Empty: nothing to undo (typically the last step).
    public var compensation: [ParticipantOperations]

    public init(forward: [ParticipantOperations], compensation: [ParticipantOperations] = []) {
        self.forward = forward
        self.compensation = compensation
    }
}

/// A saga as its first log record holds it.
public struct SagaBegin: Sendable, Hashable, Codable {
    public var id: String
    public var client: String
    public var steps: [SagaStep]
    public var begunUnixMilliseconds: Int64

    public init(id: String, client: String, steps: [SagaStep], begunUnixMilliseconds: Int64) {
        self.id = id
        self.client = client
        self.steps = steps
        self.begunUnixMilliseconds = begunUnixMilliseconds
    }
}

/// A record of the compensation log, appended in order and made durable through the group commit.
/// Before step k + 1 starts, step k's `stepCommitted` is durable: its compensation is owed.
public enum SagaEvent: Sendable, Hashable, Codable {
    case begun(SagaBegin)
    /// Attempt `attempt` of step `step` runs as transaction `transaction`.
    case stepStarted(step: Int, attempt: Int, transaction: String)
    case stepCommitted(step: Int, transaction: String)
    /// Step `step` failed for good: the committed steps before it are compensated, last first.
    case failed(step: Int, reason: ErrorContext)
    case compensationStarted(step: Int, attempt: Int, transaction: String)
    /// Attempt `attempt` of step `step` (or of its compensation) aborted for `reason` and is retried.
    case attemptFailed(step: Int, attempt: Int, compensation: Bool, reason: ErrorContext)
    /// Step `step`'s compensation committed in `transaction`.
    case compensated(step: Int, transaction: String)
    /// Every step committed (`completed`), or every committed step was compensated.
    case finished(completed: Bool)
}

/// One appended record, with the saga it belongs to and when.
public struct SagaLogRecord: Sendable, Hashable, Codable {
    public var saga: String
    public var event: SagaEvent
    public var unixMilliseconds: Int64

    public init(saga: String, event: SagaEvent, unixMilliseconds: Int64) {
        self.saga = saga
        self.event = event
        self.unixMilliseconds = unixMilliseconds
    }
}

/// A saga's whole history (its records in order), as recovery, `tx show` and the audit read it.
public struct SagaHistory: Sendable, Hashable, Codable {
    public var records: [SagaLogRecord]

    public init(records: [SagaLogRecord]) {
        self.records = records
    }

    public var begin: SagaBegin? {
        for record in records { if case .begun(let begin) = record.event { return begin } }
        return nil
    }

    public var id: String { records.first?.saga ?? "" }

    /// nil while running; true when every step committed, false when it was compensated.
    public var completed: Bool? {
        for record in records.reversed() { if case .finished(let completed) = record.event { return completed } }
        return nil
    }

    public var committedSteps: [Int: String] {
        var steps: [Int: String] = [:]
        for record in records { if case .stepCommitted(let step, let transaction) = record.event { steps[step] = transaction } }
        return steps
    }

    /// The last compensation attempt that aborted, and why (a saga whose compensation keeps
    /// failing says why in `tx show` and the audit).
    public var lastFailedCompensation: (step: Int, attempt: Int, reason: ErrorContext)? {
        for record in records.reversed() {
            if case .attemptFailed(let step, let attempt, true, let reason) = record.event { return (step, attempt, reason) }
        }
        return nil
    }

    public var compensatedSteps: [Int: String] {
        var steps: [Int: String] = [:]
        for record in records { if case .compensated(let step, let transaction) = record.event { steps[step] = transaction } }
        return steps
    }

    public var failure: (step: Int, reason: ErrorContext, unixMilliseconds: Int64)? {
        for record in records { if case .failed(let step, let reason) = record.event { return (step, reason, record.unixMilliseconds) } }
        return nil
    }
}

/// A saga's outcome as its client gets it.
public struct SagaOutcome: Sendable, Hashable {
    public var id: String
    public var completed: Bool
    /// The step that failed for good, and why (nil when completed).
    public var failedStep: Int?
    public var reason: ErrorContext?
    /// Steps whose compensation ran, last first.
    public var compensated: [Int]
    /// Set when the saga has not finished: the compensation of this step is refused for a reason
    /// retrying alone does not change (e.g. a bound), and `blockedReason` says which. The
    /// coordinator goes on retrying it (what refuses it may be put right); the client is told now
    /// instead of waiting without a word.
    public var blockedStep: Int?
    public var blockedReason: ErrorContext?

    public init(
        id: String, completed: Bool, failedStep: Int? = nil, reason: ErrorContext? = nil, compensated: [Int] = [], blockedStep: Int? = nil,
        blockedReason: ErrorContext? = nil
    ) {
        self.id = id
        self.completed = completed
        self.failedStep = failedStep
        self.reason = reason
        self.compensated = compensated
        self.blockedStep = blockedStep
        self.blockedReason = blockedReason
    }

    /// Refused before any step ran (a bad or reused id, bad steps, too large): nothing changed.
    public var wasRefused: Bool { !completed && failedStep == nil && blockedStep == nil }
}
