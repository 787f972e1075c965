import Metrics
import PhalanxCore
import PhalanxResilience
import PhalanxWire
import Tracing

extension Coordinator {
    /// Brings the metrics up to date (before a scrape): the machine's counters and gauges, and the
    /// dead-letter queue's size from the ledger (left as it was when the ledger cannot be read).
    public func refreshMetrics() async {
        guard metrics != nil else { return }
        let deadLetters = try? await ledger.deadLetterCount()
        let snapshot = machine.metricsSnapshot()
        metrics?.update(from: snapshot, deadLetters: deadLetters, openResources: ["task_ledger": stopping ? 0 : 1, "connections": links.count])
    }

    /// Whether the coordinator takes work: its ledger was read back, it listens, and it is not stopping.
    public var isReady: Bool { serving && !stopping && ledgerFailure == nil }

    /// Records what finishes in `changes`: each task's end-to-end latency (with metrics), and the
    /// failed ones for `phalanx status` and the status page.
    func observeFinished(_ changes: [TaskChange<Phalanx_V1_TaskSpec, Phalanx_V1_TaskResult>], latency: Metrics.Timer?, nowUnix: Int64) {
        let now = self.now
        for change in changes {
            guard case .finished(let key, let delivery) = change else { continue }
            if let latency, let acceptedAt = delivery.acceptedAt { latency.recordElapsed(now - acceptedAt) }
            guard delivery.failed else { continue }
            let error: ErrorContext
            switch delivery.outcome {
            case .failure(let context): error = context
            case .reported(let result): error = ErrorContext(wire: result.error)
            }
            recentFailures.add(RecentFailures.Entry(
                unixMilliseconds: nowUnix, client: key.client, taskID: key.taskID, code: error.code.rawValue, message: error.message,
                traceID: error.traceID ?? delivery.traceID ?? "", worker: delivery.worker))
        }
    }

    /// Samples the finished and failed counts for the status page's sparklines.
    public func sampleActivity() {
        let snapshot = machine.metricsSnapshot()
        let failed = snapshot.failures.values.reduce(0, +)
        activity.record(at: now, finished: snapshot.succeeded + failed, failed: failed)
    }

    /// The status page as of now.
    public func statusPage(historyInterval: Int) async -> StatusPage {
        let deadLetters = try? await ledger.deadLetterCount()
        var page = StatusPage(
            coordinator: local.name, cluster: local.cluster, snapshot: machine.metricsSnapshot(), deadLetters: deadLetters,
            history: activity.points, historyInterval: historyInterval, failures: recentFailures.entries,
            generatedUnixMilliseconds: WireTime.nowUnixMilliseconds())
        page.participantProblems = participantProblems
        return page
    }

    /// One `accept` span per submitted task whose id is the task's own span id: the parent of its
    /// `dispatch` spans here and of its `run` spans on workers, so a task's spans form one tree.
    func traceAcceptance(of specs: [Phalanx_V1_TaskSpec], from client: String, tracer: SpanLogTracer) {
        for spec in specs {
            logTaskSpan("accept", of: spec, ownSpan: true, kind: .server, tracer: tracer) { $0["kind"] = spec.kind; $0["client"] = client }
        }
    }

    /// One `dispatch` span per assignment, child of the task's span.
    func traceDispatch(_ assignments: [Phalanx_V1_Assignment], to worker: String, tracer: SpanLogTracer) {
        for assignment in assignments {
            logTaskSpan("dispatch", of: assignment.task, ownSpan: false, kind: .producer, tracer: tracer) {
                $0["attempt"] = Int(assignment.attempt)
                $0["worker"] = worker
            }
        }
    }

    /// Logs a span of one task at once: with the task's own span id (`ownSpan`) or as a new child of it.
    private func logTaskSpan(
        _ operation: String, of spec: Phalanx_V1_TaskSpec, ownSpan: Bool, kind: SpanKind, tracer: SpanLogTracer,
        attributes: (inout SpanAttributes) -> Void
    ) {
        guard let taskTrace = TraceContext(traceID: spec.trace.traceID, spanID: spec.trace.spanID) else { return }
        let context = ownSpan ? InstrumentationContext.phalanxSpan(taskTrace, parentSpanID: nil) : .phalanxSpan(taskTrace.childSpan(), parentSpanID: taskTrace.spanID)
        let span = tracer.startSpan(operation, context: context, ofKind: kind)
        span.updateAttributes { spanAttributes in
            spanAttributes["task_id"] = spec.taskID
            attributes(&spanAttributes)
        }
        span.end()
    }
}
