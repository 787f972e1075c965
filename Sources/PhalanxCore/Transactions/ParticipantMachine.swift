import PhalanxResilience

/// A transaction participant's rules, without disk or sockets: it validates a PREPARE against
/// the committed values, locks the keys, and says what to make durable before voting; it applies
/// or drops the write set on the decision. The shell performs the actions in order and reports
/// durability back with ``prepareDurable(_:nowUnixMilliseconds:)``.
///
/// Once it has voted YES it never decides on its own: the transaction stays prepared, its keys
/// locked, until the coordinator's decision arrives (``inDoubt`` lists what to ask about).
public struct ParticipantMachine: Sendable {
    /// A transaction prepared here (or being made durable).
    public struct Prepared: Sendable, Hashable, Codable {
        public var id: String
        public var writes: [KeyWrite]
        /// Values read by `get` operations (nil: the key is absent).
        public var reads: [String: StoreValue?]
        /// The coordinator's deadline for the vote (Unix milliseconds; 0: none).
        public var voteDeadlineUnixMilliseconds: Int64
        public var preparedUnixMilliseconds: Int64
        /// The prepared record is on disk (the vote may be YES).
        public var durable: Bool
        /// Operations on registered resources (TCC), run by their hooks.
        public var resources: [ResourceOperation]
        /// The resources' prepare hooks have succeeded (true when there are none to run). A record
        /// on disk without it is an intent: the hooks may have run, so an abort calls them.
        public var resourcesPrepared: Bool

        public init(
            id: String, writes: [KeyWrite], reads: [String: StoreValue?], voteDeadlineUnixMilliseconds: Int64, preparedUnixMilliseconds: Int64,
            durable: Bool, resources: [ResourceOperation] = [], resourcesPrepared: Bool = true
        ) {
            self.id = id
            self.writes = writes
            self.reads = reads
            self.voteDeadlineUnixMilliseconds = voteDeadlineUnixMilliseconds
            self.preparedUnixMilliseconds = preparedUnixMilliseconds
            self.durable = durable
            self.resources = resources
            self.resourcesPrepared = resourcesPrepared
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            id = try container.decode(String.self, forKey: .id)
            writes = try container.decode([KeyWrite].self, forKey: .writes)
            reads = try container.decode([String: StoreValue?].self, forKey: .reads)
            voteDeadlineUnixMilliseconds = try container.decode(Int64.self, forKey: .voteDeadlineUnixMilliseconds)
            preparedUnixMilliseconds = try container.decode(Int64.self, forKey: .preparedUnixMilliseconds)
            durable = try container.decode(Bool.self, forKey: .durable)
            // Records written before resources existed have neither.
            resources = try container.decodeIfPresent([ResourceOperation].self, forKey: .resources) ?? []
            resourcesPrepared = try container.decodeIfPresent(Bool.self, forKey: .resourcesPrepared) ?? true
        }

        /// Whether a resource's prepare hook may have run (so that an abort must call its abort hook).
        var resourceHooksMayHaveRun: Bool { !resources.needingPrepare.isEmpty && (durable || resourcesPrepared) }
    }

    /// A participant's vote.
    public enum Vote: Sendable, Hashable {
        case yes(reads: [String: StoreValue?])
        case no(ErrorContext)
    }

    public enum Action: Sendable, Hashable {
        /// Make this prepared record durable, then call ``prepareDurable(_:nowUnixMilliseconds:)``.
        case persistPrepared(Prepared)
        /// Make the outcome durable (on commit the write set is applied in the same write), then
        /// acknowledge the decision to the coordinator.
        case persistOutcome(id: String, committed: Bool, writes: [KeyWrite], acknowledge: Bool)
        case vote(id: String, Vote)
        /// The decision is already durable here: acknowledge it.
        case acknowledge(id: String)
        /// A decision this participant cannot apply (a commit for a transaction it never prepared):
        /// it is not acknowledged, so the coordinator keeps it pending and the audit reports it.
        case refuseDecision(id: String, reason: String)
        /// Run the resources' prepare hooks (the intent is durable), then call
        /// ``resourcesPrepared(_:refusal:)``.
        case prepareResources(id: String, [ResourceOperation])
        /// Run the resources' commit (or compensate) hooks, or abort hooks, each until it succeeds,
        /// then call ``resourcesFinished(_:)``.
        case finishResources(id: String, commit: Bool, [ResourceOperation])
    }

    public let node: String
    /// Committed values by key.
    public private(set) var values: [String: StoredValue]
    public private(set) var prepared: [String: Prepared] = [:]
    private var locks: [String: String] = [:]
    /// Transactions whose resources' prepare hooks are running.
    private var preparingResources: Set<String> = []
    /// ABORTs that arrived while the prepare hooks ran: applied when they return.
    private var abortWhenPrepared: Set<String> = []
    /// Transactions whose decision the resources' hooks are applying (acknowledge: a decision asked for it).
    private var finishing: [String: (commit: Bool, acknowledge: Bool)] = [:]
    /// Outcomes of recent transactions (true: committed), so that duplicates are answered the same.
    private var finished: [String: Bool] = [:]
    private var finishedOrder: [String] = []
    private var finishedHead = 0
    /// How many outcomes ``finished`` remembers.
    public static let rememberedOutcomes = 100_000

    /// A participant with `values` committed and `prepared` transactions read back from its store
    /// (they keep their locks: a participant that voted YES waits for the decision).
    public init(node: String, values: [String: StoredValue], prepared: [Prepared], finished: [(id: String, committed: Bool)] = []) {
        self.node = node
        self.values = values
        for var transaction in prepared {
            transaction.durable = true
            self.prepared[transaction.id] = transaction
            for write in transaction.writes { locks[write.key] = transaction.id }
            for key in transaction.reads.keys { locks[key] = transaction.id }
            for operation in transaction.resources { locks[operation.lockKey] = transaction.id }
        }
        for outcome in finished { remember(outcome.id, committed: outcome.committed) }
    }

    /// Transactions voted YES and not yet decided: ask the coordinator about them.
    public var inDoubt: [String] { prepared.values.filter(\.durable).map(\.id).sorted() }

    /// The outcome remembered for `id` (nil: not finished here, or forgotten).
    public func outcome(of id: String) -> Bool? { finished[id] }

    // MARK: - Prepare

    /// A PREPARE of `id`. `maximumReadBytes` is what the vote may carry of values read (it must
    /// fit the coordinator's frames): a transaction that reads more is voted NO.
    public mutating func prepare(
        id: String, operations: [StoreOperation], voteDeadlineUnixMilliseconds: Int64, nowUnixMilliseconds: Int64, maximumReadBytes: Int = .max
    ) -> [Action] {
        if let existing = prepared[id] {
            guard existing.durable, finishing[id] == nil, !preparingResources.contains(id) else { return [] }  // the vote follows
            if !existing.resourcesPrepared {  // an intent read back after a restart: its hooks run (again)
                preparingResources.insert(id)
                return [.prepareResources(id: id, existing.resources.needingPrepare)]
            }
            return [.vote(id: id, .yes(reads: existing.reads))]
        }
        if let committed = finished[id] {
            // Passing conditions, not the operations' fault: a new transaction (a task's next effect) may succeed.
            return [.vote(id: id, committed ? .yes(reads: [:]) : .no(refusal(.conflict, "transaction \(id) was already aborted here; try again as a new transaction", id: id, retryable: true)))]
        }
        if voteDeadlineUnixMilliseconds > 0, nowUnixMilliseconds > voteDeadlineUnixMilliseconds {
            return [.vote(id: id, .no(refusal(.deadlineExceeded, "the PREPARE of \(id) arrived after its vote deadline", id: id, retryable: true)))]
        }
        for operation in operations {
            if let holder = locks[operation.key], holder != id {
                return [.vote(id: id, .no(refusal(.conflict, "key \(operation.key) on \(node) is locked by transaction \(holder); retry the transaction", id: id, retryable: true)))]
            }
        }
        let writes: [KeyWrite]
        let reads: [String: StoreValue?]
        switch validate(operations, id: id) {
        case .success(let result): (writes, reads) = result
        case .failure(let error): return [.vote(id: id, .no(error))]
        }
        let readBytes = TransactionLimits.readBytes(reads, participant: node)
        if let problem = TransactionLimits.readsProblem(bytes: readBytes, budget: maximumReadBytes, on: "on \(node)") {
            return [.vote(id: id, .no(refusal(.invalidArgument, problem, id: id)))]
        }
        let resources = operations.compactMap(\.resourceOperation)
        let record = Prepared(
            id: id, writes: writes, reads: reads, voteDeadlineUnixMilliseconds: voteDeadlineUnixMilliseconds,
            preparedUnixMilliseconds: nowUnixMilliseconds, durable: false, resources: resources, resourcesPrepared: resources.needingPrepare.isEmpty)
        prepared[id] = record
        for operation in operations { locks[operation.key] = id }  // reads lock too
        return [.persistPrepared(record)]
    }

    /// The prepared record of `id` is on disk: vote YES, unless the vote deadline passed meanwhile
    /// (then it aborts on its own: it has not voted yet).
    public mutating func prepareDurable(_ id: String, nowUnixMilliseconds: Int64) -> [Action] {
        guard var record = prepared[id], !record.durable, finishing[id] == nil else { return [] }
        if record.voteDeadlineUnixMilliseconds > 0, nowUnixMilliseconds > record.voteDeadlineUnixMilliseconds {
            let late = Vote.no(refusal(.deadlineExceeded, "\(node) could not make the prepare of \(id) durable before its vote deadline", id: id))
            if record.resourceHooksMayHaveRun { return [.vote(id: id, late), finishThroughHooks(record, commit: false, acknowledge: false)] }
            release(id)
            remember(id, committed: false)
            return [.persistOutcome(id: id, committed: false, writes: record.writes, acknowledge: false), .vote(id: id, late)]
        }
        record.durable = true
        prepared[id] = record
        if !record.resourcesPrepared {  // the intent is on disk: now the resources may reserve
            preparingResources.insert(id)
            return [.prepareResources(id: id, record.resources.needingPrepare)]
        }
        return [.vote(id: id, .yes(reads: record.reads))]
    }

    /// The resources' prepare hooks of `id` returned: all succeeded (`refusal` nil), so the
    /// record is made durable again, marked prepared, before the vote YES; or one refused, so
    /// the vote is NO and every resource's abort hook runs.
    public mutating func resourcesPrepared(_ id: String, refusal: ErrorContext?) -> [Action] {
        guard preparingResources.remove(id) != nil, var record = prepared[id] else { return [] }
        let abortRequested = abortWhenPrepared.remove(id) != nil
        if refusal != nil || abortRequested {
            let abort = finishThroughHooks(record, commit: false, acknowledge: abortRequested)
            return refusal.map { [.vote(id: id, .no($0)), abort] } ?? [abort]
        }
        record.resourcesPrepared = true
        record.durable = false
        prepared[id] = record
        return [.persistPrepared(record)]
    }

    /// The resources' hooks have applied the decision of `id`: the outcome is made durable
    /// (with the built-in store's writes) and acknowledged if a decision asked for it.
    public mutating func resourcesFinished(_ id: String) -> [Action] {
        guard let decision = finishing.removeValue(forKey: id), let record = prepared[id] else { return [] }
        return apply(record, commit: decision.commit, acknowledge: decision.acknowledge)
    }

    /// Computes the write set: operations apply in order, each on the result of the previous.
    private func validate(_ operations: [StoreOperation], id: String) -> Result<([KeyWrite], [String: StoreValue?]), ErrorContext> {
        var current: [String: StoredValue?] = [:]
        var order: [String] = []
        var reads: [String: StoreValue?] = [:]
        func value(_ key: String) -> StoredValue? {
            if let known = current[key] { return known }
            return values[key]
        }
        func set(_ key: String, _ new: StoredValue?) {
            if current[key] == nil { order.append(key) }
            current[key] = .some(new)
        }
        for operation in operations {
            switch operation {
            case .get(let key):
                reads[key] = .some(value(key)?.value)
            case .put(let key, let new, let bound):
                // The key keeps the bound it has unless the put gives one (delete the key to drop it).
                let kept = bound ?? value(key)?.lowerBound
                if new.integer == nil, let kept {
                    return .failure(refusal(
                        .businessRejected, "put \(key) on \(node): the key is an integer bounded below by \(kept), and bytes would drop the bound; delete the key first to store bytes", id: id))
                }
                let stored = StoredValue(new, lowerBound: kept)
                if stored.breaksBound {
                    return .failure(refusal(.businessRejected, "put \(key)=\(new) on \(node) is below its lower bound \(kept ?? 0)", id: id))
                }
                set(key, stored)
            case .add(let key, let amount, let bound):
                let old = value(key)
                guard let base = old.map({ $0.value.integer }) ?? 0 else {
                    return .failure(refusal(.invalidArgument, "add on \(key) at \(node): the key holds bytes, not an integer", id: id))
                }
                let (sum, overflow) = base.addingReportingOverflow(amount)
                if overflow { return .failure(refusal(.invalidArgument, "add \(amount) to \(key) at \(node) overflows a 64-bit integer", id: id)) }
                let lowerBound = bound ?? old?.lowerBound
                if let lowerBound, sum < lowerBound {
                    return .failure(refusal(
                        .businessRejected, "\(key) on \(node) would go to \(sum), below its lower bound \(lowerBound) (it holds \(base))", id: id))
                }
                set(key, StoredValue(.integer(sum), lowerBound: lowerBound))
            case .delete(let key):
                set(key, nil)
            case .resource:
                break  // the resource's own prepare hook validates it
            }
        }
        for key in reads.keys where current[key] == nil { order.append(key) }
        let writes = order.compactMap { key -> KeyWrite? in
            guard let after = current[key] else { return nil }  // read only
            return KeyWrite(key: key, before: values[key], after: after)
        }
        return .success((writes, reads))
    }

    // MARK: - Decision

    /// The coordinator's decision for `id` (duplicates and late arrivals are safe).
    public mutating func decide(_ id: String, commit: Bool) -> [Action] {
        guard let record = prepared[id] else {
            if let committed = finished[id] {
                if committed == commit { return [.acknowledge(id: id)] }
                return [.refuseDecision(id: id, reason: "transaction \(id) already \(committed ? "committed" : "aborted") here; the decision \(commit ? "COMMIT" : "ABORT") contradicts it")]
            }
            // Presumed abort: never prepared here (it voted NO or never saw the PREPARE). Remembered,
            // so that a PREPARE arriving late (reordered) votes NO instead of locking keys.
            if !commit {
                remember(id, committed: false)
                return [.acknowledge(id: id)]
            }
            return [.refuseDecision(id: id, reason: "COMMIT of transaction \(id), which \(node) never prepared")]
        }
        if let running = finishing[id] {
            if running.commit == commit {
                finishing[id]?.acknowledge = true  // acknowledged once the hooks are done
                return []
            }
            return [.refuseDecision(id: id, reason: "transaction \(id) is being \(running.commit ? "committed" : "aborted") here; the decision \(commit ? "COMMIT" : "ABORT") contradicts it")]
        }
        if preparingResources.contains(id) {
            if commit { return [.refuseDecision(id: id, reason: "COMMIT of transaction \(id) before \(node) voted YES")] }
            abortWhenPrepared.insert(id)  // the hooks are running: they are undone when they return
            return []
        }
        if !record.durable, commit {
            return [.refuseDecision(id: id, reason: "COMMIT of transaction \(id) before \(node) voted YES")]
        }
        if commit ? !record.resources.isEmpty : record.resourceHooksMayHaveRun {
            return [finishThroughHooks(record, commit: commit, acknowledge: true)]
        }
        return apply(record, commit: commit, acknowledge: true)
    }

    /// The decision of `record` goes to its resources' hooks first (commit or compensate for
    /// every resource operation; abort for those whose prepare may have run).
    private mutating func finishThroughHooks(_ record: Prepared, commit: Bool, acknowledge: Bool) -> Action {
        finishing[record.id] = (commit: commit, acknowledge: acknowledge)
        return .finishResources(id: record.id, commit: commit, commit ? record.resources : record.resources.needingPrepare)
    }

    private mutating func apply(_ record: Prepared, commit: Bool, acknowledge: Bool) -> [Action] {
        release(record.id)
        remember(record.id, committed: commit)
        if commit {
            for write in record.writes {
                if let after = write.after { values[write.key] = after } else { values[write.key] = nil }
            }
        }
        return [.persistOutcome(id: record.id, committed: commit, writes: record.writes, acknowledge: acknowledge)]
    }

    private mutating func release(_ id: String) {
        guard let record = prepared.removeValue(forKey: id) else { return }
        for write in record.writes where locks[write.key] == id { locks[write.key] = nil }
        for key in record.reads.keys where locks[key] == id { locks[key] = nil }
        for operation in record.resources where locks[operation.lockKey] == id { locks[operation.lockKey] = nil }
    }

    private mutating func remember(_ id: String, committed: Bool) {
        if finished.updateValue(committed, forKey: id) == nil { finishedOrder.append(id) }
        if finishedOrder.count - finishedHead > Self.rememberedOutcomes {
            finished[finishedOrder[finishedHead]] = nil
            finishedHead += 1
            if finishedHead > Self.rememberedOutcomes {
                finishedOrder.removeFirst(finishedHead)
                finishedHead = 0
            }
        }
    }

    private func refusal(_ code: ErrorCode, _ message: String, id: String, retryable: Bool = false) -> ErrorContext {
        ErrorContext(code: code, message: message, failureClass: retryable ? .system : nil, originNode: node)
    }

    /// Whether `key` is locked by a transaction (for tests and the audit snapshot).
    public func lockHolder(of key: String) -> String? { locks[key] }
}
