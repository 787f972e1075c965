import PhalanxResilience

extension CoordinatorMachine {
    /// Hands queued tasks to workers with free slots: one task per kind in turn, each to the
    /// least-loaded live worker that serves the kind, is not draining and whose breaker admits it.
    /// A task on its last chance after lost workers runs alone on an idle worker (``mustRunAlone(_:)``).
    /// A task goes only to a worker whose frames carry its payload; while none is free it waits at
    /// its queue's head (until its deadline, like a task of a kind no worker serves).
    mutating func assign(now: Duration, into outbox: inout Outbox) {
        guard queuedCount > 0, !workers.isEmpty else { return }
        expireQueuedTasks(now: now, into: &outbox)
        var unordered: [String] = []
        for (kind, queued) in queuedPerKind where queued > 0 { unordered.append(kind) }
        let kinds = unordered.mergeSorted()
        var refusedByBreaker = Set<ConnectionID>()
        // Tasks too large for the frames of every free worker of their kind, taken out of their
        // queue for this pass (so that smaller ones behind them still go) and put back at its head
        // after it. A kind with `maximumSkips` tasks passed over gets no more turns this pass.
        var skipped: [TaskNumber] = []
        var skips: [String: Int] = [:]
        var tooLargeForAll: [String: Int] = [:]
        var firstAttempts: [String: Int] = [:]
        dispatchSetAside(now: now, into: &outbox)
        var setAside = false
        var progress = true
        while progress && queuedCount > 0 {
            progress = false
            for kind in kinds where queuedPerKind[kind, default: 0] > 0 && skips[kind, default: 0] < Self.maximumSkips {
                guard let worker = leastLoadedWorker(serving: kind, excluding: refusedByBreaker) else { continue }
                let name = workers[worker]!.identity.name
                guard let permit = breakerPermit(for: name, now: now, into: &outbox) else {
                    refusedByBreaker.insert(worker)
                    progress = true
                    continue
                }
                guard let number = popQueued(kind) else {
                    if let permit = permit.value { breakers[name]?.release(permit) }
                    continue
                }
                if mustRunAlone(tasks[number]!) {
                    if let permit = permit.value { breakers[name]?.release(permit) }
                    self.setAside(number, into: &outbox)
                    (setAside, progress) = (true, true)
                    continue
                }
                var (target, targetPermit) = (worker, permit)
                let payloadBytes = tasks[number]!.payloadBytes
                if !workers[worker]!.accepts(payloadBytes: payloadBytes) {
                    if let permit = permit.value { breakers[name]?.release(permit) }
                    progress = true
                    guard let other = leastLoadedWorker(serving: kind, excluding: refusedByBreaker, accepting: payloadBytes),
                        let otherPermit = breakerPermit(for: workers[other]!.identity.name, now: now, into: &outbox)
                    else {
                        // It waits for a worker whose frames carry it (one may be busy, draining,
                        // restarting or not yet registered), or until its deadline.
                        skipped.append(number)
                        if !anyWorker(serving: kind, accepts: payloadBytes) { tooLargeForAll[kind, default: 0] += 1 }
                        skips[kind, default: 0] += 1
                        continue
                    }
                    (target, targetPermit) = (other, otherPermit)
                }
                if tasks[number]!.avoid == target,
                    let other = leastLoadedWorker(serving: kind, excluding: refusedByBreaker.union([target]), accepting: payloadBytes),
                    let otherPermit = breakerPermit(for: workers[other]!.identity.name, now: now, into: &outbox)
                {
                    // A retry goes to another worker than the one that failed it, where there is one.
                    if let permit = targetPermit.value { breakers[workers[target]!.identity.name]?.release(permit) }
                    (target, targetPermit) = (other, otherPermit)
                }
                if dispatch(number, to: target, permit: targetPermit.value, now: now, into: &outbox) { firstAttempts[kind, default: 0] += 1 }
                progress = true
            }
        }
        for number in skipped.reversed() { unpop(number) }
        if !tooLargeForAll.isEmpty { warnTooLarge(tooLargeForAll, now: now, into: &outbox) }
        if setAside { dispatchSetAside(now: now, into: &outbox) }
        for (kind, count) in firstAttempts { recordFirstAttempts(count, of: kind, now: now) }
    }

    /// Tasks of one kind passed over for their size in one pass of ``assign(now:into:)``.
    static var maximumSkips: Int { 64 }

    /// Puts a queued task (one just taken from its queue) back at its queue's head.
    mutating func unpop(_ number: TaskNumber) {
        let record = tasks[number]!
        queues[record.kind, default: TaskQueue()].prepend(number, priority: record.priority)
        queuedPerKind[record.kind, default: 0] += 1
        queuedCount += 1
        queuedByPriority[record.priority] += 1
    }

    /// Whether a worker of `kind` is connected (busy or draining) whose frames carry this payload.
    func anyWorker(serving kind: String, accepts payloadBytes: Int) -> Bool {
        workers.values.contains { $0.kinds.contains(kind) && $0.accepts(payloadBytes: payloadBytes) }
    }

    /// The largest payload each connected worker of `kind` can be sent: "w1 49152, w2 23616".
    func payloadLimits(of kind: String) -> String {
        workers.values.filter { $0.kinds.contains(kind) }.map { "\($0.identity.name) \(largestPayload(announced: $0.maximumPayloadBytes))" }.mergeSorted()
            .joined(separator: ", ")
    }

    /// The largest payload the coordinator sends a worker that announced `announced` (0: no bound
    /// of its own): the smaller of that and the coordinator's own limit.
    func largestPayload(announced: Int) -> Int {
        announced == 0 ? settings.maximumPayloadBytes : min(announced, settings.maximumPayloadBytes)
    }

    /// Says, at most once per ``tooLargeWarningInterval``, which kinds have tasks waiting that no
    /// connected worker's frames carry: a worker with a larger `limits.max_frame_bytes` runs them.
    private mutating func warnTooLarge(_ counts: [String: Int], now: Duration, into outbox: inout Outbox) {
        if let last = lastTooLargeWarning, now - last < Self.tooLargeWarningInterval { return }
        lastTooLargeWarning = now
        for kind in Array(counts.keys).mergeSorted() {
            outbox.actions.append(.log(CoordinatorLogEntry(
                .warning, "tasks wait for a worker whose frames carry their payload",
                ["kind": kind, "tasks": "\(counts[kind]!)", "largest_payload_per_worker": payloadLimits(of: kind),
                 "advice": "they run when a worker of the kind with a larger limits.max_frame_bytes registers, or end at their deadline; give every node the same limits.max_frame_bytes"])))
        }
    }

    /// How often ``warnTooLarge(_:now:into:)`` may log.
    static var tooLargeWarningInterval: Duration { .seconds(10) }

    /// Starts the next attempt of a queued task on `worker`; returns whether it was the first.
    @discardableResult
    mutating func dispatch(_ number: TaskNumber, to worker: ConnectionID, permit: CircuitBreakerPermit?, now: Duration, into outbox: inout Outbox) -> Bool {
        tasks[number]!.attempt += 1
        tasks[number]!.placement = .running(worker: worker, permit: permit, since: now)
        let record = tasks[number]!
        workers[worker]!.started(number, payloadBytes: record.body.payloadBytes)
        if record.body.parent == nil { outbox.changes.append(.dispatched(record.key, attempt: record.attempt)) }
        outbox.assignments[worker, default: []].append(TaskAssignment(
            task: number, attempt: record.attempt, spec: record.spec, childID: record.body.parent == nil ? nil : record.key.taskID,
            acceptedAt: record.body.acceptedAt))
        return record.attempt == 1
    }

    /// A permit from the worker's breaker (`.some(nil)` when it has none), or nil when it refuses.
    mutating func breakerPermit(for name: String, now: Duration, into outbox: inout Outbox) -> Box<CircuitBreakerPermit?>? {
        if forcedOpen.contains(name) { return nil }
        guard breakers[name] != nil else { return Box(value: nil) }
        let (decision, transition) = breakers[name]!.acquirePermission(now: now)
        if let transition {
            outbox.actions.append(.log(CoordinatorLogEntry(
                .notice, "worker circuit breaker changed state", ["worker": name, "from": transition.from.rawValue, "to": transition.to.rawValue])))
        }
        switch decision {
        case .permitted(let permit):
            return Box(value: permit)
        case .rejected(let retryAfter):
            let retryAt = now + max(retryAfter, .milliseconds(1))
            breakerRetryAt = min(breakerRetryAt ?? retryAt, retryAt)
            return nil
        }
    }

    /// The free worker of `kind` with the emptiest window (ties: by name) whose frames carry
    /// `payloadBytes`, leaving out `excluded`, reserved workers and those running a task alone.
    func leastLoadedWorker(serving kind: String, excluding excluded: Set<ConnectionID>, accepting payloadBytes: Int = 0) -> ConnectionID? {
        var best: (connection: ConnectionID, load: Double)?
        for (connection, worker) in workers
        where worker.freeCapacity > 0 && !worker.draining && worker.kinds.contains(kind) && !excluded.contains(connection)
            && !worker.runsATaskAlone && (reservedWorkers.isEmpty || !reservedWorkers.contains(connection))
            && worker.accepts(payloadBytes: payloadBytes)
        {
            let load = worker.load
            if best == nil || load < best!.load || (load == best!.load && worker.identity.name < workers[best!.connection]!.identity.name) {
                best = (connection, load)
            }
        }
        return best?.connection
    }

    /// The next task still queued in `kind`'s queue (entries of tasks that finished while queued are skipped).
    mutating func popQueued(_ kind: String) -> TaskNumber? {
        while let number = queues[kind]?.popFirst() {
            guard let record = tasks[number], case .queued = record.placement else {
                staleQueueEntries[kind, default: 1] -= 1
                continue
            }
            queuedPerKind[kind]! -= 1
            queuedCount -= 1
            queuedByPriority[record.priority] -= 1
            return number
        }
        return nil
    }

    /// Drops entries of finished tasks from queues where they outnumber the live ones.
    mutating func compactQueues() {
        for (kind, stale) in staleQueueEntries where stale > 1_024 && stale > queuedPerKind[kind, default: 0] {
            queues[kind]?.retain { number in
                guard case .queued? = tasks[number]?.placement else { return false }
                return true
            }
            staleQueueEntries[kind] = 0
        }
    }
}

/// Tells "no value" apart from "refused" in one optional.
struct Box<Value: Sendable>: Sendable {
    let value: Value
}
