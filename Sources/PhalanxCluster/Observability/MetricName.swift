import PhalanxTransport

/// Every metric a Phalanx node exports, with its help text: one place for the names that the
/// alert rules (`deploy/prometheus/alerts.yml`) and dashboards depend on. Names follow Prometheus'
/// conventions (`phalanx_…`, counters end in `_total`, base units); no label carries a task id.
public enum MetricName {
    // Coordinator: tasks.
    public static let tasksSubmitted = "phalanx_tasks_submitted_total"
    public static let tasksSucceeded = "phalanx_tasks_succeeded_total"
    public static let tasksFailed = "phalanx_tasks_failed_total"
    public static let tasksRetried = "phalanx_tasks_retried_total"
    public static let retriesRefusedByBudget = "phalanx_retries_refused_total"
    public static let tasksDeadLettered = "phalanx_tasks_dead_lettered_total"
    public static let deadLetterQueue = "phalanx_dead_letter_queue_tasks"
    public static let admissionRejections = "phalanx_admission_rejections_total"
    public static let queueDepth = "phalanx_queue_depth"
    public static let tasksRunning = "phalanx_tasks_running"
    public static let queuedPayloadBytes = "phalanx_queued_payload_bytes"
    public static let staleResults = "phalanx_stale_results_total"
    public static let taskLatency = "phalanx_task_latency_seconds"
    public static let dispatchLatency = "phalanx_task_dispatch_latency_seconds"
    // Coordinator: members.
    public static let breakerState = "phalanx_breaker_state"
    public static let workers = "phalanx_workers"
    public static let workersDeclaredDead = "phalanx_workers_declared_dead_total"
    public static let openResources = "phalanx_open_resources"
    // Every node: connections.
    public static let connections = "phalanx_connections"
    public static let tlsHandshakeFailures = HandshakeFailureMetrics.metricName
    // Worker.
    public static let workerTasks = "phalanx_worker_tasks_total"
    public static let workerTasksRunning = "phalanx_worker_tasks_running"
    public static let workerTaskDuration = "phalanx_worker_task_duration_seconds"
    public static let workerConnected = "phalanx_worker_connected"
    public static let participantUnavailable = "phalanx_worker_participant_unavailable"
    public static let bulkheadInUse = "phalanx_bulkhead_in_use"
    public static let bulkheadRejected = "phalanx_bulkhead_rejected_total"
    public static let bulkheadWaiting = "phalanx_bulkhead_waiting"

    /// The `# HELP` text of each metric (Prometheus' linter requires one).
    public static let help: [String: String] = [
        tasksSubmitted: "Tasks this coordinator process accepted (made durable and acknowledged); those read back from the ledger at start are not counted again.",
        tasksSucceeded: "Tasks that finished successfully.",
        tasksFailed: "Tasks that finished failed, by failure class (business, system, fatal) and error code.",
        tasksRetried: "Attempts that failed for a system reason and were scheduled again.",
        retriesRefusedByBudget: "System failures not retried because their task kind's retry budget (retry.budget_percent of its first attempts) was spent: they finished with that failure.",
        tasksDeadLettered: "Tasks moved to the dead-letter queue after losing their worker too often.",
        deadLetterQueue: "Tasks in the dead-letter queue now.",
        admissionRejections: "Submitted tasks refused at admission, by reason (overloaded, rate_limited, invalid).",
        queueDepth: "Tasks waiting for a worker, by priority.",
        tasksRunning: "Tasks on workers now: dispatched and not finished, running or prefetched and waiting for a slot (phalanx_worker_tasks_running counts the running ones).",
        queuedPayloadBytes: "Payload bytes of the unfinished tasks the coordinator holds.",
        staleResults: "Results dropped because they were for a superseded attempt.",
        taskLatency: "Time from a task's acceptance to its result made durable, in seconds (tasks accepted by this coordinator process).",
        dispatchLatency: "Time from a task's acceptance to its first dispatch to a worker, in seconds (tasks accepted by this coordinator process).",
        breakerState: "The circuit breaker of each worker: 1 for its current state, 0 for the others.",
        workers: "Registered workers, by state (active, draining).",
        workersDeclaredDead: "Workers whose tasks were taken back, by reason (heartbeats: silent too long; disconnected).",
        openResources: "Resources this node holds open (the task ledger, the participant store), by kind.",
        connections: "Established peer connections, by role (worker, client, admin, coordinator).",
        tlsHandshakeFailures: "Incoming or outgoing connections refused during the TLS handshake or identity check, by reason.",
        workerTasks: "Tasks this worker ran to an end, by kind and outcome (succeeded, failed, cancelled).",
        workerTasksRunning: "Tasks running on this worker now.",
        workerTaskDuration: "How long this worker's tasks took from arrival to result, in seconds, by kind (a prefetched task's wait for a slot included).",
        workerConnected: "1 while this worker is registered with the coordinator, 0 otherwise.",
        participantUnavailable: "1 while this worker's participant store cannot be opened (a damaged file, a read-only folder, another process holding it): it votes NO on every transaction; 0 otherwise.",
        bulkheadInUse: "Slots of a task kind's bulkhead in use on this worker.",
        bulkheadRejected: "Tasks a kind's bulkhead refused on this worker because its wait queue was full (they failed BULKHEAD_FULL).",
        bulkheadWaiting: "Tasks waiting for a slot of a kind's bulkhead on this worker (not counted in phalanx_worker_tasks_running until they run).",
    ]
}
