import PhalanxResilience
import PhalanxWire

extension TaskOutcome {
    init(wire: Phalanx_V1_TaskResult) {
        let result: Result<[UInt8], ErrorContext>
        switch wire.outcome {
        case .output(let data): result = .success(Array(data))
        case .error(let error): result = .failure(ErrorContext(wire: error))
        case nil: result = .failure(ErrorContext(code: .internal, message: "a result arrived with neither output nor error"))
        }
        self.init(
            taskID: wire.taskID, worker: wire.worker.isEmpty ? nil : wire.worker, attempt: wire.attempt, result: result,
            history: wire.history.map { FailedAttempt(attempt: $0.attempt, worker: $0.worker, error: ErrorContext(wire: $0.error), lost: $0.lost) })
        original = wire.originalTaskID.isEmpty ? nil : wire.originalTaskID
    }
}

extension ClusterStatus {
    init(wire: Phalanx_V1_StatusReply) {
        self.init(
            coordinator: wire.coordinator,
            workers: wire.workers.map {
                Worker(
                    name: $0.name, capacity: $0.capacity, prefetch: $0.prefetch, inFlight: $0.inFlight, kinds: $0.kinds, finished: $0.finished,
                    breaker: $0.breaker.isEmpty ? "closed" : $0.breaker, draining: $0.draining, kindsOmitted: $0.kindsOmitted,
                    participantProblem: $0.participantProblem.isEmpty ? nil : $0.participantProblem,
                    maximumPayloadBytes: $0.maxPayloadBytes == 0 ? nil : $0.maxPayloadBytes)
            },
            tasksAccepted: wire.tasksAccepted, tasksSucceeded: wire.tasksSucceeded, tasksFailed: wire.tasksFailed,
            tasksQueued: wire.tasksQueued, tasksRunning: wire.tasksRunning, tasksExpired: wire.tasksExpired,
            queuedBytes: wire.queuedBytes, clients: wire.clients, tasksRecovered: wire.tasksRecovered)
        (queuedHigh, queuedNormal, queuedLow) = (wire.queuedHigh, wire.queuedNormal, wire.queuedLow)
        (tasksRetrying, tasksRetried, tasksDeadLettered) = (wire.tasksRetrying, wire.tasksRetried, wire.tasksDeadLettered)
        failures = wire.failures.map {
            FailureCount(code: $0.code, failureClass: FailureClass(wire: $0.failureClass, fallback: .system).rawValue, count: $0.count)
        }
        workersOmitted = wire.workersOmitted
        recentFailuresOmitted = wire.recentFailuresOmitted
        recentFailures = wire.recentFailures.map {
            RecentFailure(
                client: $0.client, taskID: $0.taskID, code: $0.code, message: $0.message, traceID: $0.traceID,
                worker: $0.worker.isEmpty ? nil : $0.worker, unixMilliseconds: $0.unixMs)
        }
    }
}

extension TaskOutcome {
    /// An outcome without a run: `taskID` failed with `error` before any worker reported.
    static func failed(_ taskID: String, _ error: ErrorContext) -> TaskOutcome {
        TaskOutcome(taskID: taskID, worker: nil, attempt: 0, result: .failure(error))
    }
}
