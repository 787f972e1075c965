import PhalanxResilience

/// The coordinator's logic as a pure value: events in, actions out, time as an argument.
///
/// It owns the peer table (keyed by connection, so replies go to the connection that asked), the
/// task table and its per-kind queues, dispatch with fencing by attempt, deadlines of queued
/// tasks, failure detection by heartbeats, a circuit breaker per worker and a token bucket per
/// client identity. It reads no clock and does no I/O: every method takes the elapsed time since
/// an origin the shell picks and returns the actions to perform, in order.
///
/// `Spec` and `Output` are the shell's own descriptions of a task and of a worker's result (the
/// wire messages); the machine never looks inside them.
public struct CoordinatorMachine<Spec: Sendable, Output: Sendable>: Sendable {
    public typealias Action = CoordinatorAction<Spec, Output>

    struct ClientPeer: Sendable {
        let identity: NodeIdentity
        var outstanding = 0
        /// Payload bytes of its outstanding tasks.
        var outstandingBytes = 0
    }

    struct WorkerPeer: Sendable {
        let identity: NodeIdentity
        /// Tasks it runs at once.
        let capacity: Int
        /// Tasks it holds beyond `capacity` (``WorkerRegistration/prefetch``).
        let prefetch: Int
        /// 0: no bound (``WorkerRegistration/maximumInFlightBytes``).
        let maximumInFlightBytes: Int
        /// 0: no bound (``WorkerRegistration/maximumPayloadBytes``).
        let maximumPayloadBytes: Int
        let kinds: Set<String>
        let incarnation: UInt64
        var running: Set<TaskNumber> = []
        /// Payload bytes of the tasks in `running`.
        var runningBytes = 0
        var finished = 0
        var draining = false
        /// Running parents that wait for their children: they hold no slot, so that a tree wider
        /// than the cluster's slots cannot deadlock with every slot held by a waiting parent.
        var waiting = 0
        /// A task that runs alone on it (``mustRunAlone(_:)``): it gets no other task meanwhile.
        var alone: TaskNumber?

        var busy: Int { running.count - waiting }
        var runsATaskAlone: Bool { alone.map(running.contains) ?? false }
        /// Tasks that may be dispatched to it now: slots and prefetch left, and bytes left (or nothing in flight).
        var freeCapacity: Int {
            guard maximumInFlightBytes == 0 || runningBytes < maximumInFlightBytes || running.isEmpty else { return 0 }
            return capacity + prefetch - busy
        }
        /// Whether its frames can carry a task with this payload.
        func accepts(payloadBytes: Int) -> Bool { maximumPayloadBytes == 0 || payloadBytes <= maximumPayloadBytes }
        /// How full its window is, 0...1 (for choosing the least-loaded worker).
        var load: Double { Double(busy) / Double(capacity + prefetch) }

        mutating func started(_ number: TaskNumber, payloadBytes: Int) {
            if running.insert(number).inserted { runningBytes += payloadBytes }
        }

        mutating func stopped(_ number: TaskNumber, payloadBytes: Int) {
            if running.remove(number) != nil { runningBytes -= payloadBytes }
        }
    }

    enum Placement: Sendable {
        case queued
        case running(worker: ConnectionID, permit: CircuitBreakerPermit?, since: Duration)
        /// Failed for a system reason; queued again at this time (backoff).
        case retrying(at: Duration)
    }

    /// What a task is, fixed at acceptance: one reference, so the records the hot path copies stay small.
    final class TaskBody: Sendable {
        let number: TaskNumber
        let key: TaskKey
        let kind: String
        let payloadBytes: Int
        let traceID: String
        let spanID: String
        let spec: Spec
        let idempotencyKey: String?
        let deadline: Duration?
        /// Set for a child task: the attempt whose scope it belongs to. Children are not persisted:
        /// they live and end with their parent's attempt.
        let parent: ParentLink?
        /// When this coordinator process accepted it (nil: read back from the ledger at start).
        let acceptedAt: Duration?

        init(
            number: TaskNumber, key: TaskKey, kind: String, payloadBytes: Int, traceID: String, spanID: String, spec: Spec, idempotencyKey: String?,
            deadline: Duration?, parent: ParentLink?, acceptedAt: Duration?
        ) {
            (self.key, self.kind, self.payloadBytes, self.traceID, self.spanID, self.spec) = (key, kind, payloadBytes, traceID, spanID, spec)
            (self.number, self.idempotencyKey, self.deadline, self.parent, self.acceptedAt) = (number, idempotencyKey, deadline, parent, acceptedAt)
        }
    }

    /// Which attempt of which task started a child, and under what name and policy.
    struct ParentLink: Sendable {
        let number: TaskNumber
        let attempt: UInt32
        /// The child's name within that attempt (the worker's own handle for it).
        let name: String
        let failFast: Bool
    }

    struct TaskRecord: Sendable {
        let body: TaskBody
        var key: TaskKey { body.key }
        var kind: String { body.kind }
        var payloadBytes: Int { body.payloadBytes }
        var traceID: String { body.traceID }
        var spanID: String { body.spanID }
        var spec: Spec { body.spec }
        /// The connection its result goes to (nil: none, e.g. recovered after a restart until a client attaches).
        var owner: ConnectionID?
        /// Other connections that asked for it since; they get the result too (usually empty: no allocation).
        var watchers: [ConnectionID] = []
        /// Resubmissions with its idempotency key: they get its result under their own task ids.
        var aliases: [Alias] = []
        /// Unfinished children started by its current attempt.
        var children: [TaskNumber] = []
        /// The task keys of resubmissions that stand for it (they leave the alias index when it finishes).
        var aliasKeys: [TaskKey] = []
        /// Its attempt runs and waits for children: its worker's slot is free meanwhile.
        var waitingForChildren = false
        var attempt: UInt32 = 0
        var losses: UInt32 = 0
        var placement: Placement = .queued
        /// A client cancelled it while it ran: its worker was told to stop; it is never run again.
        var cancelRequested = false
        /// Attempts for system failures, the first included.
        var maxAttempts: UInt32 = 1
        /// Attempts that failed for a system reason and were retried, or lost their worker and were
        /// re-run, oldest first; at most ``TaskLimits/maximumHistoryRecords`` (``remember(_:)``).
        private(set) var history: [FailedAttempt<Output>] = []
        /// Attempts that failed for a system reason so far (what `max_attempts` counts; lost,
        /// handed-back and restart-interrupted attempts do not), also those the history dropped.
        private(set) var reportedFailures: UInt32 = 0
        /// The worker of the last failed attempt: another one is preferred for the retry.
        var avoid: ConnectionID?
        var lastBackoff: Duration = .zero
        var priority: TaskPriority = .normal

        /// Adds an attempt to the history. Retries and losses are bounded by the attempts allowed,
        /// hand-backs and restarts are not: past the bound the oldest record is dropped.
        mutating func remember(_ attempt: FailedAttempt<Output>) {
            if attempt.wasReported { reportedFailures += 1 }
            history.append(attempt)
            if history.count > TaskLimits.maximumHistoryRecords { history.removeFirst(history.count - TaskLimits.maximumHistoryRecords) }
        }

        /// The history a restarted coordinator read back from its ledger.
        mutating func restoreHistory(_ attempts: [FailedAttempt<Output>]) {
            history = Array(attempts.suffix(TaskLimits.maximumHistoryRecords))
            reportedFailures = UInt32(attempts.filter(\.wasReported).count)
        }

        /// Whether a system failure of the current attempt leaves an attempt for a retry.
        var mayRetryAfterAFailure: Bool { reportedFailures + 1 < maxAttempts }
    }

    /// A connection that resubmitted a task under another task id with the same idempotency key.
    struct Alias: Sendable, Hashable {
        let connection: ConnectionID
        let taskID: String
    }

    struct Counters: Sendable {
        var accepted: UInt64 = 0
        var succeeded: UInt64 = 0
        var failed: UInt64 = 0
        var expired: UInt64 = 0
        var staleResults: UInt64 = 0
        /// System failures not retried because their kind's retry budget was spent.
        var retriesRefusedByBudget: UInt64 = 0
        var undeliverable: UInt64 = 0
        var recovered = 0
        /// Finished failed tasks by code and class (children included).
        var failures: [FailureKind: UInt64] = [:]
        var retried: UInt64 = 0
        var deadLettered: UInt64 = 0
        /// Tasks refused at submit, by reason.
        var rejections: [AdmissionRejection: UInt64] = [:]
        var declaredDeadForSilence: UInt64 = 0
        var declaredDeadDisconnected: UInt64 = 0
    }

    public let settings: CoordinatorSettings

    var clients: [ConnectionID: ClientPeer] = [:]
    var pendingWorkers: [ConnectionID: NodeIdentity] = [:]
    var workers: [ConnectionID: WorkerPeer] = [:]
    var workerByName: [String: ConnectionID] = [:]
    /// The newest incarnation that registered under each worker name: older ones are refused.
    var incarnations: [String: UInt64] = [:]
    /// The participant store each worker name last reported using (its id): a worker told another
    /// id at registration refuses the store it opened (see `ParticipantHost`).
    var participantStores: [String: KnownParticipantStore] = [:]
    /// What the ledger holds of ``participantStores`` (recorded with the heartbeats, not per vote).
    var recordedParticipantStores: [String: KnownParticipantStore] = [:]

    var tasks: [TaskNumber: TaskRecord] = [:]
    var taskByKey: [TaskKey: TaskNumber] = [:]
    /// Resubmissions (by their own key) that stand for unfinished tasks.
    var aliasOf: [TaskKey: TaskNumber] = [:]
    var queues: [String: TaskQueue] = [:]
    var queuedPerKind: [String: Int] = [:]
    var staleQueueEntries: [String: Int] = [:]
    public internal(set) var queuedCount = 0
    /// ``queuedCount`` by priority.
    public internal(set) var queuedByPriority = PriorityCounts()
    public internal(set) var heldBytes = 0
    /// Tasks that must run alone (``mustRunAlone(_:)``), by kind, in order, waiting for an idle worker.
    var runAlone: [String: [TaskNumber]] = [:]
    /// The worker reserved for each of them (it takes no new tasks until it is idle), and the set of those.
    var reservation: [TaskNumber: ConnectionID] = [:]
    var reservedWorkers: Set<ConnectionID> = []
    var idempotency: IdempotencyIndex
    var deadlines = DeadlineQueue()
    /// Tasks waiting out a retry backoff, by the time they are queued again.
    var retries = DeadlineQueue()
    public internal(set) var retryingCount = 0
    var random: TraceIDGenerator
    var nextTaskNumber: TaskNumber = 0

    var heartbeats: HeartbeatMonitor<ConnectionID>
    var breakers: [String: CircuitBreakerMachine] = [:]
    var forcedOpen: Set<String> = []
    var breakerRetryAt: Duration?
    /// When tasks no connected worker's frames carry were last logged.
    var lastTooLargeWarning: Duration?
    var buckets: [String: TokenBucket] = [:]
    /// Retry budgets by task kind.
    var retryBudgets: [String: RetryBudgetState] = [:]
    var scheduledWakeUp: Duration?
    var counters = Counters()

    /// `firstTaskNumber` lets a restarted coordinator number its tasks apart from any earlier
    /// incarnation's (task numbers travel to workers as dispatch ids).
    public init(settings: CoordinatorSettings, firstTaskNumber: TaskNumber = 1) {
        precondition(settings.maximumQueuedTasks > 0 && settings.maximumQueuedBytes > 0 && settings.maximumAttempts > 0)
        precondition(settings.admissionBurst > 0 && settings.admissionTasksPerSecond > 0 && firstTaskNumber > 0)
        self.settings = settings
        self.heartbeats = HeartbeatMonitor(window: settings.heartbeatWindow)
        self.nextTaskNumber = firstTaskNumber - 1
        self.random = TraceIDGenerator(seed: settings.randomSeed)
        self.idempotency = IdempotencyIndex(maximumFinished: settings.maximumIdempotencyKeys, window: settings.idempotencyWindow)
    }

    /// The first task number of a coordinator in its `incarnation`-th start: incarnations never share numbers.
    public static func firstTaskNumber(incarnation: UInt64) -> TaskNumber {
        (incarnation << 40) | 1
    }

    /// Payload bytes of the unfinished tasks whose results go to `connection` (0 for other peers).
    /// The shell reads no more submits from a connection past its bound (`limits.client_inflight_bytes`).
    public func outstandingBytes(of connection: ConnectionID) -> Int { clients[connection]?.outstandingBytes ?? 0 }

    /// Tasks running on workers now.
    public var runningCount: Int { tasks.count - queuedCount - retryingCount }
    /// Unfinished tasks held (queued or running).
    public var heldCount: Int { tasks.count }
    /// Results dropped because they were for a superseded attempt (or an unknown task).
    public var staleResultCount: UInt64 { counters.staleResults }

    // MARK: - Connections

    /// A connection finished its Hello exchange as `peer`.
    public mutating func connected(_ connection: ConnectionID, peer: NodeIdentity, now: Duration) -> [Action] {
        switch peer.role {
        case .worker: pendingWorkers[connection] = peer  // it becomes a worker when it registers
        case .client, .admin: clients[connection] = ClientPeer(identity: peer)
        case .coordinator: break  // the connection machine refuses coordinators
        }
        return []
    }

    /// A connection closed (for any reason).
    public mutating func disconnected(_ connection: ConnectionID, now: Duration) -> [Action] {
        var outbox = Outbox()
        pendingWorkers[connection] = nil
        clients[connection] = nil  // its unfinished tasks run on; their results have nowhere to go
        if let worker = workers[connection] {
            let reason = worker.draining && worker.running.isEmpty ? nil : "its connection closed"
            if reason != nil { counters.declaredDeadDisconnected += 1 }
            removeWorker(connection, declaredDeadBecause: reason, now: now, into: &outbox)
            assign(now: now, into: &outbox)
        }
        return finish(&outbox, now: now)
    }

    /// A heartbeat (worker liveness, or a client's keep-alive) arrived.
    public mutating func heartbeat(from connection: ConnectionID, participantStore reported: KnownParticipantStore? = nil, now: Duration) -> [Action] {
        guard let worker = workers[connection] else { return [.answerHeartbeat(connection)] }
        heartbeats.heard(from: connection, at: now)
        let name = worker.identity.name
        guard let store = reported, !store.id.isEmpty, store.id.utf8.count <= 100, store.writes >= 0 else { return [.answerHeartbeat(connection)] }
        var actions: [Action] = []
        var changes: [TaskChange<Spec, Output>] = []
        var log: CoordinatorLogEntry?
        let previous = participantStores[name]
        if let previous, previous.id == store.id {
            // The same store: votes and acknowledgements may have told a newer count than this
            // heartbeat (read before them); the largest is kept.
            participantStores[name]!.writes = max(previous.writes, store.writes)
        } else {
            participantStores[name] = store
            var fields = ["worker": name, "store": store.id, "writes": "\(store.writes)"]
            if let previous {
                // Another store: a worker goes on with one only when told to accept the loss
                // (--accept-new-store; an older copy it accepts gets a new id too).
                fields["previous_store"] = previous.id
                fields["previous_writes"] = "\(previous.writes)"
                actions.append(.participantStoreReplaced(worker: name))
                changes.append(.participantStoreLossAccepted(name: name, previous: previous, new: store))
                log = CoordinatorLogEntry(.warning, "a worker goes on with another participant store (--accept-new-store): what the previous one held is lost", fields)
            } else {
                log = CoordinatorLogEntry(.info, "recorded the participant store of a worker", fields)
            }
        }
        let known = participantStores[name]!
        if recordedParticipantStores[name] != known {
            recordedParticipantStores[name] = known
            changes.append(.workerParticipantStore(name: name, known))
        }
        if !changes.isEmpty { actions.insert(.persist(changes), at: 0) }
        actions.append(.answerHeartbeat(connection))
        if let log { actions.append(.log(log)) }
        return actions
    }

    /// A worker's vote or acknowledgement said its store had made `writes` changes durable: what it
    /// told is in a store with at least that many (a copy with fewer is an older one). Kept in
    /// memory; recorded in the ledger with the next heartbeat.
    public mutating func participantStoreWrote(_ name: String, writes: Int64) {
        guard let known = participantStores[name], writes > known.writes else { return }
        participantStores[name]!.writes = writes
    }

    /// Messages from `connection` arrived and wait to be handled (the shell is behind): a worker
    /// that sent them is alive, as if one had been handled now. Without this, an overloaded
    /// coordinator declared healthy workers dead whose heartbeats waited in line.
    public mutating func messagesWaiting(from connection: ConnectionID, now: Duration) {
        if workers[connection] != nil { heartbeats.heard(from: connection, at: now) }
    }

    /// Time passed: expire queued tasks past their deadline, declare silent workers dead, retry
    /// dispatch where a breaker may admit again.
    public mutating func wakeUp(now: Duration) -> [Action] {
        scheduledWakeUp = nil
        var outbox = Outbox()
        for connection in heartbeats.expired(at: now) {
            guard workers[connection] != nil else { continue }
            let reason = "it missed \(settings.heartbeatMisses) heartbeats (\(settings.heartbeatWindow) of silence)"
            counters.declaredDeadForSilence += 1
            outbox.actions.append(.close(connection, ErrorContext(
                code: .unavailable, message: "this worker was declared dead: \(reason); register again to get work",
                originNode: settings.nodeName)))
            removeWorker(connection, declaredDeadBecause: reason, now: now, into: &outbox)
        }
        if let retryAt = breakerRetryAt, retryAt <= now { breakerRetryAt = nil }
        requeueDueRetries(now: now)
        expireQueuedTasks(now: now, into: &outbox)  // also when no worker is connected at all
        assign(now: now, into: &outbox)
        return finish(&outbox, now: now)
    }

    /// The coordinator is stopping: every peer gets an Error frame and is closed.
    public mutating func shutDown(reason: String? = nil) -> [Action] {
        let error = ErrorContext(
            code: .unavailable,
            message: reason
                ?? "the coordinator is shutting down; reconnect when it is back and ask for your tasks' results by id (unfinished tasks are kept and run again)",
            originNode: settings.nodeName)
        let connections = Set(clients.keys).union(workers.keys).union(pendingWorkers.keys).sorted()
        return connections.map { .close($0, error) }
    }

    // MARK: - Shared steps

    /// Actions gathered during one event; deliveries and dispatches are grouped per connection.
    struct Outbox {
        var changes: [TaskChange<Spec, Output>] = []
        var actions: [Action] = []
        var deliveries: [ConnectionID: [TaskDelivery<Output>]] = [:]
        var assignments: [ConnectionID: [TaskAssignment<Spec>]] = [:]
        var childResults: [ConnectionID: [ChildResult<Output>]] = [:]
        var stops: [ConnectionID: [(task: TaskNumber, attempt: UInt32)]] = [:]
    }

    /// Turns the outbox into the ordered action list and schedules the next wake-up if it moved earlier.
    mutating func finish(_ outbox: inout Outbox, now: Duration) -> [Action] {
        var actions: [Action] = outbox.changes.isEmpty ? [] : [.persist(outbox.changes)]
        actions.append(contentsOf: outbox.actions)
        // No closures in this hot generic function: with them, cross-module optimization does not
        // serialize it, and the shell runs it unspecialized (the same holds for `assign` and `results`).
        for connection in outbox.assignments.keys.sorted() { actions.append(.dispatch(connection, outbox.assignments[connection]!)) }
        for connection in outbox.deliveries.keys.sorted() { actions.append(.deliver(connection, outbox.deliveries[connection]!)) }
        for connection in outbox.childResults.keys.sorted() { actions.append(.deliverToParent(connection, outbox.childResults[connection]!)) }
        for connection in outbox.stops.keys.sorted() { actions.append(.cancelAttempts(connection, outbox.stops[connection]!)) }
        if let next = nextWakeUp(), scheduledWakeUp == nil || next < scheduledWakeUp! {
            scheduledWakeUp = next
            actions.append(.scheduleWakeUp(at: next))
        }
        return actions
    }

    func nextWakeUp() -> Duration? {
        var candidates: [Duration] = []
        if let deadline = deadlines.earliest { candidates.append(deadline) }
        if let expiry = heartbeats.nextExpiry { candidates.append(expiry) }
        if let retry = retries.earliest { candidates.append(retry) }
        if queuedCount > 0, let retryAt = breakerRetryAt { candidates.append(retryAt) }
        return candidates.min()
    }

    /// Ends a task with a failure the coordinator decided, and routes it to its client.
    mutating func finishWithFailure(_ number: TaskNumber, _ error: ErrorContext, worker: String?, now: Duration, into outbox: inout Outbox) {
        guard let record = removeTask(number, now: now) else { return }
        countFailure(FailureKind(code: error.code, failureClass: error.failureClass))
        outbox.actions.append(.log(failureLog(of: record, code: error.code, worker: worker)))
        finished(
            record, TaskDelivery(taskID: record.key.taskID, attempt: record.attempt, worker: worker, outcome: .failure(error), history: record.history),
            now: now, into: &outbox)
    }

    /// A task finished: its result is made durable, then routed to its client (a child's goes to
    /// its parent's attempt instead, and is not persisted). Its unfinished children are cancelled.
    mutating func finished(_ record: TaskRecord, _ delivery: TaskDelivery<Output>, now: Duration, into outbox: inout Outbox) {
        endScope(of: record, because: .finished, now: now, into: &outbox)
        if let parent = record.body.parent {
            childFinished(record, delivery, parent: parent, now: now, into: &outbox)
            return
        }
        var delivery = delivery
        delivery.acceptedAt = record.body.acceptedAt
        delivery.key = record.key
        delivery.traceID = record.traceID
        outbox.changes.append(.finished(record.key, delivery))
        route(delivery, of: record, into: &outbox)
    }

    /// One more task finished failed.
    mutating func countFailure(_ kind: FailureKind) {
        counters.failed += 1
        counters.failures[kind, default: 0] += 1
    }

    /// Removes a finished task from every table; returns its record.
    mutating func removeTask(_ number: TaskNumber, now: Duration) -> TaskRecord? {
        guard let record = tasks.removeValue(forKey: number) else { return nil }
        taskByKey[record.key] = nil
        if !record.aliasKeys.isEmpty { for alias in record.aliasKeys where aliasOf[alias] == number { aliasOf[alias] = nil } }
        if let key = record.body.idempotencyKey {
            idempotency.finished(record.key.taskID, client: record.key.client, key: key, at: now)  // its fingerprint stays
        }
        heldBytes -= record.payloadBytes
        switch record.placement {
        case .queued:
            queuedCount -= 1
            queuedByPriority[record.priority] -= 1
            queuedPerKind[record.kind, default: 1] -= 1
            staleQueueEntries[record.kind, default: 0] += 1
        case .retrying:
            retryingCount -= 1  // its retry-queue entry is skipped when it comes due
        case .running:
            break
        }
        return record
    }

    /// Sends a finished task to the connection that submitted it, if it is still there.
    mutating func route(_ delivery: TaskDelivery<Output>, of record: TaskRecord, into outbox: inout Outbox) {
        var delivered = false
        if let owner = record.owner, clients[owner] != nil {
            outbox.deliveries[owner, default: []].append(delivery)
            releaseOutstanding(of: owner, bytes: record.payloadBytes, into: &outbox)
            delivered = true
        }
        for watcher in record.watchers where clients[watcher] != nil {
            outbox.deliveries[watcher, default: []].append(delivery)
            releaseOutstanding(of: watcher, bytes: record.payloadBytes, into: &outbox)
            delivered = true
        }
        for alias in record.aliases where clients[alias.connection] != nil {
            var aliased = delivery
            aliased.taskID = alias.taskID
            aliased.original = record.key.taskID
            outbox.deliveries[alias.connection, default: []].append(aliased)
            releaseOutstanding(of: alias.connection, bytes: record.payloadBytes, into: &outbox)
            delivered = true
        }
        if !delivered { counters.undeliverable += 1 }  // kept in the ledger: a client can still ask for it
    }

    /// One task fewer outstanding for `connection`; its idle timeout is released at zero.
    mutating func releaseOutstanding(of connection: ConnectionID, bytes: Int, into outbox: inout Outbox) {
        guard clients[connection] != nil else { return }
        clients[connection]!.outstanding -= 1
        clients[connection]!.outstandingBytes -= bytes
        if clients[connection]!.outstanding == 0 { outbox.actions.append(.holdIdleTimeout(connection, false)) }
    }

    /// The log line of a task that finished failed: its trace id ties it to the client's error and
    /// the worker's log line.
    func failureLog(of record: TaskRecord, code: ErrorCode, worker: String?) -> CoordinatorLogEntry {
        var metadata = [
            "trace_id": record.traceID, "span_id": record.spanID, "task_id": record.key.taskID, "client": record.key.client,
            "code": code.rawValue, "attempt": "\(record.attempt)",
        ]
        if let worker { metadata["worker"] = worker }
        return CoordinatorLogEntry(.info, "task failed", metadata)
    }

    /// An error made by the coordinator about one task: it carries the task's trace.
    func taskError(_ code: ErrorCode, _ message: String, for record: TaskRecord, causes: [ErrorContext] = []) -> ErrorContext {
        ErrorContext(
            code: code, message: message, traceID: record.traceID, spanID: record.spanID, originNode: settings.nodeName,
            taskID: record.key.taskID, attempt: record.attempt == 0 ? nil : Int(record.attempt), causes: causes)
    }
}
