import PhalanxResilience

/// How a parent's children end when one of them fails.
public enum ChildPolicy: Sendable, Hashable {
    /// The first failed child cancels its unfinished siblings, wherever they run.
    case failFast
    /// Every child runs to its own end.
    case all
}

extension CoordinatorMachine {
    /// The most children one attempt may start in one request.
    public static var maximumChildrenPerRequest: Int { 1_000 }

    /// A running attempt starts child tasks in its scope (structured concurrency across nodes).
    /// Children are tasks of the parent's client, named `<parent id>/<attempt>/<name>`; they run
    /// on any worker, their deadline is at most the parent's, and their results go back to the
    /// attempt that started them. They end with it: when it finishes, is lost, retried, handed
    /// back or cancelled, its unfinished children are cancelled (and theirs in turn).
    public mutating func spawn(
        from connection: ConnectionID, requestID: UInt64, parent number: TaskNumber, attempt: UInt32, children: [SubmittedTask<Spec>],
        policy: ChildPolicy, now: Duration
    ) -> [Action] {
        guard workers[connection] != nil else { return [] }
        func refused(_ code: ErrorCode, _ message: String) -> [Action] {
            [.spawnReply(connection, requestID: requestID, accepted: 0, ErrorContext(code: code, message: message, originNode: settings.nodeName))]
        }
        guard let parent = tasks[number], case .running(let holder, _, _) = parent.placement, holder == connection, parent.attempt == attempt else {
            return refused(.conflict, "attempt \(attempt) of task \(number) is not running on this connection (it finished, was cancelled or runs elsewhere); its children were not started")
        }
        guard !parent.cancelRequested else {
            return refused(.cancelled, "task \(parent.key.taskID) is being cancelled; its children were not started")
        }
        guard (1...Self.maximumChildrenPerRequest).contains(children.count) else {
            return refused(.invalidArgument, "a spawn request starts 1-\(Self.maximumChildrenPerRequest) children, got \(children.count)")
        }
        var names = Set<String>()
        var bytes = 0
        for child in children {
            let nameBytes = child.taskID.utf8.count
            guard (1...TaskLimits.maximumKindBytes).contains(nameBytes), !child.taskID.contains("/") else {
                return refused(.invalidArgument, "a child's name must be 1-\(TaskLimits.maximumKindBytes) bytes without '/', got '\(child.taskID)'")
            }
            guard names.insert(child.taskID).inserted, taskByKey[childKey(of: parent, attempt: attempt, name: child.taskID)] == nil else {
                return refused(.invalidArgument, "child name '\(child.taskID)' is used twice in attempt \(attempt) of task \(parent.key.taskID); give every child its own name")
            }
            if let problem = TaskValidation.problem(with: child, maximumPayloadBytes: settings.maximumPayloadBytes) {
                return refused(.invalidArgument, "child '\(child.taskID)': \(problem)")
            }
            bytes += child.payloadBytes
        }
        guard tasks.count + children.count <= settings.maximumQueuedTasks, heldBytes + bytes <= settings.maximumQueuedBytes else {
            return refused(.overloaded, "the coordinator's queue is full (coordinator.max_queued_tasks / max_queued_bytes); no child was started")
        }
        var outbox = Outbox()
        for var child in children {
            let name = child.taskID
            child.taskID = childKey(of: parent, attempt: attempt, name: name).taskID
            child.idempotencyKey = nil  // a child's identity is its place in the tree
            if let limit = parent.body.deadline { child.deadline = min(child.deadline ?? limit, limit) }  // the parent's deadline bounds it
            accept(
                child, owner: nil, client: parent.key.client,
                parent: ParentLink(number: number, attempt: attempt, name: name, failFast: policy == .failFast), acceptedAt: now)
            tasks[number]!.children.append(nextTaskNumber)
        }
        if !tasks[number]!.waitingForChildren {
            // While it waits, its slot runs other work (its own children, say).
            tasks[number]!.waitingForChildren = true
            workers[connection]!.waiting += 1
        }
        counters.accepted += UInt64(children.count)
        outbox.actions.append(.spawnReply(connection, requestID: requestID, accepted: children.count, nil))
        expireQueuedTasks(now: now, into: &outbox)
        assign(now: now, into: &outbox)
        return finish(&outbox, now: now)
    }

    private func childKey(of parent: TaskRecord, attempt: UInt32, name: String) -> TaskKey {
        TaskKey(client: parent.key.client, taskID: "\(parent.key.taskID)/\(attempt)/\(name)")
    }

    /// A child finished: its result goes to the parent's attempt if that still runs; with the
    /// fail-fast policy a failure cancels its unfinished siblings.
    mutating func childFinished(_ record: TaskRecord, _ delivery: TaskDelivery<Output>, parent link: ParentLink, now: Duration, into outbox: inout Outbox) {
        guard let parent = tasks[link.number], parent.attempt == link.attempt, let index = parent.children.firstIndex(of: record.body.number) else {
            return  // its parent's attempt ended first: nobody waits for this result
        }
        tasks[link.number]!.children.remove(at: index)
        if tasks[link.number]!.children.isEmpty { stopWaiting(link.number) }
        if case .running(let worker, _, _) = parent.placement {
            outbox.childResults[worker, default: []].append(
                ChildResult(parent: link.number, parentAttempt: link.attempt, name: link.name, delivery: delivery))
        }
        if delivery.failed && link.failFast {
            for sibling in tasks[link.number]!.children {
                cancelTask(sibling, "its sibling '\(link.name)' failed (fail-fast policy of parent task \(parent.key.taskID))", now: now, into: &outbox)
            }
        }
    }

    /// Why a parent's attempt ended: the reason its unfinished children are cancelled with. A
    /// value rather than a message, so that nothing is formatted for the many tasks without children.
    enum ScopeEnd {
        case finished
        case failedAndRetried
        case handedBack
        case lostWorker(String)
        /// The parent itself was cancelled, for this reason.
        case cancelled(String)

        func reason(parent taskID: String) -> String {
            switch self {
            case .finished: "its parent task \(taskID) finished"
            case .failedAndRetried: "its parent task \(taskID) failed and is retried"
            case .handedBack: "its parent task \(taskID) was handed back by a draining worker"
            case .lostWorker(let worker): "its parent task \(taskID) lost its worker \(worker)"
            case .cancelled(let reason): reason
            }
        }
    }

    /// Cancels the unfinished children of `record`'s attempt, wherever they run.
    mutating func endScope(of record: TaskRecord, because end: ScopeEnd, now: Duration, into outbox: inout Outbox) {
        guard !record.children.isEmpty else { return }
        if let number = taskByKey[record.key], tasks[number]?.body === record.body {
            tasks[number]!.children = []
            stopWaiting(number)
        }
        let reason = end.reason(parent: record.key.taskID)
        for child in record.children { cancelTask(child, reason, now: now, into: &outbox) }
    }

    /// A parent no longer waits for children (none left, or its attempt leaves its worker): its
    /// slot counts as busy again.
    mutating func stopWaiting(_ number: TaskNumber) {
        guard tasks[number]?.waitingForChildren == true else { return }
        tasks[number]!.waitingForChildren = false
        if case .running(let worker, _, _) = tasks[number]!.placement, workers[worker] != nil { workers[worker]!.waiting -= 1 }
    }

    /// Cancels one task: a queued one finishes `CANCELLED` at once; a running one's worker is told
    /// to stop it (and its children are cancelled now, not when it reports).
    mutating func cancelTask(_ number: TaskNumber, _ reason: String, now: Duration, into outbox: inout Outbox) {
        guard let record = tasks[number] else { return }
        switch record.placement {
        case .queued, .retrying:
            let message = record.attempt == 0
                ? "the task was cancelled before it ran (\(reason)); it was not run"
                : "the task was cancelled while it waited to run again after \(record.attempt) attempt(s) (\(reason)); it is not run again"
            finishWithFailure(number, taskError(.cancelled, message, for: record), worker: nil, now: now, into: &outbox)
        case .running(let worker, _, _):
            guard !record.cancelRequested else { return }
            tasks[number]!.cancelRequested = true
            if record.body.parent == nil { outbox.changes.append(.cancelRequested(record.key)) }
            outbox.stops[worker, default: []].append((number, record.attempt))
            endScope(of: record, because: .cancelled(reason), now: now, into: &outbox)
        }
    }

}

extension CoordinatorMachine {
    /// The task whose attempt `attempt` runs as `number` on `connection`; nil when that attempt is
    /// not running there (it finished, was lost, retried or superseded). Fences what an attempt
    /// may still do, such as applying its effects through a transaction.
    public func runningTask(_ number: TaskNumber, attempt: UInt32, on connection: ConnectionID) -> TaskKey? {
        guard let task = tasks[number], case .running(let holder, _, _) = task.placement, holder == connection, task.attempt == attempt else { return nil }
        return task.key
    }
}
