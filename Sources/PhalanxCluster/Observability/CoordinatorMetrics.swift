import Metrics
import PhalanxCore
import PhalanxResilience

/// The coordinator's Prometheus metrics (names in ``MetricName``). Counters and gauges are read
/// from the machine's ``CoordinatorMetricsSnapshot`` when they are scraped (``update(from:deadLetters:openResources:)``),
/// so the hot path pays nothing for them; the two latency histograms are recorded as tasks are
/// dispatched and finish. Owned by the coordinator actor.
struct CoordinatorMetrics {
    private let factory: any MetricsFactory
    private let submitted, succeeded, retried, retriesRefused, deadLettered, staleResults: Counter
    private let silentWorkers, disconnectedWorkers: Counter
    let taskLatency, dispatchLatency: Metrics.Timer
    private let queueDepth: [TaskPriority: Gauge]
    private let running, heldBytes, deadLetterQueue, activeWorkers, drainingWorkers: Gauge
    private let connections: [String: Gauge]
    private var failures: [FailureKind: Counter] = [:]
    private var rejections: [AdmissionRejection: Counter] = [:]
    private var breakers: [String: [String: Gauge]] = [:]
    private var openResources: [String: Gauge] = [:]
    /// What the counters showed at the last update (they only move by the difference).
    private var exported = CoordinatorMetricsSnapshot()

    static let breakerStates = ["closed", "open", "half_open", "forced_open"]

    init(factory: any MetricsFactory) {
        self.factory = factory
        func counter(_ name: String, _ dimensions: [(String, String)] = []) -> Counter { Counter(label: name, dimensions: dimensions, factory: factory) }
        func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> Gauge { Gauge(label: name, dimensions: dimensions, factory: factory) }
        submitted = counter(MetricName.tasksSubmitted)
        succeeded = counter(MetricName.tasksSucceeded)
        retried = counter(MetricName.tasksRetried)
        retriesRefused = counter(MetricName.retriesRefusedByBudget)
        deadLettered = counter(MetricName.tasksDeadLettered)
        staleResults = counter(MetricName.staleResults)
        silentWorkers = counter(MetricName.workersDeclaredDead, [("reason", "heartbeats")])
        disconnectedWorkers = counter(MetricName.workersDeclaredDead, [("reason", "disconnected")])
        taskLatency = Metrics.Timer(label: MetricName.taskLatency, dimensions: [], factory: factory)
        dispatchLatency = Metrics.Timer(label: MetricName.dispatchLatency, dimensions: [], factory: factory)
        var depth: [TaskPriority: Gauge] = [:]
        for priority in TaskPriority.allCases { depth[priority] = gauge(MetricName.queueDepth, [("priority", priority.label)]) }
        queueDepth = depth
        running = gauge(MetricName.tasksRunning)
        heldBytes = gauge(MetricName.queuedPayloadBytes)
        deadLetterQueue = gauge(MetricName.deadLetterQueue)
        activeWorkers = gauge(MetricName.workers, [("state", "active")])
        drainingWorkers = gauge(MetricName.workers, [("state", "draining")])
        var byRole: [String: Gauge] = [:]
        for role in ["worker", "client", "admin"] { byRole[role] = gauge(MetricName.connections, [("role", role)]) }
        connections = byRole
        for reason in AdmissionRejection.allCases { rejections[reason] = counter(MetricName.admissionRejections, [("reason", reason.rawValue)]) }
        // The usual failures exist from the start at 0: a series that first appears at N loses those
        // N in rate() and increase(), so a first burst of failures would not alert.
        for code in Self.taskFailureCodes { _ = failureCounter(FailureKind(code: code, failureClass: code.defaultFailureClass)) }
    }

    /// The codes a task usually fails with, each under its default class.
    static let taskFailureCodes: [ErrorCode] = [
        .businessRejected, .invalidArgument, .deadlineExceeded, .cancelled, .workerLost, .internal, .unavailable, .overloaded, .circuitOpen,
        .bulkheadFull, .conflict,
    ]

    /// Brings every counter and gauge up to `snapshot`. `deadLetters` is the dead-letter queue's
    /// size when it could be read; `resources` the node's open resources by kind.
    mutating func update(from snapshot: CoordinatorMetricsSnapshot, deadLetters: Int?, openResources resources: [String: Int]) {
        func advance(_ counter: Counter, _ now: UInt64, _ before: UInt64) { if now > before { counter.increment(by: Int64(now - before)) } }
        advance(submitted, snapshot.accepted, exported.accepted)
        advance(succeeded, snapshot.succeeded, exported.succeeded)
        advance(retried, snapshot.retried, exported.retried)
        advance(retriesRefused, snapshot.retriesRefusedByBudget, exported.retriesRefusedByBudget)
        advance(deadLettered, snapshot.deadLettered, exported.deadLettered)
        advance(staleResults, snapshot.staleResults, exported.staleResults)
        advance(silentWorkers, snapshot.declaredDeadForSilence, exported.declaredDeadForSilence)
        advance(disconnectedWorkers, snapshot.declaredDeadDisconnected, exported.declaredDeadDisconnected)
        for (kind, count) in snapshot.failures { advance(failureCounter(kind), count, exported.failures[kind] ?? 0) }
        for (reason, count) in snapshot.rejections { advance(rejections[reason]!, count, exported.rejections[reason] ?? 0) }
        exported = snapshot

        for priority in TaskPriority.allCases { queueDepth[priority]!.record(snapshot.queued[priority]) }
        running.record(snapshot.running)
        heldBytes.record(snapshot.heldBytes)
        if let deadLetters { deadLetterQueue.record(deadLetters) }
        activeWorkers.record(snapshot.workers.count { !$0.draining })
        drainingWorkers.record(snapshot.workers.count { $0.draining })
        connections["worker"]!.record(snapshot.workers.count)
        connections["client"]!.record(snapshot.clients)
        connections["admin"]!.record(snapshot.admins)
        updateBreakers(snapshot.workers)
        for (kind, count) in resources {
            if openResources[kind] == nil { openResources[kind] = Gauge(label: MetricName.openResources, dimensions: [("kind", kind)], factory: factory) }
            openResources[kind]!.record(count)
        }
    }

    /// One series per worker and state; a worker that left loses its series.
    private mutating func updateBreakers(_ workers: [CoordinatorMetricsSnapshot.Worker]) {
        let present = Set(workers.map(\.name))
        for (name, gauges) in breakers where !present.contains(name) {
            for gauge in gauges.values { gauge.destroy() }
            breakers[name] = nil
        }
        for worker in workers {
            if breakers[worker.name] == nil {
                var gauges: [String: Gauge] = [:]
                for state in Self.breakerStates {
                    gauges[state] = Gauge(label: MetricName.breakerState, dimensions: [("worker", worker.name), ("state", state)], factory: factory)
                }
                breakers[worker.name] = gauges
            }
            for (state, gauge) in breakers[worker.name]! { gauge.record(state == worker.breaker ? 1 : 0) }
        }
    }

    private mutating func failureCounter(_ kind: FailureKind) -> Counter {
        if let counter = failures[kind] { return counter }
        let counter = Counter(
            label: MetricName.tasksFailed, dimensions: [("class", kind.failureClass.rawValue), ("code", kind.code.rawValue)], factory: factory)
        failures[kind] = counter
        return counter
    }
}

extension TaskPriority {
    /// Its name in metrics and the CLI.
    public var label: String {
        switch self {
        case .high: "high"
        case .normal: "normal"
        case .low: "low"
        }
    }
}

extension Metrics.Timer {
    /// Records `elapsed` (negative counts as zero).
    func recordElapsed(_ elapsed: Duration) {
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(max(0, seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000))
    }
}
