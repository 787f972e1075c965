import PhalanxCore
/// Every `cluster.conf` key, with its type, default and meaning: the one list that parsing,
/// environment overrides (`PHALANX_SECTION_KEY`), `--set section.key=value` flags and errors use.
struct ConfigKey: Sendable {
    enum Kind: String, Sendable {
        case string, integer, boolean
    }

    let section: String
    let name: String
    let kind: Kind
    let defaultValue: ConfigValue
    let range: ClosedRange<Int>?
    let help: String

    var path: String { "\(section).\(name)" }
    var environmentVariable: String { "PHALANX_\(section.uppercased())_\(name.uppercased())" }

    static let all: [ConfigKey] = [
        .init("cluster", "name", .string("demo"), "the cluster's name; every certificate's URI must name it"),
        .init("coordinator", "host", .string("127.0.0.1"), "address the coordinator listens on (and workers/clients dial)"),
        .init("coordinator", "port", .integer(7400), range: 0...65535, "TCP port of the coordinator (0: pick a free one)"),
        .init("coordinator", "max_queued_tasks", .integer(1_000_000), range: 1...100_000_000, "tasks that may wait for a worker; beyond, submits get OVERLOADED"),
        .init("coordinator", "heartbeat_interval_ms", .integer(1_000), range: 50...60_000, "how often workers send heartbeats"),
        .init("coordinator", "heartbeat_misses", .integer(5), range: 1...100, "missed heartbeats before a worker is declared dead"),
        .init("coordinator", "max_queued_bytes", .integer(256 * 1024 * 1024), range: 1_024...(64 * 1024 * 1024 * 1024), "payload bytes of unfinished tasks the coordinator holds; beyond, submits get OVERLOADED"),
        .init("coordinator", "data_dir", .string("run/coordinator"), "folder of the coordinator's durable task ledger (tasks.sqlite); a relative path is relative to the configuration file's folder"),
        .init("coordinator", "idempotency_keys", .integer(100_000), range: 0...100_000_000, "idempotency keys of finished tasks remembered (newest first, within retention_ms); a resubmission with a key forgotten runs again"),
        .init("coordinator", "retention_ms", .integer(604_800_000), range: 1_000...315_360_000_000, "finished tasks (and their results), ended transactions and finished sagas are kept in the ledger this long, and each worker's history of applied transactions in its store, then pruned"),
        .init("coordinator", "accept_linger_us", .integer(500), range: 0...100_000, "microseconds the accept of tasks that went straight to a worker may wait for their results, so that a short task's accept and result share one fsync (its acknowledgement waits as long at most; 0: never wait)"),
        .init("coordinator", "max_attempts", .integer(3), range: 1...100, "times a task may lose its worker before it finishes WORKER_LOST"),
        .init("admission", "tasks_per_second", .integer(200_000), range: 1...100_000_000, "tasks one client certificate may submit per second, sustained; beyond, OVERLOADED with a retry-after"),
        .init("admission", "burst", .integer(400_000), range: 1...100_000_000, "tasks one client certificate may submit at once above the sustained rate"),
        .init("breaker", "failure_rate_percent", .integer(50), range: 1...100, "a worker's breaker opens at this percentage of system failures and deadline misses"),
        .init("breaker", "window_calls", .integer(50), range: 1...100_000, "the breaker judges the failure rate over a worker's last this many tasks"),
        .init("breaker", "minimum_calls", .integer(20), range: 1...100_000, "no failure rate is judged before a worker has finished this many tasks"),
        .init("breaker", "open_ms", .integer(10_000), range: 1...86_400_000, "an open breaker sends the worker no tasks for this long, then lets probes through"),
        .init("breaker", "half_open_probes", .integer(3), range: 1...10_000, "tasks sent as probes to a half-open worker; their outcomes close or reopen the breaker"),
        .init("retry", "max_attempts", .integer(3), range: 1...TaskLimits.maximumAttempts, "attempts a task gets when it fails for a system reason, the first included (1: never retried); [retries] sets it per kind, a task may set its own"),
        .init("retry", "initial_backoff_ms", .integer(200), range: 0...3_600_000, "wait before the first retry; it doubles for each next one, with full jitter"),
        .init("retry", "max_backoff_ms", .integer(10_000), range: 0...86_400_000, "the longest wait between retries"),
        .init("retry", "budget_percent", .integer(10), range: 0...1_000, "retries of a task kind are at most this percentage of its first attempts over budget_window_ms (so a failing downstream gets at most 1.1x its load at 10)"),
        .init("retry", "budget_minimum", .integer(10), range: 0...1_000_000, "retries a task kind may always make per budget window, whatever the percentage"),
        .init("retry", "budget_window_ms", .integer(10_000), range: 100...3_600_000, "the sliding window of the retry budget"),
        .init("worker", "capacity", .integer(64), range: 1...100_000, "tasks a worker runs at once"),
        .init("worker", "prefetch", .integer(192), range: 0...100_000, "tasks a worker holds beyond capacity, waiting for a free slot: the coordinator dispatches up to capacity + prefetch, in larger batches (0: only capacity)"),
        .init("worker", "max_in_flight_bytes", .integer(64 * 1024 * 1024), range: 0...(1 << 40), "payload bytes of the tasks dispatched to one worker at most, running and prefetched (0: no bound); a worker with nothing in flight always gets one task"),
        .init("worker", "result_batch", .integer(256), range: 1...100_000, "results sent per frame at most (frames are also cut by bytes)"),
        .init("worker", "drain_grace_ms", .integer(30_000), range: 0...86_400_000, "on SIGTERM or `phalanx drain`, running tasks may finish within this; the rest are handed back"),
        .init("worker", "data_dir", .string("run/workers"), "folder under which each worker keeps its transaction participant store, in a folder of its name (NAME/participant.sqlite); a relative path is relative to the configuration file's folder"),
        .init("tx", "vote_timeout_ms", .integer(5_000), range: 10...600_000, "a transaction whose participants have not all voted within this aborts (DEADLINE_EXCEEDED)"),
        .init("tx", "resend_interval_ms", .integer(1_000), range: 10...60_000, "a decision a participant has not acknowledged is sent to it again after this long"),
        .init("tls", "dir", .string("run/certs"), "folder with ca.pem and NAME.pem / NAME-key.pem per node (scripts/gen-certs.sh makes them)"),
        .init("limits", "max_frame_bytes", .integer(4 * 1024 * 1024), range: FrameLimits.accepted, "largest frame a peer may send; larger is refused with FRAME_TOO_LARGE (the largest task payload is this - 16384)"),
        .init("limits", "client_inflight_bytes", .integer(64 * 1024 * 1024), range: 65_536...(64 * 1024 * 1024 * 1024), "payload bytes of one client connection's unfinished tasks past which its submits wait (TCP back-pressure) until some finish"),
        .init("limits", "handshake_timeout_ms", .integer(5_000), range: 10...600_000, "TLS handshake plus Hello must complete within this"),
        .init("limits", "frame_timeout_ms", .integer(10_000), range: 10...600_000, "a started frame must be complete within this"),
        .init("limits", "idle_timeout_ms", .integer(60_000), range: 100...86_400_000, "connections with nothing read for this long, and no work outstanding, are closed"),
        .init("limits", "slow_reader_timeout_ms", .integer(10_000), range: 10...3_600_000, "a client whose send buffer stays full this long (it does not read its results) is cut off"),
        .init("limits", "send_buffer_bytes", .integer(8 * 1024 * 1024), range: 65_536...(1024 * 1024 * 1024), "bytes queued for one slow peer before it counts as not reading"),
        .init("log", "level", .string("info"), "trace, debug, info, notice, warning, error or critical"),
        .init("log", "spans", .boolean(false), "log one 'span' line (swift-distributed-tracing) per submitted batch and dispatch on the coordinator and per task run on workers: operation, trace_id, span_id, parent_span_id, duration_ms, status"),
        .init("log", "format", .string("json"), "log lines on standard error: json (one object per line) or text (for a terminal); --log-format overrides it"),
        .init("log", "loki_url", .string(""), "also push log lines to Loki at this push URL (http://HOST:PORT/loki/api/v1/push; \"\": no); batched every second from a bounded buffer"),
        .init("metrics", "coordinator_address", .string("127.0.0.1:9464"), "HOST:PORT where the coordinator serves /metrics, /healthz, /readyz and its status page (port 0: a free one; \"\": none)"),
        .init("metrics", "worker_address", .string("127.0.0.1:0"), "HOST:PORT where a worker serves /metrics, /healthz and /readyz (port 0: a free one, logged; \"\": none); give each worker on one host its own port"),
    ]

    static func find(_ path: String) -> ConfigKey? { all.first { $0.path == path } }

    private init(_ section: String, _ name: String, _ defaultValue: ConfigValue, range: ClosedRange<Int>? = nil, _ help: String) {
        self.section = section
        self.name = name
        self.defaultValue = defaultValue
        self.range = range
        self.help = help
        switch defaultValue {
        case .string: kind = .string
        case .integer: kind = .integer
        case .boolean: kind = .boolean
        }
    }
}

/// A configuration value of one of the supported kinds.
enum ConfigValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case boolean(Bool)

    var description: String {
        switch self {
        case .string(let value): "\"\(value)\""
        case .integer(let value): "\(value)"
        case .boolean(let value): "\(value)"
        }
    }
}
