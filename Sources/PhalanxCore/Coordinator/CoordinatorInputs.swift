import PhalanxResilience

/// One task of a submitted batch, as the coordinator machine needs to see it. `spec` is the
/// shell's own description of the task (the wire message); the machine hands it back untouched.
public struct SubmittedTask<Spec: Sendable>: Sendable {
    public var taskID: String
    public var kind: String
    public var payloadBytes: Int
    /// When the task must have finished (elapsed time on the machine's clock), if ever.
    public var deadline: Duration?
    /// The task's W3C trace id and span id as sent (empty when the client sent none).
    public var traceID: String
    public var spanID: String
    public var spec: Spec
    /// Attempts for system failures, the first included; nil for the kind's default.
    public var maxAttempts: Int?
    public var priority: TaskPriority = .normal
    /// A resubmission with the same key (same client) returns the task that has it instead of running again.
    public var idempotencyKey: String?
    /// What the task asks for (``RequestFingerprint``: its kind and payload), compared when its
    /// idempotency key is reused: a key stands for one request. Nil: not compared.
    public var fingerprint: UInt64?

    public init(
        taskID: String, kind: String, payloadBytes: Int, deadline: Duration?, traceID: String, spanID: String, spec: Spec, maxAttempts: Int? = nil
    ) {
        self.maxAttempts = maxAttempts
        self.taskID = taskID
        self.kind = kind
        self.payloadBytes = payloadBytes
        self.deadline = deadline
        self.traceID = traceID
        self.spanID = spanID
        self.spec = spec
    }
}

/// One result a worker reported: which attempt of which task, how it ended, and the shell's own
/// description of it (`output`, forwarded to the client untouched when the result is accepted).
public struct ReportedResult<Output: Sendable>: Sendable {
    public var task: TaskNumber
    public var attempt: UInt32
    /// The failure's code and class, nil when the task succeeded.
    public var failure: (code: ErrorCode, failureClass: FailureClass)?
    public var output: Output
    /// The attempt ended before its handler started (it waited for a slot on the worker): its
    /// failure is not the worker's, and the worker's circuit breaker does not count it.
    public var neverStarted: Bool

    public init(task: TaskNumber, attempt: UInt32, failure: (code: ErrorCode, failureClass: FailureClass)?, output: Output, neverStarted: Bool = false) {
        self.task = task
        self.attempt = attempt
        self.failure = failure
        self.output = output
        self.neverStarted = neverStarted
    }
}

/// What a worker says about itself when it registers.
public struct WorkerRegistration: Sendable, Hashable {
    public var capacity: Int
    public var kinds: Set<String>
    /// Grows with every start of the worker process and stays the same across its reconnects
    /// (0: a worker that does not say; it is judged by its connection alone).
    public var incarnation: UInt64
    /// Tasks it holds beyond `capacity`, waiting for a free slot: it is sent up to `capacity + prefetch`.
    public var prefetch: Int
    /// Payload bytes of the tasks dispatched to it at most (0: no bound); with nothing in flight it
    /// always gets a task, so a bound is passed by at most one task's payload.
    public var maximumInFlightBytes: Int
    /// The largest task payload its frames can carry (0: no bound beyond the coordinator's own);
    /// a larger task goes to another worker of its kind (``TaskLimits/maximumPayloadBytes(forFrameBytes:)``).
    public var maximumPayloadBytes: Int

    public init(
        capacity: Int, kinds: Set<String>, incarnation: UInt64 = 0, prefetch: Int = 0, maximumInFlightBytes: Int = 0,
        maximumPayloadBytes: Int = 0
    ) {
        self.capacity = capacity
        self.kinds = kinds
        self.incarnation = incarnation
        self.prefetch = prefetch
        self.maximumInFlightBytes = maximumInFlightBytes
        self.maximumPayloadBytes = maximumPayloadBytes
    }

    /// Tasks that may be dispatched to it at once.
    public var window: Int { capacity + prefetch }
}

/// An admin's command for the per-worker circuit breakers.
public enum BreakerCommand: Sendable, Hashable {
    case list
    /// Stop dispatching to the worker until an admin closes its breaker again.
    case forceOpen(worker: String)
    /// Close the worker's breaker with a fresh window (also ends a forced open).
    case close(worker: String)
}
