import PhalanxResilience

/// The bounds and timings the coordinator machine works within; each is a `cluster.conf` key.
public struct CoordinatorSettings: Sendable {
    /// The coordinator's node name: the origin of every error it makes.
    public var nodeName: String
    /// Unfinished tasks held at once, queued or running (`coordinator.max_queued_tasks`).
    public var maximumQueuedTasks: Int = 1_000_000
    /// Payload bytes of unfinished tasks held at once (`coordinator.max_queued_bytes`).
    public var maximumQueuedBytes: Int = 256 * 1024 * 1024
    /// The largest payload one task may carry (derived from `limits.max_frame_bytes`).
    public var maximumPayloadBytes: Int = TaskLimits.maximumPayloadBytes(forFrameBytes: 4 * 1024 * 1024)
    /// Times a task may lose its worker before it finishes `WORKER_LOST` (`coordinator.max_attempts`).
    public var maximumAttempts: UInt32 = 3
    /// How often workers send heartbeats (`coordinator.heartbeat_interval_ms`).
    public var heartbeatInterval: Duration = .seconds(1)
    /// Heartbeats a worker may miss before it is declared dead (`coordinator.heartbeat_misses`).
    public var heartbeatMisses: Int = 5
    /// Tasks a client identity may submit per second, sustained (`admission.tasks_per_second`).
    public var admissionTasksPerSecond: Int = 200_000
    /// Tasks a client identity may submit at once above the sustained rate (`admission.burst`).
    public var admissionBurst: Int = 400_000
    /// Retries of system failures (`[retry]`): `maxAttempts` counts every attempt, the first included;
    /// backoff with jitter between them. Business failures are never retried.
    public var retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(200), maxBackoff: .seconds(10), jitter: .full)
    /// Attempts per task kind where it differs from `retry.maxAttempts` (`[retries]`).
    public var retryAttemptsPerKind: [String: Int] = [:]
    /// Retries per task kind are at most this share of its first attempts (`retry.budget_*`).
    public var retryBudget = RetryBudgetSettings()
    /// Seeds the jitter of retry backoffs (fixed in tests; from the system in the coordinator).
    public var randomSeed: UInt64 = 0x5EED
    /// Idempotency keys of finished tasks remembered at most (`coordinator.idempotency_keys`); the
    /// oldest are forgotten first, and a resubmission with a forgotten key runs again.
    public var maximumIdempotencyKeys: Int = 100_000
    /// How long an idempotency key of a finished task is remembered (a little less than
    /// `coordinator.retention_ms`, so that the task's result is still in the ledger when it is asked for).
    public var idempotencyWindow: Duration = .seconds(86_400 * 7 - 60)
    /// The per-worker circuit breaker (`[breaker]`): system failures and deadlines count against it.
    public var breaker: CircuitBreakerConfiguration = CoordinatorSettings.defaultBreaker

    public init(nodeName: String) {
        self.nodeName = nodeName
    }

    /// Silence after which a worker is declared dead.
    public var heartbeatWindow: Duration { heartbeatInterval * heartbeatMisses }

    /// The per-worker breaker's defaults: open at 50 % failures over the last 50 calls (20 at least),
    /// stay open 10 s, then let 3 probes decide. Tasks may run for hours, so no call counts as slow.
    public static var defaultBreaker: CircuitBreakerConfiguration {
        var configuration = CircuitBreakerConfiguration()
        configuration.failureRateThreshold = 50
        configuration.minimumNumberOfCalls = 20
        configuration.slidingWindow = .countBased(size: 50)
        configuration.waitDurationInOpenState = .seconds(10)
        configuration.permittedNumberOfCallsInHalfOpenState = 3
        configuration.slowCallRateThreshold = 100
        configuration.slowCallDurationThreshold = .seconds(86_400 * 365)
        configuration.probePermitTimeout = .seconds(86_400 * 365)
        return configuration
    }
}

/// The limits on one task's fields, shared by the coordinator's checks and the documentation.
public enum TaskLimits {
    /// A task id is 1...256 bytes of UTF-8.
    public static let maximumTaskIDBytes = 256
    /// An idempotency key is 1...256 bytes of UTF-8.
    public static let maximumIdempotencyKeyBytes = 256
    /// A task kind is 1...64 bytes of UTF-8, without control characters.
    public static let maximumKindBytes = 64

    /// What is wrong with `kind` as a task kind, nil when nothing is (kinds are printed in logs,
    /// on terminals and on the status page, so they carry no control characters).
    public static func kindProblem(_ kind: String) -> String? {
        let bytes = kind.utf8.count
        if bytes == 0 || bytes > maximumKindBytes { return "a kind is 1-\(maximumKindBytes) bytes (got \(bytes): '\(printable(kind, upTo: 80))')" }
        // Printable ASCII (every built-in kind) needs no look-up of Unicode properties.
        if !kind.utf8.allSatisfy({ (0x20...0x7E).contains($0) }), kind.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "a kind has no control characters (got '\(printable(kind, upTo: 80))')"
        }
        return nil
    }

    /// `text` with control characters written as `\u{…}`, at most `limit` characters and "…".
    static func printable(_ text: String, upTo limit: Int) -> String {
        var shown = ""
        for scalar in text.unicodeScalars {
            if shown.count >= limit { return shown + "…" }
            shown += scalar.properties.generalCategory == .control ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }
        return shown
    }
    /// The most task ids one result or cancel request may name.
    public static let maximumTaskIDsPerRequest = 10_000
    /// The most attempts a task may ask for (`max_attempts`).
    public static let maximumAttempts = 100
    /// The most earlier attempts a task's history keeps (the newest).
    public static let maximumHistoryRecords = 100
    /// Bytes of a frame kept for everything around a payload (ids, kind, trace, framing).
    public static let frameReserveBytes = 16 * 1024

    /// The largest payload a task may carry when frames are at most `frameBytes`: one task with
    /// the largest payload always fits one frame, in every direction.
    public static func maximumPayloadBytes(forFrameBytes frameBytes: Int) -> Int {
        max(0, frameBytes - frameReserveBytes)
    }
}

/// A retry budget: over a sliding window, retries of a task kind may be at most `ratio` of its
/// first attempts, plus `minimumPerWindow`. It keeps retries from multiplying the load on whatever
/// the kind calls while that is down.
public struct RetryBudgetSettings: Sendable, Hashable {
    public var ratio: Double
    public var minimumPerWindow: Int
    public var window: Duration

    public init(ratio: Double = 0.1, minimumPerWindow: Int = 10, window: Duration = .seconds(10)) {
        self.ratio = ratio
        self.minimumPerWindow = minimumPerWindow
        self.window = window
    }
}
