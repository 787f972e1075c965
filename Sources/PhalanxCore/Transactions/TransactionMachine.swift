import PhalanxResilience

/// The coordinator's side of two-phase commit with presumed abort, without disk or sockets.
///
/// ``begin(_:requestID:from:clientName:traceID:participants:isConnected:now:nowUnixMilliseconds:)``
/// sends PREPARE to every participant; when every vote is YES it logs BEGIN and COMMIT together (the
/// commit point), on the first NO, a participant lost before voting, or the vote deadline BEGIN and
/// ABORT. Presumed abort: a transaction the log does not know was never committed, so nothing needs
/// logging before the decision. The
/// decision is sent (and resent every `resendInterval`, and whenever the participant reconnects)
/// until every participant acknowledged it; then END is logged and the transaction forgotten.
///
/// Actions are performed in order; a `reply` or `sendDecision` that follows a `persist` in the
/// same list waits until that change is durable. Time is the caller's: `now` for timers,
/// `nowUnixMilliseconds` for what is logged and for vote deadlines sent to participants.
public struct TransactionMachine: Sendable {
    public struct Settings: Sendable, Hashable {
        /// A participant that has not voted within this aborts the transaction.
        public var voteTimeout: Duration
        /// A decision not acknowledged is sent again after this long.
        public var resendInterval: Duration
        /// Transactions in progress at most; more are refused with OVERLOADED.
        public var maximumActive: Int
        /// Bytes of operations held for transactions in progress at most; more are refused with OVERLOADED.
        public var maximumActiveBytes: Int
        /// Bytes the outcomes of recently ended transactions (with their operations and reads) may
        /// take; older ones are forgotten first (the decision log still answers for them).
        public var maximumRememberedBytes: Int

        public init(
            voteTimeout: Duration = .seconds(5), resendInterval: Duration = .seconds(1), maximumActive: Int = 100_000,
            maximumActiveBytes: Int = 256 * 1024 * 1024, maximumRememberedBytes: Int = 64 * 1024 * 1024
        ) {
            self.voteTimeout = voteTimeout
            self.resendInterval = resendInterval
            self.maximumActive = maximumActive
            self.maximumActiveBytes = maximumActiveBytes
            self.maximumRememberedBytes = maximumRememberedBytes
        }
    }

    public enum Action: Sendable, Hashable {
        case sendPrepare(participant: String, id: String, operations: [StoreOperation], voteDeadlineUnixMilliseconds: Int64)
        case persist(TransactionLogChange)
        case sendDecision(participant: String, id: String, commit: Bool)
        case reply(ConnectionID, requestID: UInt64, TransactionOutcome)
    }

    private enum Phase: Sendable, Hashable {
        case preparing(deadline: Duration)
        case decided(committed: Bool, unacknowledged: Set<String>, lastSent: Duration)
    }

    private struct Active: Sendable {
        var begin: TransactionBegin
        var phase: Phase
        var votes: [String: [String: StoreValue?]] = [:]
        var reason: ErrorContext?
        var waiters: [(ConnectionID, UInt64)] = []
        var decidedUnixMilliseconds: Int64?
        /// What the values read may take in the reply (the first requester's frames).
        var maximumReadBytes: Int = .max
        /// What its operations take (counted in ``activeBytes``).
        var bytes: Int = 0
    }

    public let settings: Settings
    public let node: String
    private var active: [String: Active] = [:]
    /// Never later than the earliest due time in ``active`` (see ``nextWakeUp``).
    private var earliestDue: Duration?
    /// Bytes of operations the transactions in progress hold.
    public private(set) var activeBytes = 0
    /// Outcomes of recently ended transactions (a late duplicate request gets the same answer).
    private var ended: RecentlyEnded<EndedTransaction>

    public init(node: String, settings: Settings = Settings()) {
        self.node = node
        self.settings = settings
        self.ended = RecentlyEnded(capacity: 100_000, maximumBytes: settings.maximumRememberedBytes)
    }

    public var activeCount: Int { active.count }

    /// Log entries of the transactions in progress (for the audit's cut and `tx show`).
    public var activeEntries: [TransactionLogEntry] {
        active.values.map { transaction in
            var entry = TransactionLogEntry(begin: transaction.begin, reason: transaction.reason, decidedUnixMilliseconds: transaction.decidedUnixMilliseconds)
            if case .decided(let committed, _, _) = transaction.phase { entry.committed = committed }
            return entry
        }
    }

    /// When a vote deadline or a resend may be due (nil: nothing pending): never later than the
    /// earliest one, possibly earlier (a transaction that set it may have ended since). A wake-up
    /// at that time costs nothing when nothing is due, and ``wakeUp(now:nowUnixMilliseconds:isConnected:)``
    /// sets it exactly again. Kept as it goes instead of found by a walk over every transaction
    /// in progress: the shell asks after every step.
    public var nextWakeUp: Duration? { active.isEmpty ? nil : earliestDue }

    /// The time `phase` needs a wake-up.
    private func due(_ phase: Phase) -> Duration {
        switch phase {
        case .preparing(let deadline): deadline
        case .decided(_, _, let lastSent): lastSent + settings.resendInterval
        }
    }

    /// Lowers ``earliestDue`` to what `phase` needs; every change of a phase's due time passes here.
    private mutating func noteDue(_ phase: Phase) {
        let time = due(phase)
        earliestDue = min(earliestDue ?? time, time)
    }

    /// Whether `id` is in progress or recently ended here (else the decision log may know it).
    public func knows(_ id: String) -> Bool { active[id] != nil || ended[id] != nil }

    /// A request for `id`, which the decision log already holds (found after a restart): it gets
    /// the logged outcome, and nothing runs again. The values its `get`s read are not logged.
    public mutating func answer(
        fromLog entry: TransactionLogEntry, requestID: UInt64, to client: ConnectionID, clientName: String, participants: [ParticipantOperations]
    ) -> [Action] {
        if let known = ended[entry.id], known.client == clientName, known.participants == participants {
            return [.reply(client, requestID: requestID, Self.repeated(known.outcome))]
        }
        if active[entry.id] != nil {
            return begin(entry.id, requestID: requestID, from: client, clientName: clientName, participants: participants, isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: 0)
        }
        guard entry.begin.client == clientName, entry.begin.participants == participants else {
            return [.reply(client, requestID: requestID, refused(entry.id, .invalidArgument, "transaction id \(entry.id) was used by another transaction; use a new id"))]
        }
        let outcome = TransactionOutcome(id: entry.id, committed: entry.committed ?? false, reason: entry.committed == true ? nil : entry.reason)
        ended[entry.id] = EndedTransaction(entry.begin, outcome)
        return [.reply(client, requestID: requestID, Self.repeated(outcome))]
    }

    /// The outcome told to a request that repeats an ended transaction: an abort says it is the
    /// earlier one and is not run again, so that a retryable reason (CONFLICT: "retry the
    /// transaction") is not retried under the same id forever.
    static func repeated(_ outcome: TransactionOutcome) -> TransactionOutcome {
        guard !outcome.committed, var reason = outcome.reason else { return outcome }
        reason.message = "transaction \(outcome.id) aborted earlier and is not run again under its id (\(reason.message)); to try again, use a new id"
        var repeated = outcome
        repeated.reason = reason
        return repeated
    }

    // MARK: - Events

    /// A client asks for transaction `id`. A duplicate of one in progress waits for the same outcome.
    public mutating func begin(
        _ id: String, requestID: UInt64, from client: ConnectionID, clientName: String, traceID: String = "",
        participants: [ParticipantOperations], isConnected: (String) -> Bool, now: Duration, nowUnixMilliseconds: Int64, maximumReadBytes: Int = .max
    ) -> [Action] {
        if var existing = active[id] {
            guard existing.begin.client == clientName, existing.begin.participants == participants else {
                return [.reply(client, requestID: requestID, refused(id, .invalidArgument, "transaction id \(id) is in use by another transaction; use a new id"))]
            }
            if case .decided(let committed, _, _) = existing.phase {
                return [.reply(client, requestID: requestID, outcome(of: existing, committed: committed))]  // decided: answer now
            }
            existing.waiters.append((client, requestID))
            active[id] = existing
            return []
        }
        if let known = ended[id] {
            guard known.client == clientName, known.participants == participants else {
                return [.reply(client, requestID: requestID, refused(id, .invalidArgument, "transaction id \(id) was used by another transaction; use a new id"))]
            }
            return [.reply(client, requestID: requestID, Self.repeated(known.outcome))]
        }
        if let problem = TransactionLimits.problem(id: id, participants) {
            return [.reply(client, requestID: requestID, refused(id, .invalidArgument, problem))]
        }
        if active.count >= settings.maximumActive {
            return [.reply(client, requestID: requestID, refused(id, .overloaded, "\(active.count) transactions are in progress, the most this coordinator holds; try again shortly"))]
        }
        let bytes = participants.estimatedBytes
        if activeBytes + bytes > settings.maximumActiveBytes {
            return [.reply(client, requestID: requestID, refused(
                id, .overloaded, "transactions in progress hold \(activeBytes) bytes of operations and this one \(bytes), more than the \(settings.maximumActiveBytes) this coordinator holds; try again shortly"))]
        }
        let begin = TransactionBegin(id: id, client: clientName, participants: participants, begunUnixMilliseconds: nowUnixMilliseconds, traceID: traceID)
        if let missing = participants.first(where: { !isConnected($0.participant) }) {
            // Nothing is prepared anywhere: the abort is logged with the BEGIN, for `tx show` and the audit.
            let reason = ErrorContext(
                code: .unavailable,
                message: "participant \(missing.participant) is not connected (no worker of that name is registered); start it or name another",
                originNode: node)
            let outcome = TransactionOutcome(id: id, committed: false, reason: reason)
            ended[id] = EndedTransaction(outcome: outcome, client: clientName, participants: participants)
            return [
                .persist(.begun(begin)),
                .persist(.decided(id: id, committed: false, reason: reason, decidedUnixMilliseconds: nowUnixMilliseconds)),
                .persist(.ended(id: id, endedUnixMilliseconds: nowUnixMilliseconds)),
                .reply(client, requestID: requestID, outcome),
            ]
        }
        let voteDeadline = nowUnixMilliseconds + settings.voteTimeout.wholeMillisecondsRoundedUp
        insert(Active(begin: begin, phase: .preparing(deadline: now + settings.voteTimeout), waiters: [(client, requestID)], maximumReadBytes: maximumReadBytes), bytes: bytes)
        // Nothing is logged yet: with presumed abort a transaction the log does not know aborted.
        // BEGIN is logged with the decision, in the same group commit (one write per transaction).
        return participants.map {
            Action.sendPrepare(participant: $0.participant, id: id, operations: $0.operations, voteDeadlineUnixMilliseconds: voteDeadline)
        }
    }

    /// Participant `name` voted on `id`. Votes for an unknown or decided transaction are ignored.
    public mutating func voted(_ id: String, from name: String, _ vote: ParticipantMachine.Vote, now: Duration, nowUnixMilliseconds: Int64) -> [Action] {
        guard var transaction = active[id], case .preparing = transaction.phase,
            transaction.begin.participants.contains(where: { $0.participant == name })
        else { return [] }
        switch vote {
        case .no(let error):
            var reason = error
            if reason.originNode == nil { reason.originNode = name }
            transaction.reason = reason
            active[id] = transaction
            return decide(id, committed: false, now: now, nowUnixMilliseconds: nowUnixMilliseconds)
        case .yes(let reads):
            transaction.votes[name] = reads
            guard transaction.votes.count == transaction.begin.participants.count else {
                active[id] = transaction
                return []
            }
            // Every participant's reads fit its vote; together they must fit the reply.
            let readBytes = transaction.votes.reduce(0) { $0 + TransactionLimits.readBytes($1.value, participant: $1.key) }
            if let problem = TransactionLimits.readsProblem(bytes: readBytes, budget: transaction.maximumReadBytes, on: "on all participants together") {
                transaction.reason = ErrorContext(code: .invalidArgument, message: problem, originNode: node)
                active[id] = transaction
                return decide(id, committed: false, now: now, nowUnixMilliseconds: nowUnixMilliseconds)
            }
            active[id] = transaction
            return decide(id, committed: true, now: now, nowUnixMilliseconds: nowUnixMilliseconds)
        }
    }

    /// Participant `name` made the decision on `id` durable.
    public mutating func acknowledged(_ id: String, from name: String, nowUnixMilliseconds: Int64) -> [Action] {
        guard var transaction = active[id], case .decided(let committed, var unacknowledged, let lastSent) = transaction.phase else { return [] }
        unacknowledged.remove(name)
        guard unacknowledged.isEmpty else {
            transaction.phase = .decided(committed: committed, unacknowledged: unacknowledged, lastSent: lastSent)
            active[id] = transaction
            return []
        }
        remove(id)
        ended[id] = EndedTransaction(transaction.begin, outcome(of: transaction, committed: committed), operationBytes: transaction.bytes)
        return [.persist(.ended(id: id, endedUnixMilliseconds: nowUnixMilliseconds))]
    }

    /// Participant `name` goes on with a new store, its operator having accepted that the old one
    /// is lost (`--accept-new-store`): the decisions it had not acknowledged never will be, so they
    /// no longer wait for it (each is ended once the others acknowledged it; the audit reports
    /// every commit the new store lacks, as explained by the loss). A transaction still undecided
    /// aborts: a YES it voted went with the old store's prepared write set, and a COMMIT would
    /// reach a store that never prepared it. Returns the decided transactions it no longer holds up.
    public mutating func participantStoreReplaced(_ name: String, now: Duration, nowUnixMilliseconds: Int64) -> (released: [String], actions: [Action]) {
        var released: [String] = []
        var actions: [Action] = []
        for (id, transaction) in active.sorted(by: { $0.key < $1.key }) {
            switch transaction.phase {
            case .decided(_, let unacknowledged, _) where unacknowledged.contains(name):
                released.append(id)
                actions += acknowledged(id, from: name, nowUnixMilliseconds: nowUnixMilliseconds)
            case .preparing where transaction.begin.participants.contains(where: { $0.participant == name }):
                active[id]?.reason = ErrorContext(
                    code: .unavailable,
                    message: "the participant store of \(name) was replaced by a new one (--accept-new-store) before transaction \(id) was decided: what it prepared for it is lost",
                    originNode: node)
                actions += decide(id, committed: false, now: now, nowUnixMilliseconds: nowUnixMilliseconds)
            default:
                continue
            }
        }
        return (released, actions)
    }

    /// Participant `name` asks how transactions it prepared ended (in-doubt resolution). Unknown
    /// ones were never decided to commit: presumed abort.
    public func inquired(_ ids: [String], from name: String) -> [Action] {
        ids.compactMap { id in
            if let transaction = active[id] {
                guard case .decided(let committed, _, _) = transaction.phase else { return nil }  // the decision will come
                return .sendDecision(participant: name, id: id, commit: committed)
            }
            return .sendDecision(participant: name, id: id, commit: ended[id]?.outcome.committed ?? false)
        }
    }

    /// Participant `name` (re)connected: it gets every decision it has not acknowledged.
    public mutating func participantConnected(_ name: String, now: Duration) -> [Action] {
        var actions: [Action] = []
        for (id, transaction) in active {
            guard case .decided(let committed, let unacknowledged, _) = transaction.phase, unacknowledged.contains(name) else { continue }
            actions.append(.sendDecision(participant: name, id: id, commit: committed))
        }
        return actions
    }

    /// Participant `name` is gone: transactions still waiting for its vote abort.
    public mutating func participantLost(_ name: String, now: Duration, nowUnixMilliseconds: Int64) -> [Action] {
        var actions: [Action] = []
        for (id, transaction) in active.sorted(by: { $0.key < $1.key }) {
            guard case .preparing = transaction.phase, transaction.votes[name] == nil,
                transaction.begin.participants.contains(where: { $0.participant == name })
            else { continue }
            var updated = transaction
            updated.reason = ErrorContext(
                code: .unavailable, message: "participant \(name) was lost before it voted on transaction \(id)", originNode: node)
            active[id] = updated
            actions += decide(id, committed: false, now: now, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        return actions
    }

    /// A client connection ended: its outcomes are no longer sent (the log keeps them).
    public mutating func clientLost(_ client: ConnectionID) {
        for (id, transaction) in active where transaction.waiters.contains(where: { $0.0 == client }) {
            active[id]?.waiters.removeAll { $0.0 == client }
        }
    }

    /// Timers: votes past their deadline abort; decisions not acknowledged are sent again.
    public mutating func wakeUp(now: Duration, nowUnixMilliseconds: Int64, isConnected: (String) -> Bool) -> [Action] {
        var actions: [Action] = []
        for (id, transaction) in active.sorted(by: { $0.key < $1.key }) {
            switch transaction.phase {
            case .preparing(let deadline) where now >= deadline:
                let missing = transaction.begin.participants.map(\.participant).filter { transaction.votes[$0] == nil }
                // A system failure (a slow or stuck participant), retryable: sagas and task effects try again.
                active[id]?.reason = ErrorContext(
                    code: .deadlineExceeded,
                    message: "\(missing.joined(separator: ", ")) did not vote on transaction \(id) within \(settings.voteTimeout.wholeMillisecondsRoundedUp) ms",
                    failureClass: .system, originNode: node)
                actions += decide(id, committed: false, now: now, nowUnixMilliseconds: nowUnixMilliseconds)
            case .decided(let committed, let unacknowledged, let lastSent) where now >= lastSent + settings.resendInterval:
                active[id]?.phase = .decided(committed: committed, unacknowledged: unacknowledged, lastSent: now)
                for name in unacknowledged.sorted() where isConnected(name) {
                    actions.append(.sendDecision(participant: name, id: id, commit: committed))
                }
            default:
                continue
            }
        }
        earliestDue = nil
        for transaction in active.values { noteDue(transaction.phase) }
        return actions
    }

    /// After a restart: the log's transactions without END. Undecided ones abort (presumed abort,
    /// and the ABORT is logged so that participants are told and the history shows it); decided
    /// ones send their decision again to every participant.
    public mutating func recovered(_ entries: [TransactionLogEntry], now: Duration, nowUnixMilliseconds: Int64) -> [Action] {
        var actions: [Action] = []
        for entry in entries where entry.endedUnixMilliseconds == nil {
            let names = Set(entry.participantNames)
            if let committed = entry.committed {
                insert(Active(
                    begin: entry.begin, phase: .decided(committed: committed, unacknowledged: names, lastSent: now), reason: entry.reason,
                    decidedUnixMilliseconds: entry.decidedUnixMilliseconds), bytes: entry.begin.participants.estimatedBytes)
                actions += names.sorted().map { .sendDecision(participant: $0, id: entry.id, commit: committed) }
            } else {
                let reason = ErrorContext(code: .unavailable, message: "the coordinator restarted before transaction \(entry.id) was decided", originNode: node)
                insert(Active(
                    begin: entry.begin, phase: .decided(committed: false, unacknowledged: names, lastSent: now), reason: reason,
                    decidedUnixMilliseconds: nowUnixMilliseconds), bytes: entry.begin.participants.estimatedBytes)
                actions.append(.persist(.decided(id: entry.id, committed: false, reason: reason, decidedUnixMilliseconds: nowUnixMilliseconds)))
                actions += names.sorted().map { .sendDecision(participant: $0, id: entry.id, commit: false) }
            }
        }
        return actions
    }

    // MARK: - Deciding

    /// Logs the decision, then (once durable) answers the waiting clients and tells every participant.
    private mutating func decide(_ id: String, committed: Bool, now: Duration, nowUnixMilliseconds: Int64) -> [Action] {
        guard var transaction = active[id] else { return [] }
        let names = transaction.begin.participants.map(\.participant)
        transaction.phase = .decided(committed: committed, unacknowledged: Set(names), lastSent: now)
        noteDue(transaction.phase)
        transaction.decidedUnixMilliseconds = nowUnixMilliseconds
        let waiters = transaction.waiters
        transaction.waiters = []
        active[id] = transaction
        let outcome = outcome(of: transaction, committed: committed)
        var actions: [Action] = [
            .persist(.begun(transaction.begin)),
            .persist(.decided(id: id, committed: committed, reason: committed ? nil : transaction.reason, decidedUnixMilliseconds: nowUnixMilliseconds)),
        ]
        actions += waiters.map { .reply($0.0, requestID: $0.1, outcome) }
        actions += names.map { .sendDecision(participant: $0, id: id, commit: committed) }
        return actions
    }

    /// Holds `transaction`, whose operations take `bytes` (computed once by the caller).
    private mutating func insert(_ transaction: Active, bytes: Int) {
        var transaction = transaction
        transaction.bytes = bytes
        activeBytes += bytes - (active[transaction.begin.id]?.bytes ?? 0)
        noteDue(transaction.phase)
        active[transaction.begin.id] = transaction
    }

    private mutating func remove(_ id: String) {
        guard let transaction = active.removeValue(forKey: id) else { return }
        activeBytes -= transaction.bytes
    }

    private func outcome(of transaction: Active, committed: Bool) -> TransactionOutcome {
        TransactionOutcome(id: transaction.begin.id, committed: committed, reason: committed ? nil : transaction.reason, reads: committed ? transaction.votes : [:])
    }

    private func refused(_ id: String, _ code: ErrorCode, _ message: String) -> TransactionOutcome {
        .refusal(id: id, reason: ErrorContext(code: code, message: message, originNode: node))
    }
}

/// An ended transaction as the machine remembers it: its outcome, and who asked for what (a
/// request that reuses the id for other operations is refused).
struct EndedTransaction: Sendable, EstimatedSize {
    var outcome: TransactionOutcome
    var client: String
    var participants: [ParticipantOperations]
    /// What its operations take (known from when it was in progress, else counted here).
    let operationBytes: Int

    init(outcome: TransactionOutcome, client: String, participants: [ParticipantOperations], operationBytes: Int? = nil) {
        self.outcome = outcome
        self.client = client
        self.participants = participants
        self.operationBytes = operationBytes ?? participants.estimatedBytes
    }

    init(_ begin: TransactionBegin, _ outcome: TransactionOutcome, operationBytes: Int? = nil) {
        self.init(outcome: outcome, client: begin.client, participants: begin.participants, operationBytes: operationBytes)
    }

    /// What it takes in memory: its operations and the values it read.
    var estimatedBytes: Int {
        let reads = outcome.reads.reduce(0) { $0 + TransactionLimits.readBytes($1.value, participant: $1.key) }
        return operationBytes + reads + client.utf8.count + outcome.id.utf8.count + (outcome.reason?.message.utf8.count ?? 0) + 64
    }
}
