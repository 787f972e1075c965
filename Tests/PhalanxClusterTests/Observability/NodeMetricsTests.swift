import Metrics
import PhalanxResilience
import PhalanxTransport
import Testing

@testable import PhalanxCluster
import PhalanxTesting
@testable import PhalanxCore

/// The registry behind swift-metrics' factory, and the coordinator's metrics read from snapshots.
@Suite struct NodeMetricsTests {
    @Test func aCounterGaugeAndHistogramMadeThroughTheFactoryHaveHelpAndType() {
        let metrics = NodeMetrics()
        Counter(label: MetricName.tasksSubmitted, factory: metrics.factory).increment(by: 3)
        Gauge(label: MetricName.queueDepth, dimensions: [("priority", "high")], factory: metrics.factory).record(7)
        let timer = Metrics.Timer(label: MetricName.taskLatency, dimensions: [], factory: metrics.factory)
        timer.recordMilliseconds(3)
        timer.recordSeconds(120)  // past the largest bucket: only +Inf
        let exposition = Exposition(metrics.exposition())

        #expect(exposition.help(MetricName.tasksSubmitted) == MetricName.help[MetricName.tasksSubmitted])
        #expect(exposition.type(MetricName.tasksSubmitted) == "counter")
        #expect(exposition.value(MetricName.tasksSubmitted) == 3)

        #expect(exposition.help(MetricName.queueDepth) == "Tasks waiting for a worker, by priority.")
        #expect(exposition.type(MetricName.queueDepth) == "gauge")
        #expect(exposition.value(MetricName.queueDepth, ["priority": "high"]) == 7)

        let latency = MetricName.taskLatency
        #expect(exposition.help(latency) == MetricName.help[latency])
        #expect(exposition.type(latency) == "histogram")
        #expect(exposition.value("\(latency)_count") == 2)
        #expect(exposition.value("\(latency)_sum").map { abs($0 - 120.003) < 1e-6 } == true, "\(exposition.text)")
        #expect(exposition.bucket(latency, le: 0.002) == 0)
        #expect(exposition.bucket(latency, le: 0.005) == 1, "3 ms is in the 5 ms bucket:\n\(exposition.text)")
        #expect(exposition.bucket(latency, le: 60.0) == 1, "\(exposition.text)")
        #expect(exposition.bucket(latency, le: .infinity) == 2)
        #expect(exposition.samples("\(latency)_bucket").count == HelpfulPrometheusFactory.durationBuckets.count + 1)
        #expect(NodeMetrics.contentType == "text/plain; version=0.0.4; charset=utf-8")
    }

    @Test func everyDocumentedMetricHasHelpTextAndAnUnknownOneGetsAGenericHelp() {
        let names = [
            MetricName.tasksSubmitted, MetricName.tasksSucceeded, MetricName.tasksFailed, MetricName.tasksRetried, MetricName.retriesRefusedByBudget,
            MetricName.tasksDeadLettered,
            MetricName.deadLetterQueue, MetricName.admissionRejections, MetricName.queueDepth, MetricName.tasksRunning,
            MetricName.queuedPayloadBytes, MetricName.staleResults, MetricName.taskLatency, MetricName.dispatchLatency, MetricName.breakerState,
            MetricName.workers, MetricName.workersDeclaredDead, MetricName.openResources, MetricName.connections,
            MetricName.tlsHandshakeFailures, MetricName.workerTasks, MetricName.workerTasksRunning, MetricName.workerTaskDuration,
            MetricName.workerConnected, MetricName.participantUnavailable, MetricName.bulkheadInUse, MetricName.bulkheadRejected, MetricName.bulkheadWaiting,
        ]
        #expect(Set(names).count == names.count && Set(MetricName.help.keys) == Set(names))
        for name in names {
            #expect(name.hasPrefix("phalanx_") && !(MetricName.help[name]?.isEmpty ?? true), "\(name)")
        }
        let metrics = NodeMetrics()
        Counter(label: "phalanx_something_new_total", factory: metrics.factory).increment()
        #expect(Exposition(metrics.exposition()).help("phalanx_something_new_total") == "Phalanx metric phalanx_something_new_total.")
    }

    @Test func metersAreGaugesAndAggregatingRecordersAreHistograms() {
        let metrics = NodeMetrics()
        let meter = Meter(label: MetricName.workerTasksRunning, dimensions: [], factory: metrics.factory)
        meter.increment(by: 3)
        meter.decrement(by: 1)
        Recorder(label: "phalanx_batch_tasks", dimensions: [], aggregate: true, factory: metrics.factory).record(50)
        let exposition = Exposition(metrics.exposition())
        #expect(exposition.type(MetricName.workerTasksRunning) == "gauge")
        #expect(exposition.value(MetricName.workerTasksRunning) == 2)
        #expect(exposition.type("phalanx_batch_tasks") == "histogram")
        #expect(exposition.bucket("phalanx_batch_tasks", le: 100.0) == 1, "\(exposition.text)")
        #expect(exposition.bucket("phalanx_batch_tasks", le: 10.0) == 0)
    }

    @Test func aDestroyedMetricLeavesTheExposition() {
        let metrics = NodeMetrics()
        let kept = Gauge(label: MetricName.workers, dimensions: [("state", "active")], factory: metrics.factory)
        let gone = Gauge(label: MetricName.workers, dimensions: [("state", "draining")], factory: metrics.factory)
        kept.record(1)
        gone.record(2)
        let counter = Counter(label: MetricName.staleResults, factory: metrics.factory)
        counter.increment()
        gone.destroy()
        counter.destroy()
        let exposition = Exposition(metrics.exposition())
        #expect(exposition.value(MetricName.workers, ["state": "active"]) == 1)
        #expect(exposition.value(MetricName.workers, ["state": "draining"]) == nil)
        #expect(exposition.samples(MetricName.staleResults).isEmpty && exposition.type(MetricName.staleResults) == nil)
    }

    @Test func twoNodesInOneProcessKeepTheirMetricsApart() {
        let first = NodeMetrics()
        let second = NodeMetrics()
        Counter(label: MetricName.tasksSubmitted, factory: first.factory).increment(by: 2)
        Counter(label: MetricName.tasksSubmitted, factory: second.factory).increment(by: 5)
        #expect(Exposition(first.exposition()).value(MetricName.tasksSubmitted) == 2)
        #expect(Exposition(second.exposition()).value(MetricName.tasksSubmitted) == 5)
    }

    @Test func handshakeFailuresAreCountedByBoundedReasonWithUnknownOnesAsOther() {
        let metrics = NodeMetrics()
        let failures = HandshakeFailureMetrics(factory: metrics.factory)
        failures.record("timeout")
        failures.record("timeout")
        failures.record("untrusted_certificate")
        failures.record("a reason nobody bounded")
        let exposition = Exposition(metrics.exposition())
        let name = MetricName.tlsHandshakeFailures
        #expect(exposition.help(name) == MetricName.help[name] && exposition.type(name) == "counter")
        #expect(exposition.samples(name).count == TLSFailureReason.labels.count, "one series per bounded reason, present from the start")
        #expect(exposition.value(name, ["reason": "timeout"]) == 2)
        #expect(exposition.value(name, ["reason": "untrusted_certificate"]) == 1)
        #expect(exposition.value(name, ["reason": "other"]) == 1)
        #expect(exposition.value(name, ["reason": "a reason nobody bounded"]) == nil)
        #expect(exposition.value(name, ["reason": "not_tls"]) == 0)
    }
}

@Suite struct CoordinatorMetricsTests {
    static let business = FailureKind(code: .businessRejected, failureClass: .business)
    static let system = FailureKind(code: .internal, failureClass: .system)

    static func worker(_ name: String, breaker: String = "closed", draining: Bool = false, running: Int = 0) -> CoordinatorMetricsSnapshot.Worker {
        CoordinatorMetricsSnapshot.Worker(name: name, breaker: breaker, draining: draining, running: running, capacity: 8)
    }

    @Test func countersMoveByTheDifferenceBetweenSnapshotsOnly() {
        let node = NodeMetrics()
        var metrics = CoordinatorMetrics(factory: node.factory)
        var snapshot = CoordinatorMetricsSnapshot()
        snapshot.accepted = 5
        snapshot.succeeded = 3
        snapshot.failures = [Self.business: 1]
        snapshot.retried = 2
        snapshot.rejections = [.overloaded: 4]
        snapshot.declaredDeadForSilence = 1
        snapshot.staleResults = 6
        snapshot.deadLettered = 1
        metrics.update(from: snapshot, deadLetters: 1, openResources: ["task_ledger": 1])
        var exposition = Exposition(node.exposition())
        #expect(exposition.value(MetricName.tasksSubmitted) == 5)
        #expect(exposition.value(MetricName.tasksSucceeded) == 3)
        #expect(exposition.value(MetricName.tasksFailed, ["class": "business", "code": "BUSINESS_REJECTED"]) == 1)
        #expect(exposition.value(MetricName.tasksFailed, ["class": "system", "code": "INTERNAL"]) == 0, "the usual failures' series exist from the start")
        #expect(exposition.value(MetricName.tasksFailed, ["class": "fatal", "code": "INTERNAL"]) == nil, "others appear at their first failure")
        #expect(exposition.value(MetricName.tasksRetried) == 2)
        #expect(exposition.value(MetricName.admissionRejections, ["reason": "overloaded"]) == 4)
        #expect(exposition.value(MetricName.admissionRejections, ["reason": "rate_limited"]) == 0, "every reason's series from the start")
        #expect(exposition.value(MetricName.admissionRejections, ["reason": "invalid"]) == 0)
        #expect(exposition.value(MetricName.workersDeclaredDead, ["reason": "heartbeats"]) == 1)
        #expect(exposition.value(MetricName.workersDeclaredDead, ["reason": "disconnected"]) == 0)
        #expect(exposition.value(MetricName.staleResults) == 6)
        #expect(exposition.value(MetricName.tasksDeadLettered) == 1)
        #expect(exposition.value(MetricName.deadLetterQueue) == 1)
        #expect(exposition.value(MetricName.openResources, ["kind": "task_ledger"]) == 1)

        // The same snapshot again moves nothing.
        metrics.update(from: snapshot, deadLetters: 1, openResources: ["task_ledger": 1])
        #expect(Exposition(node.exposition()).value(MetricName.tasksSubmitted) == 5)

        snapshot.accepted = 9
        snapshot.succeeded = 4
        snapshot.failures = [Self.business: 1, Self.system: 2]
        snapshot.retried = 3
        snapshot.rejections = [.overloaded: 4, .rateLimited: 7]
        snapshot.declaredDeadForSilence = 1
        snapshot.declaredDeadDisconnected = 2
        metrics.update(from: snapshot, deadLetters: nil, openResources: ["task_ledger": 0])
        exposition = Exposition(node.exposition())
        #expect(exposition.value(MetricName.tasksSubmitted) == 9)
        #expect(exposition.value(MetricName.tasksSucceeded) == 4)
        #expect(exposition.value(MetricName.tasksFailed, ["class": "business", "code": "BUSINESS_REJECTED"]) == 1)
        #expect(exposition.value(MetricName.tasksFailed, ["class": "system", "code": "INTERNAL"]) == 2)
        #expect(exposition.value(MetricName.tasksRetried) == 3)
        #expect(exposition.value(MetricName.admissionRejections, ["reason": "overloaded"]) == 4)
        #expect(exposition.value(MetricName.admissionRejections, ["reason": "rate_limited"]) == 7)
        #expect(exposition.value(MetricName.workersDeclaredDead, ["reason": "heartbeats"]) == 1)
        #expect(exposition.value(MetricName.workersDeclaredDead, ["reason": "disconnected"]) == 2)
        #expect(exposition.value(MetricName.deadLetterQueue) == 1, "left as it was when the ledger could not be read")
        #expect(exposition.value(MetricName.openResources, ["kind": "task_ledger"]) == 0)
    }

    @Test func gaugesFollowTheSnapshotDownAsWellAsUp() {
        let node = NodeMetrics()
        var metrics = CoordinatorMetrics(factory: node.factory)
        var snapshot = CoordinatorMetricsSnapshot()
        snapshot.queued.high = 3
        snapshot.queued.low = 1
        snapshot.running = 4
        snapshot.heldBytes = 1_000
        snapshot.workers = [Self.worker("w1"), Self.worker("w2", draining: true)]
        snapshot.clients = 2
        snapshot.admins = 1
        metrics.update(from: snapshot, deadLetters: 0, openResources: [:])
        var exposition = Exposition(node.exposition())
        #expect(exposition.value(MetricName.queueDepth, ["priority": "high"]) == 3)
        #expect(exposition.value(MetricName.queueDepth, ["priority": "normal"]) == 0)
        #expect(exposition.value(MetricName.queueDepth, ["priority": "low"]) == 1)
        #expect(exposition.value(MetricName.tasksRunning) == 4)
        #expect(exposition.value(MetricName.queuedPayloadBytes) == 1_000)
        #expect(exposition.value(MetricName.workers, ["state": "active"]) == 1)
        #expect(exposition.value(MetricName.workers, ["state": "draining"]) == 1)
        #expect(exposition.value(MetricName.connections, ["role": "worker"]) == 2)
        #expect(exposition.value(MetricName.connections, ["role": "client"]) == 2)
        #expect(exposition.value(MetricName.connections, ["role": "admin"]) == 1)

        snapshot = CoordinatorMetricsSnapshot()
        metrics.update(from: snapshot, deadLetters: 0, openResources: [:])
        exposition = Exposition(node.exposition())
        #expect(exposition.value(MetricName.queueDepth, ["priority": "high"]) == 0)
        #expect(exposition.value(MetricName.tasksRunning) == 0)
        #expect(exposition.value(MetricName.workers, ["state": "active"]) == 0)
        #expect(exposition.value(MetricName.connections, ["role": "client"]) == 0)
    }

    @Test func breakerSeriesShowOneStatePerWorkerAndLeaveWithTheWorker() {
        let node = NodeMetrics()
        var metrics = CoordinatorMetrics(factory: node.factory)
        var snapshot = CoordinatorMetricsSnapshot()
        snapshot.workers = [Self.worker("w1"), Self.worker("w2", breaker: "open")]
        metrics.update(from: snapshot, deadLetters: nil, openResources: [:])
        var exposition = Exposition(node.exposition())
        let name = MetricName.breakerState
        #expect(exposition.samples(name).count == 8, "4 states for each of 2 workers")
        #expect(exposition.value(name, ["worker": "w1", "state": "closed"]) == 1)
        #expect(exposition.value(name, ["worker": "w1", "state": "open"]) == 0)
        #expect(exposition.value(name, ["worker": "w2", "state": "open"]) == 1)
        #expect(exposition.value(name, ["worker": "w2", "state": "closed"]) == 0)
        #expect(exposition.samples(name).map(\.value).reduce(0, +) == 2, "one state per worker")

        snapshot.workers = [Self.worker("w1", breaker: "half_open")]
        metrics.update(from: snapshot, deadLetters: nil, openResources: [:])
        exposition = Exposition(node.exposition())
        #expect(exposition.samples(name).allSatisfy { $0.labels["worker"] == "w1" } && exposition.samples(name).count == 4, "\(exposition.text)")
        #expect(exposition.value(name, ["worker": "w1", "state": "half_open"]) == 1)
        #expect(exposition.value(name, ["worker": "w1", "state": "closed"]) == 0)

        // Every worker left: no breaker series at all; one that comes back gets its series again.
        snapshot.workers = []
        metrics.update(from: snapshot, deadLetters: nil, openResources: [:])
        #expect(Exposition(node.exposition()).samples(name).isEmpty)
        snapshot.workers = [Self.worker("w2", breaker: "forced_open")]
        metrics.update(from: snapshot, deadLetters: nil, openResources: [:])
        exposition = Exposition(node.exposition())
        #expect(exposition.samples(name).count == 4)
        #expect(exposition.value(name, ["worker": "w2", "state": "forced_open"]) == 1)
    }

    @Test func latencyIsRecordedInSecondsAndANegativeElapsedTimeCountsAsZero() {
        let node = NodeMetrics()
        let metrics = CoordinatorMetrics(factory: node.factory)
        metrics.taskLatency.recordElapsed(.milliseconds(1_500))
        metrics.taskLatency.recordElapsed(.seconds(-3))
        metrics.dispatchLatency.recordElapsed(.microseconds(50))
        let exposition = Exposition(node.exposition())
        #expect(exposition.value("\(MetricName.taskLatency)_count") == 2)
        #expect(exposition.value("\(MetricName.taskLatency)_sum").map { abs($0 - 1.5) < 1e-9 } == true, "\(exposition.text)")
        #expect(exposition.bucket(MetricName.taskLatency, le: 0.0001) == 1, "the negative one is in the smallest bucket")
        #expect(exposition.bucket(MetricName.dispatchLatency, le: 0.0001) == 1)
        #expect(exposition.value("\(MetricName.dispatchLatency)_count") == 1)
    }
}

@Suite struct WorkerMetricsTests {
    @Test func tasksAreCountedByKindAndOutcomeWithUnservedKindsAsOther() throws {
        let node = NodeMetrics()
        let bulkhead = try Bulkhead(name: "sha256", configuration: .init(maxConcurrentCalls: 2), clock: ContinuousClock())
        let metrics = WorkerMetrics(factory: node.factory, kinds: ["echo", "sha256"], bulkheads: ["sha256": bulkhead])
        metrics.finished(kind: "echo", elapsed: .milliseconds(2), error: nil)
        metrics.finished(kind: "echo", elapsed: .milliseconds(2), error: .businessRejected)
        metrics.finished(kind: "echo", elapsed: .milliseconds(2), error: .cancelled)
        metrics.finished(kind: "sha256", elapsed: .milliseconds(2), error: .bulkheadFull)
        metrics.finished(kind: "mystery", elapsed: .milliseconds(2), error: nil)
        metrics.registered(true)
        let exposition = Exposition(node.exposition())
        let tasks = MetricName.workerTasks
        #expect(exposition.value(tasks, ["kind": "echo", "outcome": "succeeded"]) == 1)
        #expect(exposition.value(tasks, ["kind": "echo", "outcome": "failed"]) == 1)
        #expect(exposition.value(tasks, ["kind": "echo", "outcome": "cancelled"]) == 1)
        #expect(exposition.value(tasks, ["kind": "sha256", "outcome": "failed"]) == 1)
        #expect(exposition.value(tasks, ["kind": "other", "outcome": "succeeded"]) == 1)
        #expect(exposition.value(tasks, ["kind": "mystery", "outcome": "succeeded"]) == nil, "no series per unknown kind")
        #expect(exposition.samples(tasks).count == 9, "3 kinds × 3 outcomes")
        #expect(exposition.value(MetricName.bulkheadRejected, ["kind": "sha256"]) == 1)
        #expect(exposition.value("\(MetricName.workerTaskDuration)_count", ["kind": "echo"]) == 3)
        #expect(exposition.value(MetricName.workerConnected) == 1 && metrics.isRegistered)
        metrics.registered(false)
        #expect(Exposition(node.exposition()).value(MetricName.workerConnected) == 0 && !metrics.isRegistered)
        #expect(Exposition(node.exposition()).value(MetricName.participantUnavailable) == 0, "not known to be unavailable")
        metrics.participantAvailable(false)
        #expect(Exposition(node.exposition()).value(MetricName.participantUnavailable) == 1)
        metrics.participantAvailable(true)
        #expect(Exposition(node.exposition()).value(MetricName.participantUnavailable) == 0)
    }

    @Test func bulkheadGaugesAreRefreshedBeforeAScrape() async throws {
        let node = NodeMetrics()
        let bulkhead = try Bulkhead(name: "sha256", configuration: .init(maxConcurrentCalls: 2), clock: ContinuousClock())
        let metrics = WorkerMetrics(factory: node.factory, kinds: ["sha256"], bulkheads: ["sha256": bulkhead])
        try await bulkhead.acquire()
        #expect(Exposition(node.exposition()).value(MetricName.bulkheadInUse, ["kind": "sha256"]) == 0, "not read until refreshed")
        metrics.refresh()
        #expect(Exposition(node.exposition()).value(MetricName.bulkheadInUse, ["kind": "sha256"]) == 1)
        bulkhead.release()
        metrics.refresh()
        #expect(Exposition(node.exposition()).value(MetricName.bulkheadInUse, ["kind": "sha256"]) == 0)
    }
}
