import PhalanxResilience

extension CoordinatorMachine {
    /// Whether a task must run alone on its worker: it lost its worker `maximumAttempts − 1` times,
    /// so one more loss dead-letters it, and that verdict must be its own doing. A worker that dies
    /// takes every task it runs with it; a healthy task that shared workers with a poison task (or
    /// sat through a crash of the whole cluster) lost them too, and must not be judged by them.
    func mustRunAlone(_ record: TaskRecord) -> Bool {
        settings.maximumAttempts > 1 && record.losses > 0 && record.losses + 1 >= settings.maximumAttempts
    }

    /// Sets a task that must run alone (just taken from its queue) aside until a worker is idle
    /// for it. It still counts as queued.
    mutating func setAside(_ number: TaskNumber, into outbox: inout Outbox) {
        let record = tasks[number]!
        runAlone[record.kind, default: []].append(number)
        queuedPerKind[record.kind, default: 0] += 1
        queuedCount += 1
        queuedByPriority[record.priority] += 1
        outbox.actions.append(.log(CoordinatorLogEntry(
            .notice, "a task that lost its worker before waits for a worker to run it alone",
            ["task_id": record.key.taskID, "client": record.key.client, "losses": "\(record.losses)", "trace_id": record.traceID])))
    }

    /// Hands each task set aside to an idle worker of its kind, alone; where none is idle, reserves
    /// one (it takes no new tasks until its running ones finish). At most half the workers (at
    /// least one) run tasks alone or are reserved at once, so that many tasks on their last chance
    /// (after a crash of the whole cluster) do not keep new work waiting behind them.
    mutating func dispatchSetAside(now: Duration, into outbox: inout Outbox) {
        guard !runAlone.isEmpty else { return }
        let cap = max(1, workers.count / 2)
        var used = reservedWorkers.count + workers.values.reduce(0) { $0 + ($1.runsATaskAlone ? 1 : 0) }
        for kind in Array(runAlone.keys).mergeSorted() {
            var waiting: [TaskNumber] = []
            for number in runAlone[kind]! {
                guard let record = tasks[number], case .queued = record.placement else {
                    reserve(nil, for: number)  // finished while set aside (cancelled, expired)
                    continue
                }
                if let reserved = reservation[number], !mayRun(number, alone: kind, on: reserved) { reserve(nil, for: number) }
                if let (worker, permit) = idleWorker(for: number, kind: kind, anyIdle: used < cap, now: now, into: &outbox) {
                    if reservation[number] != worker { used += 1 }  // its own reserved worker was counted already
                    reserve(nil, for: number)
                    queuedPerKind[kind]! -= 1
                    queuedCount -= 1
                    queuedByPriority[record.priority] -= 1
                    workers[worker]!.alone = number
                    dispatch(number, to: worker, permit: permit, now: now, into: &outbox)
                    continue
                }
                if reservation[number] == nil, used < cap, let worker = leastLoadedWorker(serving: kind, excluding: [], accepting: record.payloadBytes) {
                    reserve(worker, for: number)
                    used += 1
                }
                waiting.append(number)
            }
            runAlone[kind] = waiting.isEmpty ? nil : waiting
        }
    }

    /// Reserves `worker` for `number` (nil: releases its reservation). A reserved worker is given
    /// no new tasks (``leastLoadedWorker(serving:excluding:)``).
    private mutating func reserve(_ worker: ConnectionID?, for number: TaskNumber) {
        if let old = reservation.removeValue(forKey: number) { reservedWorkers.remove(old) }
        if let worker {
            reservation[number] = worker
            reservedWorkers.insert(worker)
        }
    }

    /// An idle worker for `number` whose breaker admits it: its reserved worker, else (when
    /// `anyIdle`) any idle one no other task reserved.
    private mutating func idleWorker(
        for number: TaskNumber, kind: String, anyIdle: Bool, now: Duration, into outbox: inout Outbox
    ) -> (ConnectionID, CircuitBreakerPermit?)? {
        var candidates: [ConnectionID] = []
        if let reserved = reservation[number] { candidates.append(reserved) }
        for name in anyIdle ? Array(workerByName.keys).mergeSorted() : [] {
            guard let connection = workerByName[name], let worker = workers[connection] else { continue }
            if worker.running.isEmpty && mayRun(number, alone: kind, on: connection) && !reservedWorkers.contains(connection) { candidates.append(connection) }
        }
        for connection in candidates where workers[connection]!.running.isEmpty {
            if let permit = breakerPermit(for: workers[connection]!.identity.name, now: now, into: &outbox) { return (connection, permit.value) }
        }
        return nil
    }

    private func mayRun(_ number: TaskNumber, alone kind: String, on connection: ConnectionID) -> Bool {
        guard let worker = workers[connection], let record = tasks[number] else { return false }
        return !worker.draining && worker.capacity > 0 && worker.kinds.contains(kind) && worker.accepts(payloadBytes: record.payloadBytes)
    }
}
