import PhalanxResilience

extension CoordinatorMachine {
    /// Whether a failed task counts against its worker's circuit breaker: system failures and
    /// missed deadlines do, but not those that say nothing about the worker's health — a lock
    /// held by another transaction (`CONFLICT`), a superseded attempt, a cancellation.
    static func blamesTheWorker(code: ErrorCode, _ failureClass: FailureClass) -> Bool {
        switch code {
        case .deadlineExceeded: true
        case .conflict, .superseded, .cancelled: false
        default: failureClass == .system
        }
    }

    /// A worker reported finished attempts. A result counts only for the current attempt on the
    /// worker that holds it (fencing); anything else is dropped and counted.
    public mutating func results(from connection: ConnectionID, _ reported: [ReportedResult<Output>], now: Duration) -> [Action] {
        guard workers[connection] != nil else {
            counters.staleResults += UInt64(reported.count)
            return [.log(CoordinatorLogEntry(
                .info, "dropped results from a worker connection that is not registered (declared dead or never registered)",
                ["connection": "\(connection)", "count": "\(reported.count)"]))]
        }
        heartbeats.heard(from: connection, at: now)
        let name = workers[connection]!.identity.name
        var outbox = Outbox()
        var stale = 0
        var budgetSpent: [String: Int] = [:]
        for result in reported {
            guard let record = tasks[result.task], case .running(let holder, let permit, let since) = record.placement,
                holder == connection, record.attempt == result.attempt
            else {
                stale += 1
                continue
            }
            if let permit, result.neverStarted {
                // It waited on the worker (prefetched) and never ran: as if it had waited here.
                breakers[name]?.release(permit)
            } else if let permit {
                let failed = result.failure.map { Self.blamesTheWorker(code: $0.code, $0.failureClass) } ?? false
                if let transition = breakers[name]?.record(permit, outcome: failed ? .failure : .success, duration: now - since, now: now) {
                    outbox.actions.append(.log(CoordinatorLogEntry(
                        transition.to == .open ? .warning : .notice, "worker circuit breaker changed state",
                        ["worker": name, "from": transition.from.rawValue, "to": transition.to.rawValue])))
                }
            }
            stopWaiting(result.task)
            workers[connection]!.stopped(result.task, payloadBytes: record.body.payloadBytes)
            workers[connection]!.finished += 1
            var retry = result.failure.map { $0.failureClass == .system } ?? false && !record.cancelRequested && record.mayRetryAfterAFailure
            if retry && !withdrawRetry(of: record.kind, now: now) {
                budgetSpent[record.kind, default: 0] += 1
                retry = false
            }
            if retry {
                scheduleRetry(result.task, after: FailedAttempt(attempt: record.attempt, worker: name, outcome: .reported(result.output)), from: connection, now: now, into: &outbox)
                endScope(of: record, because: .failedAndRetried, now: now, into: &outbox)
                continue
            }
            _ = removeTask(result.task, now: now)
            if let failure = result.failure {
                countFailure(FailureKind(code: failure.code, failureClass: failure.failureClass))
                outbox.actions.append(.log(failureLog(of: record, code: failure.code, worker: name)))
            } else {
                counters.succeeded += 1
            }
            var delivery = TaskDelivery(
                taskID: record.key.taskID, attempt: record.attempt, worker: name, outcome: .reported(result.output), history: record.history)
            delivery.reportedFailure = result.failure != nil
            finished(record, delivery, now: now, into: &outbox)
        }
        if !budgetSpent.isEmpty { logRetryBudgetSpent(budgetSpent, into: &outbox) }
        if stale > 0 {
            counters.staleResults += UInt64(stale)
            outbox.actions.append(.log(CoordinatorLogEntry(
                .info, "dropped results of superseded attempts", ["worker": name, "count": "\(stale)"])))
        }
        assign(now: now, into: &outbox)
        return finish(&outbox, now: now)
    }

    /// Kept out of ``results(from:_:now:)``: with this loop inlined there, cross-module optimization
    /// no longer serializes `results`, and the shell runs it unspecialized (measured: −13 % throughput).
    private func logRetryBudgetSpent(_ spent: [String: Int], into outbox: inout Outbox) {
        for (kind, count) in spent.sorted(by: { $0.key < $1.key }) {
            outbox.actions.append(.log(CoordinatorLogEntry(
                .warning, "system failures not retried: the kind's retry budget is spent (retry.budget_percent of its first attempts)",
                ["kind": kind, "failures": "\(count)"])))
        }
    }
}
