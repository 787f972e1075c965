import PhalanxCore

/// The net effect of a run of ledger changes on each task, so that a transaction writes each task
/// once: a task accepted, dispatched and finished within one group commit becomes one insert.
/// Pure; every ledger implementation can use it.
public struct CoalescedWrites: Sendable, Hashable {
    /// What one transaction does to one task.
    public struct Write: Sendable, Hashable {
        public var key: TaskKey
        /// Set when the task was accepted in this run: insert (replacing a finished task of the same key).
        public var accepted: (spec: [UInt8], unixMilliseconds: Int64, idempotencyKey: String?, requestFingerprint: UInt64?)?
        public var attempt: UInt32?
        public var losses: UInt32?
        /// The failed attempts so far (the newest record in the run: each one holds all of them).
        public var history: [UInt8]?
        public var cancelRequested = false
        public var finished: (result: [UInt8], unixMilliseconds: Int64)?

        public static func == (lhs: Write, rhs: Write) -> Bool {
            lhs.key == rhs.key && lhs.accepted?.spec == rhs.accepted?.spec && lhs.accepted?.unixMilliseconds == rhs.accepted?.unixMilliseconds
                && lhs.accepted?.idempotencyKey == rhs.accepted?.idempotencyKey && lhs.accepted?.requestFingerprint == rhs.accepted?.requestFingerprint
                && lhs.attempt == rhs.attempt && lhs.losses == rhs.losses && lhs.history == rhs.history && lhs.cancelRequested == rhs.cancelRequested
                && lhs.finished?.result == rhs.finished?.result
                && lhs.finished?.unixMilliseconds == rhs.finished?.unixMilliseconds
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(key) }

        /// It only records that an attempt of a task accepted earlier was dispatched.
        public var isDispatchOnly: Bool {
            accepted == nil && attempt != nil && losses == nil && history == nil && !cancelRequested && finished == nil
        }
    }

    /// One write per task, in the order each task first appeared.
    public private(set) var writes: [Write] = []
    /// Changes other than to tasks (the dead-letter queue, aliases, incarnations, the decision log),
    /// in order (written after the tasks themselves).
    public private(set) var deadLetterChanges: [LedgerChange] = []

    public init(_ changes: [LedgerChange]) {
        var index: [TaskKey: Int] = [:]
        index.reserveCapacity(changes.count)
        for change in changes {
            let key: TaskKey
            switch change {
            case .accepted(let k, _, _, _, _), .dispatched(let k, _), .attemptFailed(let k, _, _), .finished(let k, _, _), .cancelRequested(let k): key = k
            case .deadLettered, .deadLetterRemoved, .aliased, .workerIncarnation, .workerParticipantStore, .participantStoreLossAccepted, .transaction, .saga:
                deadLetterChanges.append(change)
                continue
            }
            let position: Int
            if let existing = index[key] {
                position = existing
            } else {
                position = writes.count
                index[key] = position
                writes.append(Write(key: key))
            }
            switch change {
            case .accepted(_, let spec, let at, let idempotencyKey, let fingerprint):
                // A new acceptance starts the task afresh, whatever came before it in this run.
                writes[position] = Write(key: key, accepted: (spec, at, idempotencyKey, fingerprint))
            case .dispatched(_, let attempt):
                if writes[position].finished == nil { writes[position].attempt = attempt }
            case .attemptFailed(_, let losses, let history):
                if writes[position].finished == nil { (writes[position].losses, writes[position].history) = (losses, history) }
            case .cancelRequested:
                if writes[position].finished == nil { writes[position].cancelRequested = true }
            case .finished(_, let result, let at):
                if writes[position].finished == nil { writes[position].finished = (result, at) }  // the first result stands
            case .deadLettered, .deadLetterRemoved, .aliased, .workerIncarnation, .workerParticipantStore, .participantStoreLossAccepted, .transaction, .saga:
                break  // handled above
            }
        }
    }

    /// These writes without the ones that only record a dispatch, and those as changes for the
    /// next transaction: written with the task's next change (mostly its result), a task takes
    /// one row write less. Losing one in a crash costs what losing the last dispatch record always
    /// did (``CoordinatorMachine/restore(_:now:)`` cannot tell that the attempt ran). Tasks in
    /// `heldBefore` were held back once already: they are written now, so a record waits for one
    /// transaction at most.
    public func holdingBackDispatches(except heldBefore: Set<TaskKey> = []) -> (now: CoalescedWrites, later: [LedgerChange]) {
        var now = self
        var later: [LedgerChange] = []
        now.writes.removeAll { write in
            guard write.isDispatchOnly, let attempt = write.attempt, heldBefore.isEmpty || !heldBefore.contains(write.key) else { return false }
            later.append(.dispatched(write.key, attempt: attempt))
            return true
        }
        return (now, later)
    }
}

