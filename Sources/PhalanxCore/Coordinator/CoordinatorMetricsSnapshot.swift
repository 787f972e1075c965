import PhalanxResilience

/// Why a submitted batch was refused at admission (a metric label: `phalanx_admission_rejections_total{reason}`).
public enum AdmissionRejection: String, Sendable, Hashable, CaseIterable {
    /// A task in it was malformed, too large, or a duplicate of an unfinished one (`INVALID_ARGUMENT`).
    case invalid
    /// The coordinator holds as many tasks or payload bytes as it may (`OVERLOADED`).
    case overloaded
    /// The client's token bucket was empty (`OVERLOADED` with a retry-after).
    case rateLimited = "rate_limited"
}

/// The code and class of a failed task (a metric's labels: `phalanx_tasks_failed_total{class,code}`).
public struct FailureKind: Sendable, Hashable {
    public let code: ErrorCode
    public let failureClass: FailureClass

    public init(code: ErrorCode, failureClass: FailureClass) {
        self.code = code
        self.failureClass = failureClass
    }
}

/// A count per task priority.
public struct PriorityCounts: Sendable, Hashable {
    public var high = 0
    public var normal = 0
    public var low = 0

    public init() {}

    public subscript(priority: TaskPriority) -> Int {
        get {
            switch priority {
            case .high: high
            case .normal: normal
            case .low: low
            }
        }
        set {
            switch priority {
            case .high: high = newValue
            case .normal: normal = newValue
            case .low: low = newValue
            }
        }
    }
}

/// What the coordinator's metrics show, read from the machine when they are scraped: counters
/// since the coordinator started, and gauges as of now. Reading it walks the workers, never the tasks.
public struct CoordinatorMetricsSnapshot: Sendable, Hashable {
    public init() {}

    /// One registered worker.
    public struct Worker: Sendable, Hashable {
        public let name: String
        /// closed, open, half_open or forced_open.
        public let breaker: String
        public let draining: Bool
        public let running: Int
        public let capacity: Int
        /// Tasks it holds beyond `capacity`: `running` may reach `capacity + prefetch`.
        public var prefetch = 0
    }

    public var accepted: UInt64 = 0
    public var succeeded: UInt64 = 0
    public var failures: [FailureKind: UInt64] = [:]
    public var retried: UInt64 = 0
    /// System failures that stood because their kind's retry budget was spent.
    public var retriesRefusedByBudget: UInt64 = 0
    public var deadLettered: UInt64 = 0
    public var rejections: [AdmissionRejection: UInt64] = [:]
    public var staleResults: UInt64 = 0
    public var declaredDeadForSilence: UInt64 = 0
    public var declaredDeadDisconnected: UInt64 = 0
    public var queued = PriorityCounts()
    public var running = 0
    public var retrying = 0
    public var heldBytes = 0
    public var workers: [Worker] = []
    /// Client and admin connections.
    public var clients = 0
    public var admins = 0
}

extension CoordinatorMachine {
    /// The numbers behind the coordinator's metrics.
    public func metricsSnapshot() -> CoordinatorMetricsSnapshot {
        var snapshot = CoordinatorMetricsSnapshot()
        snapshot.accepted = counters.accepted - UInt64(counters.recovered)  // read back at start: accepted by an earlier process
        snapshot.succeeded = counters.succeeded
        snapshot.failures = counters.failures
        snapshot.retried = counters.retried
        snapshot.retriesRefusedByBudget = counters.retriesRefusedByBudget
        snapshot.deadLettered = counters.deadLettered
        snapshot.rejections = counters.rejections
        snapshot.staleResults = counters.staleResults
        snapshot.declaredDeadForSilence = counters.declaredDeadForSilence
        snapshot.declaredDeadDisconnected = counters.declaredDeadDisconnected
        snapshot.queued = queuedByPriority
        snapshot.running = runningCount
        snapshot.retrying = retryingCount
        snapshot.heldBytes = heldBytes
        snapshot.workers = workers.values.sorted { $0.identity.name < $1.identity.name }.map { worker in
            CoordinatorMetricsSnapshot.Worker(
                name: worker.identity.name, breaker: breakerState(of: worker.identity.name), draining: worker.draining,
                running: worker.running.count, capacity: worker.capacity, prefetch: worker.prefetch)
        }
        for client in clients.values {
            if client.identity.role == .admin { snapshot.admins += 1 } else { snapshot.clients += 1 }
        }
        return snapshot
    }
}
