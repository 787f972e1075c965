import PhalanxResilience

extension CoordinatorMachine {
    /// The most task kinds one worker may register.
    static var maximumKindsPerWorker: Int { 1_000 }

    /// A worker connection registered its capacity and kinds.
    public mutating func register(from connection: ConnectionID, _ registration: WorkerRegistration, now: Duration) -> [Action] {
        guard let identity = pendingWorkers[connection] else {
            guard workers[connection] != nil else { return [] }
            return [.close(connection, ErrorContext(
                code: .protocolError, message: "this connection registered already; a worker registers once per connection",
                originNode: settings.nodeName))]
        }
        let badKind = registration.kinds.lazy.compactMap(TaskLimits.kindProblem).first
        guard (1...100_000).contains(registration.capacity), (0...100_000).contains(registration.prefetch),
            registration.maximumInFlightBytes >= 0, registration.maximumPayloadBytes >= 0, !registration.kinds.isEmpty,
            registration.kinds.count <= Self.maximumKindsPerWorker, badKind == nil
        else {
            let which = badKind.map { "; refused: \($0)" } ?? ""
            return [.close(connection, ErrorContext(
                code: .invalidArgument,
                message: "a worker registers with capacity 1...100000, prefetch 0...100000 and 1...\(Self.maximumKindsPerWorker) task kinds of 1-\(TaskLimits.maximumKindBytes) bytes without control characters; got capacity \(registration.capacity), prefetch \(registration.prefetch) and \(registration.kinds.count) kinds\(which)",
                originNode: settings.nodeName))]
        }
        let newest = incarnations[identity.name] ?? 0
        if registration.incarnation != 0, registration.incarnation < newest {
            return [
                .close(connection, ErrorContext(
                    code: .superseded,
                    message: "worker \(identity.name) incarnation \(registration.incarnation) is older than incarnation \(newest), which registered since under the same name (a restart of this worker, or another process started later with its name); this process is superseded and must stop",
                    originNode: settings.nodeName)),
                .log(CoordinatorLogEntry(
                    .warning, "refused an old incarnation of a worker",
                    ["worker": identity.name, "connection": "\(connection)", "incarnation": "\(registration.incarnation)", "newest": "\(newest)"])),
            ]
        }
        var outbox = Outbox()
        if let other = workerByName[identity.name], other != connection, registration.incarnation != 0,
            workers[other]?.incarnation == registration.incarnation
        {
            // The same process connected again: it gave up its old connection, whose tasks it no
            // longer runs, even if that connection has not timed out here yet.
            let reason = "the same worker process (incarnation \(registration.incarnation)) connected again"
            outbox.actions.append(.close(other, ErrorContext(
                code: .unavailable, message: "this connection was replaced: \(reason)", originNode: settings.nodeName)))
            removeWorker(other, declaredDeadBecause: reason, now: now, into: &outbox)
        }
        if let other = workerByName[identity.name], other != connection {
            return [
                .close(connection, ErrorContext(
                    code: .conflict,
                    message: "a worker named \(identity.name) is already registered (connection \(other)) and alive; every worker process needs its own name and certificate. This connection is refused until that worker is gone",
                    originNode: settings.nodeName)),
                .log(CoordinatorLogEntry(.warning, "refused a second worker with a name already in use", ["worker": identity.name, "connection": "\(connection)", "registered_connection": "\(other)"])),
            ]
        }
        pendingWorkers[connection] = nil
        workers[connection] = WorkerPeer(
            identity: identity, capacity: registration.capacity, prefetch: registration.prefetch,
            maximumInFlightBytes: registration.maximumInFlightBytes, maximumPayloadBytes: registration.maximumPayloadBytes,
            kinds: registration.kinds, incarnation: registration.incarnation)
        workerByName[identity.name] = connection
        if registration.incarnation > newest {
            incarnations[identity.name] = registration.incarnation
            outbox.changes.append(.workerIncarnation(name: identity.name, registration.incarnation))
        }
        heartbeats.heard(from: connection, at: now)
        if breakers[identity.name] == nil { breakers[identity.name] = CircuitBreakerMachine(configuration: settings.breaker) }
        outbox.actions.append(.confirmRegistration(
            connection, worker: identity.name, heartbeatInterval: settings.heartbeatInterval, participantStore: participantStores[identity.name]))
        outbox.actions.append(.log(CoordinatorLogEntry(
            .info, "worker registered",
            ["worker": identity.name, "connection": "\(connection)", "capacity": "\(registration.capacity)", "prefetch": "\(registration.prefetch)",
             "max_in_flight_bytes": "\(registration.maximumInFlightBytes)", "max_payload_bytes": "\(largestPayload(announced: registration.maximumPayloadBytes))", "incarnation": "\(registration.incarnation)",
             "kinds": registration.kinds.sorted().joined(separator: ",")])))
        assign(now: now, into: &outbox)
        return finish(&outbox, now: now)
    }

    /// The worker will take no more tasks: it finishes what it runs and hands back the rest.
    public mutating func draining(from connection: ConnectionID, now: Duration) -> [Action] {
        guard let worker = workers[connection], !worker.draining else { return [] }
        workers[connection]!.draining = true
        return [.log(CoordinatorLogEntry(.notice, "worker is draining", ["worker": worker.identity.name, "running": "\(worker.running.count)"]))]
    }

    /// A draining worker stopped these attempts without a result: they go back to the head of
    /// their queues. Losing them this way does not count as losing a worker.
    public mutating func handBack(from connection: ConnectionID, _ returned: [(task: TaskNumber, attempt: UInt32)], now: Duration) -> [Action] {
        guard workers[connection] != nil else { return [] }
        var outbox = Outbox()
        var requeued = 0
        for (number, attempt) in returned {
            guard let record = tasks[number], case .running(let holder, let permit, _) = record.placement, holder == connection,
                record.attempt == attempt
            else { continue }
            if let permit { breakers[workers[connection]!.identity.name]?.release(permit) }
            stopWaiting(number)
            workers[connection]!.stopped(number, payloadBytes: record.body.payloadBytes)
            let name = workers[connection]!.identity.name
            if record.cancelRequested {
                finishWithFailure(
                    number, taskError(.cancelled, "the task was cancelled while it ran, and its draining worker \(name) handed it back before it stopped; it is not run again", for: record),
                    worker: name, now: now, into: &outbox)
                continue
            }
            recordAttemptWithoutResult(
                number, on: name,
                taskError(.unavailable, "worker \(name) handed the attempt back unfinished while it drained (this does not count as a lost worker)", for: record),
                into: &outbox)
            requeueAtHead(number)
            endScope(of: record, because: .handedBack, now: now, into: &outbox)
            requeued += 1
        }
        outbox.actions.append(.log(CoordinatorLogEntry(
            .notice, "a draining worker handed tasks back", ["worker": workers[connection]!.identity.name, "requeued": "\(requeued)"])))
        assign(now: now, into: &outbox)
        return finish(&outbox, now: now)
    }

    /// Removes a worker. With a reason it was declared dead: its running tasks go back to the
    /// queue, or finish `WORKER_LOST` once they have lost `maximumAttempts` workers.
    mutating func removeWorker(_ connection: ConnectionID, declaredDeadBecause reason: String?, now: Duration, into outbox: inout Outbox) {
        guard let worker = workers.removeValue(forKey: connection) else { return }
        let name = worker.identity.name
        if workerByName[name] == connection { workerByName[name] = nil }
        heartbeats.forget(connection)
        var requeued = 0
        var gaveUp = 0
        for number in worker.running.sorted() {
            guard var record = tasks[number] else { continue }
            if case .running(_, let permit?, _) = record.placement { breakers[name]?.release(permit) }
            if record.cancelRequested {
                finishWithFailure(
                    number, taskError(.cancelled, "the task was cancelled while it ran, and its worker \(name) was lost before it stopped", for: record),
                    worker: name, now: now, into: &outbox)
                continue
            }
            record.losses += 1
            tasks[number]!.losses = record.losses
            let lost = taskError(
                .workerLost, reason.map { "worker \(name) was declared dead: \($0)" } ?? "worker \(name) left while the attempt ran", for: record)
            if record.losses >= settings.maximumAttempts {
                gaveUp += 1
                let alone = worker.alone == number && worker.running.count == 1 ? ", the last time while it ran alone on \(name)" : ""
                let error = taskError(
                    .workerLost,
                    "the task lost its worker \(record.losses) times (coordinator.max_attempts = \(settings.maximumAttempts))\(alone); it is not run again and was put in the dead-letter queue (phalanx dlq list, phalanx dlq retry)",
                    for: record, causes: [lost])
                if record.body.parent == nil {
                    outbox.changes.append(.deadLettered(record.key, record.spec, error, attempts: record.attempt))
                    counters.deadLettered += 1
                }
                finishWithFailure(number, error, worker: name, now: now, into: &outbox)
            } else {
                recordAttemptWithoutResult(number, on: name, lost, into: &outbox)
                requeueAtHead(number)
                endScope(of: record, because: .lostWorker(name), now: now, into: &outbox)
                requeued += 1
            }
        }
        if let reason {
            outbox.actions.append(.log(CoordinatorLogEntry(
                .warning, "worker declared dead", ["worker": name, "reason": reason, "requeued": "\(requeued)", "gave_up": "\(gaveUp)"])))
        } else {
            outbox.actions.append(.log(CoordinatorLogEntry(.notice, "worker left", ["worker": name, "finished": "\(worker.finished)"])))
        }
    }

    /// An attempt ended without finishing its task (it failed and is retried, or ended without a
    /// result): it goes into the task's history, which is persisted with the losses so far.
    mutating func recordEarlierAttempt(_ number: TaskNumber, _ attempt: FailedAttempt<Output>, into outbox: inout Outbox) {
        guard tasks[number] != nil else { return }
        tasks[number]!.remember(attempt)
        let record = tasks[number]!
        if record.body.parent == nil { outbox.changes.append(.attemptFailed(record.key, losses: record.losses, history: record.history)) }
    }

    /// The current attempt of a task ended without a result from its worker (lost, handed back,
    /// cut short by a restart), for the reason `why`.
    mutating func recordAttemptWithoutResult(_ number: TaskNumber, on worker: String, _ why: ErrorContext, into outbox: inout Outbox) {
        guard let record = tasks[number] else { return }
        recordEarlierAttempt(number, FailedAttempt(attempt: record.attempt, worker: worker, outcome: .failure(why)), into: &outbox)
    }

    /// Puts a running task back at the head of its kind's queue (its next dispatch is a new attempt).
    mutating func requeueAtHead(_ number: TaskNumber) {
        guard tasks[number] != nil else { return }
        tasks[number]!.placement = .queued
        tasks[number]!.waitingForChildren = false  // its worker's count was settled (or the worker is gone)
        unpop(number)
    }
}
