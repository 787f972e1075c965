import PhalanxResilience

extension CoordinatorMachine {
    /// A client or admin asked for the cluster's status.
    public func statusRequested(from connection: ConnectionID) -> [Action] {
        let workerList = workers.values.sorted { $0.identity.name < $1.identity.name }.map { worker in
            var status = CoordinatorStatus.Worker(
                name: worker.identity.name, capacity: worker.capacity, prefetch: worker.prefetch, inFlight: worker.running.count, kinds: worker.kinds.sorted(),
                finished: worker.finished, breaker: breakerState(of: worker.identity.name), draining: worker.draining)
            status.maximumPayloadBytes = largestPayload(announced: worker.maximumPayloadBytes)
            return status
        }
        var status = CoordinatorStatus(
            workers: workerList, accepted: counters.accepted, succeeded: counters.succeeded, failed: counters.failed,
            expired: counters.expired, queued: queuedCount, running: runningCount, heldBytes: heldBytes, clients: clients.count,
            recovered: counters.recovered)
        status.queuedByPriority = queuedByPriority
        status.retrying = retryingCount
        status.retried = counters.retried
        status.deadLettered = counters.deadLettered
        status.failures = counters.failures
        return [.sendStatus(connection, status)]
    }

    /// An admin listed the per-worker breakers, or forced one open or closed.
    public mutating func breakerCommand(from connection: ConnectionID, _ command: BreakerCommand, now: Duration) -> [Action] {
        guard let admin = clients[connection], admin.identity.role == .admin else { return [] }
        var outbox = Outbox()
        var error: ErrorContext?
        switch command {
        case .list:
            break
        case .forceOpen(let worker), .close(let worker):
            guard breakers[worker] != nil || workerByName[worker] != nil else {
                // The registered workers (a breaker outlives its worker, but listing every departed
                // name would bury the live ones).
                let registered = workerByName.keys.sorted()
                error = ErrorContext(
                    code: .invalidArgument,
                    message: "no worker named '\(worker)' is known; registered workers: \(registered.isEmpty ? "none" : registered.joined(separator: ", "))",
                    originNode: settings.nodeName)
                break
            }
            if case .forceOpen = command {
                forcedOpen.insert(worker)
            } else {
                forcedOpen.remove(worker)
                breakers[worker] = CircuitBreakerMachine(configuration: settings.breaker)
            }
            let state = breakerState(of: worker)
            outbox.actions.append(.log(CoordinatorLogEntry(.notice, "an admin set a worker's circuit breaker", ["worker": worker, "state": state, "admin": admin.identity.name])))
            assign(now: now, into: &outbox)
        }
        let list = Set(breakers.keys).union(workerByName.keys).sorted().map { WorkerBreakerStatus(worker: $0, state: breakerState(of: $0)) }
        outbox.actions.insert(.sendBreakers(connection, list, error), at: 0)
        return finish(&outbox, now: now)
    }

    /// An admin asked a worker to drain and stop.
    public func drainRequested(from connection: ConnectionID, worker name: String) -> [Action] {
        guard let admin = clients[connection], admin.identity.role == .admin else { return [] }
        guard let worker = workerByName[name] else {
            let known = workerByName.keys.sorted()
            return [.sendDrainReply(connection, ErrorContext(
                code: .invalidArgument,
                message: "no worker named '\(name)' is registered; registered: \(known.isEmpty ? "none" : known.joined(separator: ", "))",
                originNode: settings.nodeName))]
        }
        return [
            .requestDrain(worker, requestedBy: admin.identity.name),
            .sendDrainReply(connection, nil),
            .log(CoordinatorLogEntry(.notice, "an admin asked a worker to drain", ["worker": name, "admin": admin.identity.name])),
        ]
    }

    /// closed, open, half_open or forced_open.
    func breakerState(of worker: String) -> String {
        if forcedOpen.contains(worker) { return "forced_open" }
        return breakers[worker]?.state.rawValue ?? CircuitState.closed.rawValue
    }
}
