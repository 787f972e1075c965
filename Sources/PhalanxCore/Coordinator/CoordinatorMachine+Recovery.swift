import PhalanxResilience

extension CoordinatorMachine {
    /// The coordinator (re)started with these unfinished tasks from its ledger, oldest first.
    /// They are queued again: tasks that were running when the last coordinator stopped run again
    /// as the next attempt. Nobody owns them until a client attaches (``attach(from:requestID:taskIDs:now:)``);
    /// until then their results are only kept in the ledger.
    public mutating func restore(_ restored: [RestoredTask<Spec, Output>], now: Duration) -> [Action] {
        var outbox = Outbox()
        for task in restored where taskByKey[task.key] == nil {
            accept(task.task, owner: nil, client: task.key.client, attempt: task.attempt, losses: task.losses, history: task.history, acceptedAt: nil)
            guard let number = taskByKey[task.key], let record = tasks[number] else { continue }
            if !task.cancelRequested, task.attempt > (task.history.last?.attempt ?? 0) {
                // Its last attempt was dispatched and had no outcome when the last coordinator stopped.
                recordAttemptWithoutResult(
                    number, on: "",
                    taskError(.unavailable, "the coordinator restarted while this attempt was dispatched or running (its worker is not recorded)", for: record),
                    into: &outbox)
            }
            guard task.cancelRequested else { continue }
            // Cancelled while it ran, and the coordinator stopped before the worker reported: it is not run again.
            finishWithFailure(
                number, taskError(.cancelled, "the task was cancelled while it ran, and the coordinator restarted before it stopped; it is not run again", for: record),
                worker: nil, now: now, into: &outbox)
        }
        counters.recovered += restored.count
        counters.accepted += UInt64(restored.count)  // so that accepted = succeeded + failed + unfinished after a restart too
        if !restored.isEmpty {
            outbox.actions.append(.log(CoordinatorLogEntry(.notice, "recovered unfinished tasks from the ledger", ["tasks": "\(restored.count)"])))
        }
        expireQueuedTasks(now: now, into: &outbox)
        assign(now: now, into: &outbox)
        return finish(&outbox, now: now)
    }

    /// The coordinator (re)started: the idempotency keys of tasks that finished before, with how long
    /// ago each finished. Call before ``restore(_:now:)``; keys beyond the window or count are dropped.
    public mutating func rememberFinishedKeys(_ keys: [(task: TaskKey, key: String, age: Duration, fingerprint: UInt64?)], now: Duration) {
        for entry in keys.sorted(by: { $0.age > $1.age }) {  // oldest first
            idempotency.finished(entry.task.taskID, client: entry.task.client, key: entry.key, at: now - entry.age, fingerprint: entry.fingerprint)
        }
    }

    /// The coordinator (re)started: resubmissions that stand for unfinished tasks (call after
    /// ``restore(_:now:)``). Nobody waits for them until a client asks by their own ids.
    public mutating func restoreAliases(_ aliases: [(alias: TaskKey, original: String)]) {
        for (alias, original) in aliases {
            guard let number = taskByKey[TaskKey(client: alias.client, taskID: original)] else { continue }
            aliasOf[alias] = number
            tasks[number]!.aliasKeys.append(alias)
        }
    }

    /// The coordinator (re)started: the newest incarnation of each worker name from before.
    public mutating func rememberIncarnations(_ newest: [String: UInt64]) {
        incarnations.merge(newest) { max($0, $1) }
    }

    /// The coordinator (re)started: the participant store each worker last reported.
    public mutating func rememberParticipantStores(_ stores: [String: KnownParticipantStore]) {
        participantStores.merge(stores) { current, _ in current }
        recordedParticipantStores.merge(stores) { current, _ in current }
    }

    /// Whether a worker of this name ever registered (in this start or, from the ledger, before).
    public func knowsWorker(_ name: String) -> Bool { incarnations[name] != nil }

    /// The request fingerprint the task holding idempotency key `key` of `client` was accepted
    /// with (the shell persists it with the task, without hashing the payload again).
    public func requestFingerprint(client: String, idempotencyKey key: String) -> UInt64? {
        idempotency.fingerprint(of: IdempotencyIndex.Key(client: client, key: key))
    }

    /// Every worker name that ever registered.
    public var knownWorkerNames: Set<String> { Set(incarnations.keys) }

    /// An admin retries tasks from the dead-letter queue: each is accepted again under its own
    /// client and task id (a new acceptance, persisted), with fresh attempts, owned by nobody until
    /// its client asks for it. A key that is unfinished again already is skipped (the actions'
    /// `.accepted` changes name the keys taken).
    public mutating func readmit(_ tasks: [RestoredTask<Spec, Output>], now: Duration) -> [Action] {
        var outbox = Outbox()
        for task in tasks where taskByKey[task.key] == nil {
            let key = accept(task.task, owner: nil, client: task.key.client, acceptedAt: now)
            outbox.changes.append(.accepted(key, task.task.spec))
            counters.accepted += 1
        }
        expireQueuedTasks(now: now, into: &outbox)
        assign(now: now, into: &outbox)
        return finish(&outbox, now: now)
    }

    /// A client asks for the outcomes of tasks submitted under its certificate name (by any of its
    /// connections, or before a restart). Unfinished ones are attached to this connection as well:
    /// their results will come here too, and still to every connection that waited for them before.
    /// The rest are looked up in the ledger once everything finished so far is durable.
    public mutating func attach(from connection: ConnectionID, requestID: UInt64, taskIDs: [String], now: Duration) -> [Action] {
        guard let client = clients[connection] else { return [] }
        if let refusal = refusalOfTooManyIDs(taskIDs.count, in: "result", from: connection) { return refusal }
        var outbox = Outbox()
        var pending: [String] = []
        var elsewhere: [String] = []
        var seen = Set<String>()
        for taskID in taskIDs where seen.insert(taskID).inserted {
            let key = TaskKey(client: client.identity.name, taskID: taskID)
            if let number = taskByKey[key] {
                pending.append(taskID)
                watch(number, from: connection, into: &outbox)
            } else if let number = aliasOf[key] {
                pending.append(taskID)  // a resubmission standing for an unfinished task: its result comes under this id
                watch(number, from: connection, as: taskID, into: &outbox)
            } else {
                elsewhere.append(taskID)
            }
        }
        outbox.actions.append(.lookUp(connection, requestID: requestID, taskIDs: elsewhere, pending: pending))
        return finish(&outbox, now: now)
    }

    /// Attaches `connection` to an unfinished task: its result goes there too (and still to every
    /// connection that waited for it before), once per connection; under `taskID` when that is a
    /// resubmission's own id (an idempotent duplicate), as often as it was resubmitted.
    mutating func watch(_ number: TaskNumber, from connection: ConnectionID, as taskID: String? = nil, into outbox: inout Outbox) {
        let bytes = tasks[number]!.payloadBytes
        if let taskID, taskID != tasks[number]!.key.taskID {
            tasks[number]!.aliases.append(Alias(connection: connection, taskID: taskID))
        } else {
            guard tasks[number]!.owner != connection, !tasks[number]!.watchers.contains(connection) else { return }
            attach(number, owner: connection)
        }
        if clients[connection]!.outstanding == 0 { outbox.actions.append(.holdIdleTimeout(connection, true)) }
        clients[connection]!.outstanding += 1
        clients[connection]!.outstandingBytes += bytes
    }

    private mutating func attach(_ number: TaskNumber, owner connection: ConnectionID) {
        if let owner = tasks[number]!.owner, clients[owner] != nil {
            tasks[number]!.watchers.removeAll { clients[$0] == nil }  // connections gone since they asked
            tasks[number]!.watchers.append(connection)
        } else {
            tasks[number]!.owner = connection
        }
    }
}
