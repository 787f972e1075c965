import PhalanxResilience

extension CoordinatorMachine {
    /// A client submitted a batch. It is accepted whole or refused whole: either every task in it
    /// will get exactly one result, or none was taken and the refusal says why.
    public mutating func submit(
        from connection: ConnectionID, requestID: UInt64, batchTrace: TraceContext, tasks batch: [SubmittedTask<Spec>], now: Duration
    ) -> [Action] {
        guard let client = clients[connection] else { return [] }
        if let (error, reason) = refusal(of: batch, from: client.identity, batchTrace: batchTrace, now: now) {
            counters.rejections[reason, default: 0] += UInt64(max(batch.count, 1))
            var logged = ["client": client.identity.name, "connection": "\(connection)", "code": error.code.rawValue, "trace_id": batchTrace.traceID]
            logged["tasks"] = "\(batch.count)"
            return [.refuse(connection, requestID: requestID, error), .log(CoordinatorLogEntry(.info, "refused a submitted batch: \(error.message)", logged))]
        }
        var outbox = Outbox()
        guard !batch.isEmpty else {
            outbox.actions.append(.acknowledge(connection, requestID: requestID, accepted: 0, duplicates: 0))
            return finish(&outbox, now: now)
        }
        buckets[client.identity.name]!.take(batch.count, at: now)
        var duplicates = 0
        var finishedOriginals: [Duplicate] = []
        var acceptedBytes = 0
        for task in batch {
            if let key = task.idempotencyKey, let entry = idempotency.entry(for: .init(client: client.identity.name, key: key), now: now) {
                // A resubmission: it gets the result of the task that has its key, which never runs twice.
                duplicates += 1
                let alias = TaskKey(client: client.identity.name, taskID: task.taskID)
                switch entry {
                case .unfinished(let number, let original):
                    if original != task.taskID {
                        outbox.changes.append(.aliased(alias, original: original))
                        aliasOf[alias] = number
                        tasks[number]!.aliasKeys.append(alias)
                    }
                    watch(number, from: connection, as: task.taskID, into: &outbox)
                case .finished(let original, _):
                    if original != task.taskID { outbox.changes.append(.aliased(alias, original: original)) }
                    finishedOriginals.append(Duplicate(taskID: task.taskID, original: original))
                }
                continue
            }
            let key = accept(task, owner: connection, client: client.identity.name, acceptedAt: now)
            outbox.changes.append(.accepted(key, task.spec))
            acceptedBytes += task.payloadBytes
        }
        let acceptedCount = batch.count - duplicates
        counters.accepted += UInt64(acceptedCount)
        if clients[connection]!.outstanding == 0 && acceptedCount > 0 { outbox.actions.append(.holdIdleTimeout(connection, true)) }
        clients[connection]!.outstanding += acceptedCount
        clients[connection]!.outstandingBytes += acceptedBytes
        // The tasks' acceptance is persisted first (finish puts it at the head): the shell sends
        // this acknowledgement only once it is durable, and the stored results of finished
        // originals after it.
        outbox.actions.insert(.acknowledge(connection, requestID: requestID, accepted: batch.count, duplicates: duplicates), at: 0)
        if !finishedOriginals.isEmpty {
            outbox.actions.append(.deliverStored(connection, finishedOriginals))
        }
        expireQueuedTasks(now: now, into: &outbox)
        assign(now: now, into: &outbox)
        return finish(&outbox, now: now)
    }

    @discardableResult
    mutating func accept(
        _ task: SubmittedTask<Spec>, owner: ConnectionID?, client: String, attempt: UInt32 = 0, losses: UInt32 = 0,
        history: [FailedAttempt<Output>] = [], parent: ParentLink? = nil, acceptedAt: Duration?
    ) -> TaskKey {
        nextTaskNumber += 1
        let number = nextTaskNumber
        let key = TaskKey(client: client, taskID: task.taskID)
        var record = TaskRecord(
            body: TaskBody(
                number: number, key: key, kind: task.kind, payloadBytes: task.payloadBytes, traceID: task.traceID, spanID: task.spanID, spec: task.spec,
                idempotencyKey: task.idempotencyKey, deadline: task.deadline, parent: parent, acceptedAt: acceptedAt),
            owner: owner, attempt: attempt, losses: losses)
        record.maxAttempts = UInt32(clamping: max(1, task.maxAttempts ?? settings.retryAttemptsPerKind[task.kind] ?? settings.retry.maxAttempts))
        record.priority = task.priority
        if !history.isEmpty { record.restoreHistory(history) }  // almost always empty: a new task
        tasks[number] = record
        taskByKey[key] = number
        idempotency.accepted(task.taskID, client: client, key: task.idempotencyKey, number: number, fingerprint: task.fingerprint)
        queues[task.kind, default: TaskQueue()].append(number, priority: task.priority)
        queuedPerKind[task.kind, default: 0] += 1
        queuedCount += 1
        queuedByPriority[task.priority] += 1
        heldBytes += task.payloadBytes
        if let deadline = task.deadline {
            deadlines.insert(number, deadline: deadline)
            // Finished tasks' entries are dropped once they could be half the heap: it stays within
            // twice the tasks held (plus slack), in amortized O(1) per task, whatever the timeouts.
            if deadlines.count > 2 * tasks.count + 1_024 { deadlines.removeAll { tasks[$0] == nil } }
        }
        return key
    }

    /// Why `batch` cannot be accepted, or nil. Checks every task before any is taken.
    private mutating func refusal(
        of batch: [SubmittedTask<Spec>], from client: NodeIdentity, batchTrace: TraceContext, now: Duration
    ) -> (error: ErrorContext, reason: AdmissionRejection)? {
        func refused(
            _ code: ErrorCode, _ message: String, task: SubmittedTask<Spec>? = nil, retryAfter: Duration? = nil, reason: AdmissionRejection? = nil
        ) -> (error: ErrorContext, reason: AdmissionRejection) {
            var error = ErrorContext(
                code: code, message: message, traceID: task.map(\.traceID) ?? batchTrace.traceID,
                spanID: task.map(\.spanID) ?? batchTrace.spanID, originNode: settings.nodeName, taskID: task?.taskID)
            error.retryAfter = retryAfter
            return (error, reason ?? (code == .invalidArgument ? .invalid : .overloaded))
        }
        guard batch.count <= settings.admissionBurst else {
            return refused(
                .invalidArgument,
                "a batch of \(batch.count) tasks is larger than this client's admission burst of \(settings.admissionBurst); send smaller batches (phalanx submit --batch \(settings.admissionBurst))")
        }
        var batchBytes = 0
        var idsInBatch = Set<TaskKey>()  // by bytes, as the ledger tells ids apart
        idsInBatch.reserveCapacity(batch.count)
        var keysInBatch: [IdempotencyIndex.Key: (taskID: String, fingerprint: UInt64?)] = [:]
        for task in batch {
            if let problem = TaskValidation.problem(with: task, maximumPayloadBytes: settings.maximumPayloadBytes) {
                return refused(.invalidArgument, "the batch was refused whole: \(problem)", task: task)
            }
            guard idsInBatch.insert(TaskKey(client: client.name, taskID: task.taskID)).inserted else {
                return refused(
                    .invalidArgument,
                    "the batch was refused whole: task id '\(task.taskID)' appears twice in it; give every task its own id", task: task)
            }
            if let key = task.idempotencyKey {
                // A resubmission (of an earlier task, or of one earlier in this batch) is answered with that task.
                let indexKey = IdempotencyIndex.Key(client: client.name, key: key)
                let earlier: (taskID: String, fingerprint: UInt64?)?
                if let inBatch = keysInBatch[indexKey] {
                    earlier = inBatch
                } else if let entry = idempotency.entry(for: indexKey, now: now) {
                    earlier = (entry.taskID, idempotency.fingerprint(of: indexKey))
                } else {
                    earlier = nil
                    keysInBatch[indexKey] = (task.taskID, task.fingerprint)
                }
                if let earlier {
                    if let theirs = earlier.fingerprint, let ours = task.fingerprint, theirs != ours {
                        return refused(
                            .invalidArgument,
                            "the batch was refused whole: task \(task.taskID) reuses idempotency key '\(key.prefix(64))' of task \(earlier.taskID), which asked for another kind or payload; a key stands for one request: give a different request a new key",
                            task: task)
                    }
                    continue
                }
            }
            let key = TaskKey(client: client.name, taskID: task.taskID)
            if taskByKey[key] != nil || (!aliasOf.isEmpty && aliasOf[key] != nil) {
                return refused(
                    .invalidArgument,
                    "the batch was refused whole: task id '\(task.taskID)' is already queued or running for client \(client.name); task ids must be unique among a client certificate's unfinished tasks",
                    task: task)
            }
            batchBytes += task.payloadBytes
        }
        // A batch larger than the bounds themselves would be refused as OVERLOADED forever.
        if batch.count > settings.maximumQueuedTasks || batchBytes > settings.maximumQueuedBytes {
            return refused(
                .invalidArgument,
                "a batch of \(batch.count) tasks with \(batchBytes) payload bytes can never fit this coordinator, which holds at most \(settings.maximumQueuedTasks) tasks (coordinator.max_queued_tasks) and \(settings.maximumQueuedBytes) payload bytes (coordinator.max_queued_bytes); send smaller batches or raise the bounds")
        }
        if tasks.count + batch.count > settings.maximumQueuedTasks {  // queued, running and waiting out a retry
            return refused(
                .overloaded,
                "the coordinator holds \(tasks.count) unfinished tasks and takes at most \(settings.maximumQueuedTasks) (coordinator.max_queued_tasks); \(batch.count) more do not fit, retry later",
                retryAfter: .seconds(1))
        }
        if heldBytes + batchBytes > settings.maximumQueuedBytes {
            return refused(
                .overloaded,
                "the coordinator holds \(heldBytes) payload bytes and takes at most \(settings.maximumQueuedBytes) (coordinator.max_queued_bytes); \(batchBytes) more do not fit, retry later",
                retryAfter: .seconds(1))
        }
        if batch.isEmpty { return nil }
        let bucket = buckets[client.name] ?? TokenBucket(capacity: settings.admissionBurst, perSecond: settings.admissionTasksPerSecond)
        buckets[client.name] = bucket
        let wait = bucket.waitTime(for: batch.count, at: now)
        if wait > .zero {
            return refused(
                .overloaded,
                "client \(client.name) is over its admission rate of \(settings.admissionTasksPerSecond) tasks/s (burst \(settings.admissionBurst)); retry after \(wait.wholeMillisecondsRoundedUp) ms",
                retryAfter: wait, reason: .rateLimited)
        }
        return nil
    }

    /// Finishes queued tasks whose deadline has passed with `DEADLINE_EXCEEDED`; they are never dispatched.
    mutating func expireQueuedTasks(now: Duration, into outbox: inout Outbox) {
        for number in deadlines.popExpired(at: now) {
            guard let record = tasks[number] else { continue }  // finished before its deadline
            if case .running = record.placement {
                continue  // running: the worker enforces the deadline and reports DEADLINE_EXCEEDED itself
            }
            counters.expired += 1
            let waited: String
            if case .retrying = record.placement {
                waited = "while it waited out the backoff before retry \(record.attempt + 1) (\(record.attempt) attempt(s) failed)"
            } else {
                waited = record.attempt == 0 ? "in the queue" : "in the queue after \(record.attempt) attempt(s)"
            }
            var notRun = record.attempt == 0 ? " (no worker took it in time); it was not run" : "; it is not run again"
            if !anyWorker(serving: record.kind, accepts: record.payloadBytes), workers.values.contains(where: { $0.kinds.contains(record.kind) }) {
                notRun += ". Its payload (\(record.payloadBytes) bytes) is larger than every connected worker of kind \(record.kind) can be sent (largest payload per worker: \(payloadLimits(of: record.kind)) bytes, limits.max_frame_bytes - \(TaskLimits.frameReserveBytes)); give every node the same limits.max_frame_bytes"
            }
            finishWithFailure(
                number, taskError(.deadlineExceeded, "the task's deadline passed \(waited)\(notRun)", for: record),
                worker: nil, now: now, into: &outbox)
        }
    }
}

/// The checks on one submitted task's fields; the answer says what is wrong and what to do.
enum TaskValidation {
    static func problem<Spec>(with task: SubmittedTask<Spec>, maximumPayloadBytes: Int) -> String? {
        let idBytes = task.taskID.utf8.count
        if idBytes == 0 || idBytes > TaskLimits.maximumTaskIDBytes {
            return "task_id must be 1-\(TaskLimits.maximumTaskIDBytes) bytes (got \(idBytes)); give every task an id unique for this client"
        }
        if let problem = TaskLimits.kindProblem(task.kind) {
            return "task \(task.taskID): \(problem), e.g. echo, sleep, sha256, fail"
        }
        if task.payloadBytes > maximumPayloadBytes {
            return "task \(task.taskID): a payload of \(task.payloadBytes) bytes is larger than the largest accepted, \(maximumPayloadBytes) bytes (limits.max_frame_bytes - \(TaskLimits.frameReserveBytes))"
        }
        if let key = task.idempotencyKey, key.isEmpty || key.utf8.count > TaskLimits.maximumIdempotencyKeyBytes {
            return "task \(task.taskID): an idempotency key must be 1-\(TaskLimits.maximumIdempotencyKeyBytes) bytes (got \(key.utf8.count)); leave it out for none"
        }
        if let attempts = task.maxAttempts, !(1...TaskLimits.maximumAttempts).contains(attempts) {
            return "task \(task.taskID): max_attempts must be 1-\(TaskLimits.maximumAttempts) (0 for the kind's default), got \(attempts)"
        }
        if TraceContext(traceID: task.traceID, spanID: task.spanID) == nil {
            return "task \(task.taskID): trace id '\(task.traceID)' / span id '\(task.spanID)' is not a W3C trace context (32 and 16 lower-case hex digits, not all zero); send a valid one or none"
        }
        return nil
    }
}

extension Duration {
    /// Whole milliseconds, rounded up (a retry-after is never shorter than needed).
    public var wholeMillisecondsRoundedUp: Int64 {
        let (seconds, attoseconds) = components
        let remainder: Int64 = attoseconds % 1_000_000_000_000_000 == 0 ? 0 : 1
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000 + remainder
    }
}
