import PhalanxCore
import PhalanxResilience
import PhalanxTransport

/// Everything a coordinator needs to start; filled from `cluster.conf`, environment and flags.
public struct CoordinatorConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var tls: TLSFiles
    public var limits: ConnectionLimits
    /// Unfinished tasks held at once (`coordinator.max_queued_tasks`).
    public var maximumQueuedTasks: Int
    /// Payload bytes of unfinished tasks held at once (`coordinator.max_queued_bytes`).
    public var maximumQueuedBytes: Int
    /// How often workers send heartbeats (`coordinator.heartbeat_interval_ms`).
    public var heartbeatInterval: Duration
    /// Heartbeats a worker may miss before it is declared dead (`coordinator.heartbeat_misses`).
    public var heartbeatMisses: Int
    /// Times a task may lose its worker before it finishes `WORKER_LOST` (`coordinator.max_attempts`).
    public var maximumAttempts: UInt32
    /// Tasks per second one client identity may submit, sustained (`admission.tasks_per_second`).
    public var admissionTasksPerSecond: Int
    /// Tasks one client identity may submit at once above that rate (`admission.burst`).
    public var admissionBurst: Int
    /// The circuit breaker the coordinator keeps per worker (`[breaker]`).
    public var breaker: CircuitBreakerConfiguration
    /// A client whose send buffer stays full this long is cut off (`limits.slow_reader_timeout_ms`).
    public var slowReaderTimeout: Duration
    /// The folder of the coordinator's durable files (`coordinator.data_dir`); the task ledger is
    /// `tasks.sqlite` in it.
    public var dataDirectory: String
    /// Finished tasks are kept in the ledger this long, then pruned (`coordinator.retention_ms`).
    public var retention: Duration
    /// How long the accept of tasks that went straight to a worker may wait for their results
    /// before it is written (`coordinator.accept_linger_us`; zero: it does not wait): a short
    /// task's accept and result then share one fsync, and its acknowledgement waits as long at most.
    public var acceptLinger: Duration = .microseconds(500)

    /// Where `/metrics`, `/healthz`, `/readyz` and the status page are served (`metrics.coordinator_address`; nil: nowhere).
    public var metricsAddress: OpsAddress?
    /// Log a `span` line per submitted batch and per dispatch (`log.spans`).
    public var logsSpans = false

    /// Idempotency keys of finished tasks remembered at most (`coordinator.idempotency_keys`).
    public var maximumIdempotencyKeys = 100_000

    /// Bytes queued for the ledger before submits are no longer read until it catches up.
    public var ledgerBacklogBytes = 8 * 1024 * 1024
    /// A participant that has not voted within this aborts the transaction (`tx.vote_timeout_ms`).
    public var transactionVoteTimeout: Duration = .seconds(5)
    /// An unacknowledged decision is sent again after this long (`tx.resend_interval_ms`).
    public var transactionResendInterval: Duration = .seconds(1)

    /// The transaction machine's settings.
    public var transactionSettings: TransactionMachine.Settings {
        TransactionMachine.Settings(voteTimeout: transactionVoteTimeout, resendInterval: transactionResendInterval)
    }

    /// Retries of system failures (`[retry]`): attempts (the first included) and backoff.
    public var retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(200), maxBackoff: .seconds(10), jitter: .full)
    /// Attempts per task kind where they differ from `retry.maxAttempts` (`[retries]`).
    public var retryAttemptsPerKind: [String: Int] = [:]
    /// The retry budget per task kind (`retry.budget_*`).
    public var retryBudget = RetryBudgetSettings()

    /// How long the key of a finished task is remembered: the retention, less a margin (a minute,
    /// or a tenth of a short retention), so that its result is still in the ledger whenever a
    /// resubmission asks for it.
    public var idempotencyWindow: Duration { retention - min(.seconds(60), retention / 10) }

    /// The task ledger's file.
    public var ledgerPath: String { "\(dataDirectory)/tasks.sqlite" }

    public init(
        host: String, port: Int, tls: TLSFiles, limits: ConnectionLimits = ConnectionLimits(),
        maximumQueuedTasks: Int = 1_000_000, maximumQueuedBytes: Int = 256 * 1024 * 1024,
        heartbeatInterval: Duration = .seconds(1), heartbeatMisses: Int = 5, maximumAttempts: UInt32 = 3,
        admissionTasksPerSecond: Int = 200_000, admissionBurst: Int = 400_000,
        breaker: CircuitBreakerConfiguration = CoordinatorSettings.defaultBreaker, slowReaderTimeout: Duration = .seconds(10),
        dataDirectory: String = "run/coordinator", retention: Duration = .seconds(7 * 86_400)
    ) {
        self.dataDirectory = dataDirectory
        self.retention = retention
        self.host = host
        self.port = port
        self.tls = tls
        self.limits = limits
        self.maximumQueuedTasks = maximumQueuedTasks
        self.maximumQueuedBytes = maximumQueuedBytes
        self.heartbeatInterval = heartbeatInterval
        self.heartbeatMisses = heartbeatMisses
        self.maximumAttempts = maximumAttempts
        self.admissionTasksPerSecond = admissionTasksPerSecond
        self.admissionBurst = admissionBurst
        self.breaker = breaker
        self.slowReaderTimeout = slowReaderTimeout
    }

    /// The coordinator machine's settings for a coordinator named `nodeName`.
    public func machineSettings(nodeName: String) -> CoordinatorSettings {
        var settings = CoordinatorSettings(nodeName: nodeName)
        settings.maximumQueuedTasks = maximumQueuedTasks
        settings.maximumQueuedBytes = maximumQueuedBytes
        settings.maximumPayloadBytes = TaskLimits.maximumPayloadBytes(forFrameBytes: limits.maximumFrameBytes)
        settings.maximumAttempts = maximumAttempts
        settings.heartbeatInterval = heartbeatInterval
        settings.heartbeatMisses = heartbeatMisses
        settings.admissionTasksPerSecond = admissionTasksPerSecond
        settings.admissionBurst = admissionBurst
        settings.breaker = breaker
        settings.retry = retry
        settings.retryAttemptsPerKind = retryAttemptsPerKind
        settings.randomSeed = UInt64.random(in: 1...UInt64.max)
        settings.maximumIdempotencyKeys = maximumIdempotencyKeys
        settings.retryBudget = retryBudget
        settings.idempotencyWindow = idempotencyWindow
        return settings
    }
}
