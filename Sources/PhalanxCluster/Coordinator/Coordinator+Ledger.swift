import Foundation
import Logging
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxWire
import SwiftProtobuf

/// The coordinator's side of durability: recovery at start, turning the machine's changes into
/// ledger changes, holding visible actions until what precedes them is durable, and answering
/// result requests from the ledger.
extension Coordinator {
    /// Starts a new incarnation and puts every unfinished task of the ledger back into the machine.
    func recover() async throws(LedgerError) {
        let incarnation = try await ledger.beginIncarnation()
        machine = Machine(
            settings: configuration.machineSettings(nodeName: local.name), firstTaskNumber: Machine.firstTaskNumber(incarnation: incarnation))
        let stored = try await ledger.unfinishedTasks()
        let now = self.now
        let nowUnix = WireTime.nowUnixMilliseconds()
        let settings = machine.settings
        let keyed = try await ledger.finishedIdempotencyKeys(
            since: nowUnix - settings.idempotencyWindow.wholeMilliseconds, limit: settings.maximumIdempotencyKeys)
        machine.rememberFinishedKeys(
            keyed.map { ($0.task, $0.key, .milliseconds(max(0, nowUnix - $0.finishedUnixMilliseconds)), $0.requestFingerprint) }, now: now)
        var restored: [RestoredTask<Phalanx_V1_TaskSpec, Phalanx_V1_TaskResult>] = []
        restored.reserveCapacity(stored.count)
        var unreadable: [LedgerChange] = []
        for task in stored {
            guard let spec = try? Phalanx_V1_TaskSpec(serializedBytes: task.spec) else {
                logger.error("an unreadable task in the ledger is finished as INTERNAL", metadata: ["task": "\(task.key)"])
                var result = Phalanx_V1_TaskResult()
                result.taskID = task.key.taskID
                result.error = ErrorContext(
                    code: .internal, message: "the coordinator could not read this task back from its ledger after a restart; it was not run again",
                    originNode: local.name, taskID: task.key.taskID
                ).wire
                unreadable.append(.finished(task.key, result: BatchFrame.serialized(result), finishedUnixMilliseconds: nowUnix))
                continue
            }
            restored.append(RestoredTask(
                key: task.key, task: submittedTask(spec, now: now, nowUnix: nowUnix), attempt: task.attempt, losses: task.losses,
                cancelRequested: task.cancelRequested, history: task.history.map { failedAttempts(of: task.key, stored: $0) } ?? []))
        }
        if !unreadable.isEmpty { writer.enqueue(unreadable) }
        let knownWorkers = try await ledger.workerIncarnations()
        machine.rememberIncarnations(knownWorkers)
        machine.rememberParticipantStores(try await ledger.workerParticipantStores())
        if !knownWorkers.isEmpty {
            // Workers that knew this coordinator reconnect within about a heartbeat window.
            let grace = configuration.heartbeatInterval * configuration.heartbeatMisses
            reregistrationGraceUntil = now + grace
            let clock = clock
            Task {
                try? await clock.sleep(for: grace)
                self.reregistrationGraceEnded()
            }
        }
        let aliases = try await ledger.aliasesOfUnfinishedTasks()
        logger.notice(
            "task ledger opened",
            metadata: ["path": "\(configuration.ledgerPath)", "incarnation": "\(incarnation)", "unfinished": "\(restored.count)"])
        perform(machine.restore(restored, now: now))
        machine.restoreAliases(aliases)
        try await recoverTransactions()
        try await recoverSagas()
    }

    /// The machine's view of a task spec: its deadline becomes elapsed time on the machine's clock.
    func submittedTask(_ spec: Phalanx_V1_TaskSpec, now: Duration, nowUnix: Int64) -> SubmittedTask<Phalanx_V1_TaskSpec> {
        let deadline = WireTime.remaining(untilUnixMilliseconds: spec.deadlineUnixMs, now: nowUnix).map { now + $0 }
        var task = SubmittedTask(
            taskID: spec.taskID, kind: spec.kind, payloadBytes: spec.payload.count, deadline: deadline,
            traceID: spec.trace.traceID, spanID: spec.trace.spanID, spec: spec, maxAttempts: spec.maxAttempts > 0 ? Int(spec.maxAttempts) : nil)
        task.idempotencyKey = spec.idempotencyKey.isEmpty ? nil : spec.idempotencyKey
        if task.idempotencyKey != nil { task.fingerprint = RequestFingerprint.of(kind: spec.kind, payload: spec.payload) }
        switch spec.priority {
        case .high: task.priority = .high
        case .low: task.priority = .low
        default: task.priority = .normal  // also an unknown value from a newer client
        }
        return task
    }

    // MARK: - Persisting

    /// Whether a step's `changes` only accept tasks (and mark their dispatch) that the step also
    /// dispatches: then their results may come back before the accept is written.
    static func acceptsWhatItDispatches(_ changes: [TaskChange<Phalanx_V1_TaskSpec, Phalanx_V1_TaskResult>], _ actions: [Machine.Action]) -> Bool {
        var accepts = false
        for change in changes {
            switch change {
            case .accepted: accepts = true
            case .dispatched: continue
            default: return false
            }
        }
        return accepts && actions.contains { if case .dispatch = $0 { true } else { false } }
    }

    /// Queues the machine's changes for the next group commit (`lingering`: see
    /// ``CoordinatorConfiguration/acceptLinger``).
    /// Returns the serialized results of the tasks that finished, by key: the client is sent the
    /// same bytes (``serializedResults(_:to:reusing:)``).
    func persist(_ changes: [TaskChange<Phalanx_V1_TaskSpec, Phalanx_V1_TaskResult>], lingering: Bool = false) -> [TaskKey: [UInt8]] {
        let nowUnix = WireTime.nowUnixMilliseconds()
        observeFinished(changes, latency: taskLatency, nowUnix: nowUnix)
        var results: [TaskKey: [UInt8]] = [:]
        let ledgerChanges = changes.map { change -> LedgerChange in
            switch change {
            case .accepted(let key, let spec):
                .accepted(
                    key, spec: BatchFrame.serialized(spec), acceptedUnixMilliseconds: nowUnix,
                    idempotencyKey: spec.idempotencyKey.isEmpty ? nil : spec.idempotencyKey,
                    requestFingerprint: spec.idempotencyKey.isEmpty ? nil : machine.requestFingerprint(client: key.client, idempotencyKey: spec.idempotencyKey))
            case .dispatched(let key, let attempt):
                .dispatched(key, attempt: attempt)
            case .attemptFailed(let key, let losses, let history):
                {
                    var stored = Phalanx_Store_V1_AttemptHistory()
                    stored.attempts = Self.attemptRecords(history)
                    return .attemptFailed(key, losses: losses, history: BatchFrame.serialized(stored))
                }()
            case .cancelRequested(let key):
                .cancelRequested(key)
            case .finished(let key, let delivery):
                {
                    let result = BatchFrame.serialized(Self.clientResult(delivery))
                    results[key] = result
                    return .finished(key, result: result, finishedUnixMilliseconds: nowUnix)
                }()
            case .aliased(let key, let original):
                .aliased(key, original: original, acceptedUnixMilliseconds: nowUnix)
            case .workerIncarnation(let name, let incarnation):
                .workerIncarnation(name: name, incarnation: incarnation)
            case .workerParticipantStore(let name, let store):
                .workerParticipantStore(name: name, store: store)
            case .participantStoreLossAccepted(let name, let previous, let new):
                .participantStoreLossAccepted(AcceptedStoreLoss(
                    worker: name, previousStore: previous.id, previousWrites: previous.writes, newStore: new.id, acceptedUnixMilliseconds: nowUnix))
            case .deadLettered(let key, let spec, let error, let attempts):
                .deadLettered(DeadLetter(
                    key: key, spec: BatchFrame.serialized(spec), code: error.code.rawValue, reason: error.message, attempts: attempts,
                    deadUnixMilliseconds: nowUnix))
            }
        }
        if lingering && configuration.acceptLinger > .zero {
            writer.enqueue(ledgerChanges, lingeringUpTo: configuration.acceptLinger)
        } else {
            writer.enqueue(ledgerChanges)
        }
        return results
    }

    /// The serialized results for `deliveries` to `id`: what ``persist(_:)`` serialized for the
    /// ledger where a delivery is that task's own (not a resubmission's, whose task id differs).
    func serializedResults(_ deliveries: [TaskDelivery<Phalanx_V1_TaskResult>], reusing stored: [TaskKey: [UInt8]]) -> [SerializedResult] {
        deliveries.map { delivery in
            if delivery.original == nil, let key = delivery.key, let bytes = stored[key] { return SerializedResult(bytes: bytes, traceID: delivery.traceID) }
            return SerializedResult(bytes: BatchFrame.serialized(Self.clientResult(delivery)), traceID: delivery.traceID)
        }
    }

    /// What the client gets for a finished task: the worker's result (or the coordinator's
    /// failure) with the client's own task id, the final attempt and the worker.
    static func clientResult(_ delivery: TaskDelivery<Phalanx_V1_TaskResult>) -> Phalanx_V1_TaskResult {
        var result: Phalanx_V1_TaskResult
        switch delivery.outcome {
        case .reported(let reported):
            result = reported
            result.neverStarted = false  // the worker's word to the coordinator
            if case .error(var error) = result.outcome {
                error.taskID = delivery.taskID
                // A worker's own error about the result (too large for a frame) knows no trace.
                if error.traceID.isEmpty, let trace = delivery.traceID { error.traceID = trace }
                result.error = error
            }
        case .failure(let error):
            result = Phalanx_V1_TaskResult()
            result.error = error.wire
        }
        result.history = attemptRecords(delivery.history)
        result.taskID = delivery.taskID  // the client's own id, whatever the worker wrote
        result.originalTaskID = delivery.original ?? ""
        result.attempt = delivery.attempt
        result.worker = delivery.worker ?? ""
        result.dispatchID = 0
        return result
    }

    /// Failed attempts as the wire (and the ledger) records them.
    static func attemptRecords(_ history: [FailedAttempt<Phalanx_V1_TaskResult>]) -> [Phalanx_V1_AttemptRecord] {
        history.map { failed in
            var record = Phalanx_V1_AttemptRecord()
            record.attempt = failed.attempt
            record.worker = failed.worker
            switch failed.outcome {
            case .reported(let output): record.error = bounded(output.error)
            case .failure(let error):
                record.error = bounded(error.wire)
                record.lost = true
            }
            return record
        }
    }

    /// The most bytes of one earlier attempt's error a history keeps (the final error is whole).
    static var maximumHistoryErrorBytes: Int { 2_048 }

    /// `error` as a history keeps it: whole when small, else its message cut to half the bound and
    /// its causes left out, saying so, so a history of 100 records stays about 200 KiB at most.
    static func bounded(_ error: Phalanx_V1_ErrorContext) -> Phalanx_V1_ErrorContext {
        guard (try? error.serializedBytes() as [UInt8])?.count ?? 0 > maximumHistoryErrorBytes else { return error }
        var cut = error
        let keep = maximumHistoryErrorBytes / 2
        let message = error.message.prefix(utf8Bytes: keep)
        cut.message = "\(message)… (cut to \(keep) of \(error.message.utf8.count) bytes\(error.causes.isEmpty ? "" : ", \(error.causes.count) causes left out"); the final error is kept whole)"
        cut.causes = []
        return cut
    }

    /// The failed attempts the ledger kept for an unfinished task (``attemptRecords(_:)`` read
    /// back); unreadable ones are logged and left out, the task itself is not affected.
    func failedAttempts(of key: TaskKey, stored bytes: [UInt8]) -> [FailedAttempt<Phalanx_V1_TaskResult>] {
        guard let stored = try? Phalanx_Store_V1_AttemptHistory(serializedBytes: bytes) else {
            logger.error("the failed attempts of a task cannot be read back from the ledger; its result will not list them", metadata: ["task": "\(key)"])
            return []
        }
        return stored.attempts.map { record in
            if record.lost { return FailedAttempt(attempt: record.attempt, worker: record.worker, outcome: .failure(ErrorContext(wire: record.error))) }
            var reported = Phalanx_V1_TaskResult()
            reported.taskID = key.taskID
            reported.attempt = record.attempt
            reported.worker = record.worker
            reported.error = record.error
            return FailedAttempt(attempt: record.attempt, worker: record.worker, outcome: .reported(reported))
        }
    }

    // MARK: - Durable before visible

    /// Performs `action` now if everything queued so far (but lazy END records) is durable and
    /// nothing waits before it; otherwise keeps it, in order, until it is.
    func performWhenDurable(_ action: DeferredAction, touched: inout Set<ConnectionID>) {
        let barrier = writer.barrier
        if barrier > durableUpTo || deferredHead < deferred.count {
            deferred.append((barrier, action))
        } else {
            performVisible(action, touched: &touched)
        }
    }

    /// Performs a visible action of any machine (what it waited for is durable).
    func performVisible(_ action: DeferredAction, touched: inout Set<ConnectionID>) {
        switch action {
        case .task(let action): performVisible(action, touched: &touched)
        case .results(let id, let results): send(serialized: results, to: id, touched: &touched)
        case .transaction(let action): performVisible(action, touched: &touched)
        case .saga(let action): performVisible(action, touched: &touched)
        case .envelope(let id, let envelope): write(envelope, to: id, touched: &touched)
        }
    }

    /// The group commit made everything up to `sequence` durable: what waited for it goes out.
    func durable(upTo sequence: GroupCommitWriter.Sequence) {
        durableUpTo = max(durableUpTo, sequence)
        var touched = Set<ConnectionID>()
        while deferredHead < deferred.count, deferred[deferredHead].sequence <= durableUpTo {
            let action = deferred[deferredHead].action
            deferredHead += 1
            performVisible(action, touched: &touched)
        }
        if deferredHead == deferred.count {
            deferred.removeAll(keepingCapacity: true)
            deferredHead = 0
        } else if deferredHead > 1_024 && deferredHead * 2 > deferred.count {
            deferred.removeFirst(deferredHead)
            deferredHead = 0
        }
        for id in touched { links[id]?.flush() }
    }

    /// The ledger cannot be written: nothing more may be acknowledged, so the coordinator stops.
    func ledgerFailed(_ error: LedgerError) async {
        guard ledgerFailure == nil else { return }
        ledgerFailure = error
        logger.critical(
            "cannot write the task ledger; stopping so that nothing is acknowledged that is not durable",
            metadata: ["path": "\(configuration.ledgerPath)", "error": "\(error)"])
        stopping = true
        pruneTask?.cancel()
        perform(machine.shutDown(reason: "the coordinator cannot write its task ledger (\(error)); tasks not acknowledged were not accepted"))
        try? await listenerChannel?.close()
    }

    /// Deletes finished tasks older than the retention, now and then, until cancelled.
    func pruneFinishedTasks() async {
        let retention = configuration.retention
        let interval = max(.seconds(1), min(.seconds(60), retention / 10))
        while !Task.isCancelled {
            let cutoff = WireTime.nowUnixMilliseconds() - retention.wholeMilliseconds
            do {
                let pruned = try await ledger.pruneFinished(before: cutoff)
                if pruned > 0 { logger.info("pruned finished tasks past their retention", metadata: ["tasks": "\(pruned)"]) }
            } catch {
                logger.error("cannot prune the task ledger; will try again", metadata: ["error": "\(error)"])
            }
            guard (try? await clock.sleep(for: interval)) != nil else { return }
        }
    }

    // MARK: - Result requests

    /// Reads finished tasks from the ledger for a result request, sends their results, then the reply.
    func lookUp(_ id: ConnectionID, requestID: UInt64, taskIDs: [String], pending: [String]) {
        guard let link = links[id] else { return }
        let keys = taskIDs.map { TaskKey(client: link.peer.identity.name, taskID: $0) }
        let ledger = ledger
        Task {
            do {
                let found = keys.isEmpty ? [:] : try await ledger.tasks(keys)
                self.lookedUp(id, requestID: requestID, keys: keys, found: found, pending: pending)
            } catch {
                self.lookUpFailed(id, requestID: requestID, error)
            }
        }
    }

    private func lookedUp(_ id: ConnectionID, requestID: UInt64, keys: [TaskKey], found: [TaskKey: StoredTask], pending: [String]) {
        guard let link = links[id] else { return }
        let (results, unknown) = storedResults(of: keys, found: found)
        var touched = Set<ConnectionID>()
        send(serialized: results.map { SerializedResult(bytes: BatchFrame.serialized($0)) }, to: id, touched: &touched)
        let entries = pending.map { ($0, true) } + unknown.map { ($0, false) }
        let (chunks, _) = FrameBudget.chunks(entries, maximumFrameBytes: link.peer.maximumFrameBytes) { $0.0.utf8.count + 8 }
        for (index, chunk) in (chunks.isEmpty ? [[]] : chunks).enumerated() {
            var reply = Phalanx_V1_ResultReply()
            reply.requestID = requestID
            reply.pending = chunk.filter(\.1).map(\.0)
            reply.unknown = chunk.filter { !$0.1 }.map(\.0)
            reply.done = index == max(chunks.count, 1) - 1
            write(Phalanx_V1_Envelope(.resultReply(reply)), to: id, touched: &touched)
        }
        for id in touched { links[id]?.flush() }
    }

    /// The results stored for `keys` (a resubmission's key resolves to its original's result,
    /// under its own id); the keys without one are returned as unknown.
    private func storedResults(of keys: [TaskKey], found: [TaskKey: StoredTask]) -> (results: [Phalanx_V1_TaskResult], unknown: [String]) {
        var results: [Phalanx_V1_TaskResult] = []
        var unknown: [String] = []
        for key in keys {
            guard let stored = found[key], let bytes = stored.result else {
                unknown.append(key.taskID)
                continue
            }
            var result = (try? Phalanx_V1_TaskResult(serializedBytes: bytes)) ?? Phalanx_V1_TaskResult()
            if result.outcome == nil {
                result.error = ErrorContext(
                    code: .internal, message: "the stored result of this task cannot be read back from the ledger", originNode: local.name,
                    taskID: key.taskID
                ).wire
            }
            result.taskID = key.taskID  // for a resubmission: its original's result, under its own id
            if let original = stored.original { result.originalTaskID = original }
            results.append(result)
        }
        return (results, unknown)
    }

    /// Sends idempotent resubmissions the stored results of their finished originals, each under
    /// its own task id (their alias rows were made durable before this runs). One whose original is
    /// no longer in the ledger (pruned) gets a failure that says so.
    func deliverStored(_ id: ConnectionID, _ duplicates: [Duplicate]) {
        guard let link = links[id] else { return }
        let keys = duplicates.map { TaskKey(client: link.peer.identity.name, taskID: $0.taskID) }
        let ledger = ledger
        Task {
            let found = (try? await ledger.tasks(keys)) ?? [:]
            self.deliverStored(id, duplicates, keys: keys, found: found)
        }
    }

    private func deliverStored(_ id: ConnectionID, _ duplicates: [Duplicate], keys: [TaskKey], found: [TaskKey: StoredTask]) {
        let stored = storedResults(of: keys, found: found)
        var results = stored.results
        let unknown = Set(stored.unknown)
        for duplicate in duplicates where unknown.contains(duplicate.taskID) {
            var result = Phalanx_V1_TaskResult()
            result.taskID = duplicate.taskID
            result.originalTaskID = duplicate.original
            result.error = ErrorContext(
                code: .unavailable,
                message: "this task has the idempotency key of task '\(duplicate.original)', which finished, but its result cannot be read from the ledger now (pruned after coordinator.retention_ms, or a read error); it was not run again",
                originNode: local.name, taskID: duplicate.taskID
            ).wire
            results.append(result)
        }
        var touched = Set<ConnectionID>()
        send(serialized: results.map { SerializedResult(bytes: BatchFrame.serialized($0)) }, to: id, touched: &touched)
        for id in touched { links[id]?.flush() }
    }

    private func lookUpFailed(_ id: ConnectionID, requestID: UInt64, _ error: any Error) {
        logger.error("cannot read the task ledger for a result request", metadata: ["connection": "\(id)", "error": "\(error)"])
        var reply = Phalanx_V1_ResultReply()
        reply.requestID = requestID
        reply.done = true
        reply.error = ErrorContext(
            code: .unavailable, message: "the coordinator could not read its task ledger: \(error); ask again later", originNode: local.name
        ).wire
        sendNow(Phalanx_V1_Envelope(.resultReply(reply)), to: id)
    }
}
