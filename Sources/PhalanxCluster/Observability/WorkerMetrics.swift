import Metrics
import PhalanxResilience
import Synchronization

/// A worker's Prometheus metrics (names in ``MetricName``): tasks run by kind and outcome, how
/// long their handlers ran, tasks running now, whether it is registered, and its bulkheads.
/// Every series is made when the worker starts (its kinds are fixed then), so recording takes no lock
/// beyond the metric's own.
final class WorkerMetrics: Sendable {
    /// How a task ended on this worker.
    enum Outcome: String, CaseIterable {
        case succeeded, failed, cancelled
    }

    private let tasks: [String: [Outcome: Counter]]
    private let durations: [String: Metrics.Timer]
    private let other: (tasks: [Outcome: Counter], duration: Metrics.Timer)
    let running: Meter
    let connected: Gauge
    /// 1 while the participant store cannot be opened (``participantAvailable(_:)``).
    let participantUnavailable: Gauge
    private let bulkheads: [(bulkhead: Bulkhead<ContinuousClock>, inUse: Gauge, waiting: Gauge)]
    private let rejected: [String: Counter]
    private let registration = Mutex(false)

    /// Whether the worker is registered with the coordinator now (its readiness).
    var isRegistered: Bool { registration.withLock { $0 } }

    /// The worker registered (true) or its session ended (false).
    func registered(_ now: Bool) {
        registration.withLock { $0 = now }
        connected.record(now ? 1 : 0)
    }

    init(factory: any MetricsFactory, kinds: [String], bulkheads: [String: Bulkhead<ContinuousClock>]) {
        func counters(_ kind: String) -> [Outcome: Counter] {
            Dictionary(uniqueKeysWithValues: Outcome.allCases.map { outcome in
                (outcome, Counter(label: MetricName.workerTasks, dimensions: [("kind", kind), ("outcome", outcome.rawValue)], factory: factory))
            })
        }
        func timer(_ kind: String) -> Metrics.Timer {
            Metrics.Timer(label: MetricName.workerTaskDuration, dimensions: [("kind", kind)], factory: factory)
        }
        tasks = Dictionary(uniqueKeysWithValues: kinds.map { ($0, counters($0)) })
        durations = Dictionary(uniqueKeysWithValues: kinds.map { ($0, timer($0)) })
        other = (counters("other"), timer("other"))  // a kind this worker does not serve: one bounded series
        running = Meter(label: MetricName.workerTasksRunning, dimensions: [], factory: factory)
        connected = Gauge(label: MetricName.workerConnected, dimensions: [], factory: factory)
        connected.record(0)
        participantUnavailable = Gauge(label: MetricName.participantUnavailable, dimensions: [], factory: factory)
        participantUnavailable.record(0)
        self.bulkheads = bulkheads.sorted { $0.key < $1.key }.map { kind, bulkhead in
            (bulkhead, Gauge(label: MetricName.bulkheadInUse, dimensions: [("kind", kind)], factory: factory),
             Gauge(label: MetricName.bulkheadWaiting, dimensions: [("kind", kind)], factory: factory))
        }
        rejected = bulkheads.mapValues { bulkhead in
            Counter(label: MetricName.bulkheadRejected, dimensions: [("kind", bulkhead.name)], factory: factory)
        }
    }

    /// Opening the participant store succeeded (true) or failed (false).
    func participantAvailable(_ available: Bool) {
        participantUnavailable.record(available ? 0 : 1)
    }

    /// A task of `kind` ended after `elapsed` with `error` (nil: it succeeded).
    func finished(kind: String, elapsed: Duration, error: ErrorCode?) {
        let outcome: Outcome = switch error {
        case nil: .succeeded
        case .cancelled?: .cancelled
        default: .failed
        }
        (tasks[kind] ?? other.tasks)[outcome]!.increment()
        (durations[kind] ?? other.duration).recordElapsed(elapsed)
        if error == .bulkheadFull { rejected[kind]?.increment() }
    }

    /// Brings the bulkhead gauges up to date (before a scrape).
    func refresh() {
        for (bulkhead, inUse, waiting) in bulkheads {
            inUse.record(bulkhead.activeCalls)
            waiting.record(bulkhead.waitingCalls)
        }
    }
}
