import PhalanxResilience

/// Sagas on the coordinator, without disk or sockets: multi-step work whose steps commit
/// independently (each step is a two-phase-commit transaction), with a compensation log.
///
/// A step's commit is logged (`stepCommitted`) before the next step starts, so its compensation is
/// owed from then on. A step that fails for good (a business refusal, or system failures past
/// `forwardAttempts`) stops the saga: the committed steps are compensated in reverse order, each
/// compensation retried with backoff until it commits and is logged `compensated`. Every attempt
/// is its own transaction (`saga:ID#sSTEP.ATTEMPT`, `saga:ID#cSTEP.ATTEMPT`), so after a crash the
/// decision log says which attempts committed and nothing is applied twice.
///
/// `runTransaction` and `reply` wait until the records before them are durable.
public struct SagaMachine: Sendable {
    public struct Settings: Sendable, Hashable {
        /// Attempts of a forward step that fails for system reasons before the saga compensates.
        public var forwardAttempts: Int
        public var initialBackoff: Duration
        public var maximumBackoff: Duration
        /// Sagas in progress at most.
        public var maximumActive: Int
        /// Bytes of steps held for sagas in progress at most; more are refused with OVERLOADED.
        public var maximumActiveBytes: Int
        /// Bytes the recently finished sagas (with their steps) may take; older ones are forgotten
        /// first (the shell answers a repeated request for one from the compensation log).
        public var maximumRememberedBytes: Int

        /// Settings whose step retries outlast a worker that pauses for `heartbeatWindow` (until it
        /// is declared dead): the first wait is a tenth of it (at least 100 ms), doubling.
        public static func outlasting(heartbeatWindow: Duration) -> Settings {
            Settings(initialBackoff: max(.milliseconds(100), heartbeatWindow / 10))
        }

        public init(
            forwardAttempts: Int = 5, initialBackoff: Duration = .milliseconds(100), maximumBackoff: Duration = .seconds(5), maximumActive: Int = 10_000,
            maximumActiveBytes: Int = 256 * 1024 * 1024, maximumRememberedBytes: Int = 64 * 1024 * 1024
        ) {
            self.forwardAttempts = forwardAttempts
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.maximumActive = maximumActive
            self.maximumActiveBytes = maximumActiveBytes
            self.maximumRememberedBytes = maximumRememberedBytes
        }
    }

    public enum Action: Sendable, Hashable {
        case persist(SagaLogRecord)
        case runTransaction(id: String, participants: [ParticipantOperations])
        case reply(ConnectionID, requestID: UInt64, SagaOutcome)
    }

    /// Failed attempts of a compensation (for system reasons) after which the waiting clients are
    /// told it is blocked; the retries go on.
    public static let attemptsBeforeReportingBlocked = 3

    /// Steps in one saga at most.
    public static let maximumSteps = 100
    /// Prefix of the transactions sagas run.
    public static let transactionPrefix = "saga:"

    private struct Active: Sendable {
        var begin: SagaBegin
        var compensating = false
        var step = 0
        var attempt = 0
        var running = false
        var retryAt: Duration?
        /// Resumed after a restart: it runs at `retryAt`, or as soon as the workers its next
        /// transaction names are registered again, whichever comes first.
        var awaitsParticipants = false
        var committed: Set<Int> = []
        var compensated: [Int] = []
        var failedStep: Int?
        var reason: ErrorContext?
        /// The compensation of `step` was refused for a reason retrying alone does not change.
        var blockedReason: ErrorContext?
        var waiters: [(ConnectionID, UInt64)] = []

        /// The outcome so far of a saga whose compensation is blocked.
        func blockedOutcome(_ id: String) -> SagaOutcome {
            SagaOutcome(
                id: id, completed: false, failedStep: failedStep, reason: reason, compensated: compensated, blockedStep: step, blockedReason: blockedReason)
        }
    }

    public let settings: Settings
    public let node: String
    private var active: [String: Active] = [:]
    /// Bytes of steps the sagas in progress hold.
    public private(set) var activeBytes = 0
    /// Recently finished sagas: the outcome, and who asked for which steps.
    private var ended: RecentlyEnded<EndedSaga>

    public init(node: String, settings: Settings = Settings()) {
        self.node = node
        self.settings = settings
        self.ended = RecentlyEnded(capacity: 100_000, maximumBytes: settings.maximumRememberedBytes)
    }

    /// What the steps of a saga take in memory.
    static func bytes(of steps: [SagaStep]) -> Int {
        steps.reduce(0) { $0 + $1.forward.estimatedBytes + $1.compensation.estimatedBytes + 16 }
    }

    public var activeCount: Int { active.count }

    public var nextWakeUp: Duration? { active.values.compactMap(\.retryAt).min() }

    /// Why `id` cannot name a saga, or nil when it can (the CLI checks it before it connects).
    public static func idProblem(_ id: String) -> String? {
        if id.isEmpty || id.utf8.count > TransactionLimits.maximumIDBytes - 16 || id.contains("#") {
            return "a saga id must be 1 to \(TransactionLimits.maximumIDBytes - 16) bytes without '#' (got \(id.utf8.count) bytes)"
        }
        return TransactionLimits.idProblem(id).map { "saga id: \($0)" }
    }

    /// Why `step` (number `index + 1`) cannot run in a saga, or nil: a `get` there would read a
    /// value nobody is told (a saga's outcome carries no values, and its steps are not isolated
    /// from each other, so a value read in one may have changed by the next).
    public static func readProblem(_ step: SagaStep, index: Int) -> String? {
        for (part, participants) in [("step \(index + 1)", step.forward), ("the compensation of step \(index + 1)", step.compensation)] {
            for participant in participants {
                for case .get(let key) in participant.operations {
                    return "\(part) reads \(participant.participant):\(key), but a saga returns no values read; read it with `phalanx tx run \(participant.participant):\(key)` (a transaction) before or after the saga"
                }
            }
        }
        return nil
    }

    /// The transaction of an attempt; ``parse(_:)`` reads it back.
    public static func transactionID(saga: String, compensation: Bool, step: Int, attempt: Int) -> String {
        "\(transactionPrefix)\(saga)#\(compensation ? "c" : "s")\(step).\(attempt)"
    }

    public static func parse(_ transaction: String) -> (saga: String, compensation: Bool, step: Int, attempt: Int)? {
        guard transaction.hasPrefix(transactionPrefix), let hash = transaction.lastIndex(of: "#") else { return nil }
        let saga = String(transaction[transaction.index(transaction.startIndex, offsetBy: transactionPrefix.count)..<hash])
        var rest = transaction[transaction.index(after: hash)...]
        guard let kind = rest.first, kind == "s" || kind == "c" else { return nil }
        rest = rest.dropFirst()
        let numbers = rest.split(separator: ".")
        guard numbers.count == 2, let step = Int(numbers[0]), let attempt = Int(numbers[1]) else { return nil }
        return (saga, kind == "c", step, attempt)
    }

    /// Whether `id` is in progress or recently finished here (else the compensation log may know it).
    public func knows(_ id: String) -> Bool { active[id] != nil || ended[id] != nil }

    /// A request for saga `id`, which the compensation log already holds (finished before a
    /// restart, or forgotten here since): it gets the logged outcome, and no step runs again.
    public mutating func answer(
        fromLog history: SagaHistory, requestID: UInt64, from client: ConnectionID, clientName: String, steps: [SagaStep], nowUnixMilliseconds: Int64
    ) -> [Action] {
        guard let begin = history.begin, let completed = history.completed, active[begin.id] == nil else {
            return start(history.id, requestID: requestID, from: client, clientName: clientName, steps: steps, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        guard begin.client == clientName, begin.steps == steps else {
            return [.reply(client, requestID: requestID, SagaOutcome(
                id: begin.id, completed: false,
                reason: ErrorContext(code: .invalidArgument, message: "saga id \(begin.id) was used by another saga; use a new id", originNode: node)))]
        }
        let failure = history.failure
        let outcome = SagaOutcome(
            id: begin.id, completed: completed, failedStep: failure?.step, reason: failure?.reason,
            compensated: history.compensatedSteps.keys.sorted(by: >))
        ended[begin.id] = EndedSaga(outcome: outcome, client: clientName, steps: steps)
        return [.reply(client, requestID: requestID, outcome)]
    }

    // MARK: - Events

    /// Starts saga `id` for `client`, or answers a repeated request for it. `isConnected` says
    /// whether a worker of that name is registered: a saga that names one that is not is refused
    /// before anything runs (a compensation that cannot reach its worker would keep it from finishing).
    public mutating func start(
        _ id: String, requestID: UInt64, from client: ConnectionID, clientName: String, steps: [SagaStep], nowUnixMilliseconds: Int64,
        isConnected: (String) -> Bool = { _ in true }
    ) -> [Action] {
        func refused(_ code: ErrorCode, _ message: String) -> [Action] {
            [.reply(client, requestID: requestID, SagaOutcome(id: id, completed: false, reason: ErrorContext(code: code, message: message, originNode: node)))]
        }
        if let running = active[id] {
            guard running.begin.client == clientName, running.begin.steps == steps else { return refused(.invalidArgument, "saga id \(id) is in use by another saga; use a new id") }
            if running.blockedReason != nil { return [.reply(client, requestID: requestID, running.blockedOutcome(id))] }
            active[id]?.waiters.append((client, requestID))
            return []
        }
        if let known = ended[id] {
            guard known.client == clientName, known.steps == steps else { return refused(.invalidArgument, "saga id \(id) was used by another saga; use a new id") }
            return [.reply(client, requestID: requestID, known.outcome)]
        }
        if let problem = Self.idProblem(id) { return refused(.invalidArgument, problem) }
        guard (1...Self.maximumSteps).contains(steps.count) else { return refused(.invalidArgument, "a saga has 1 to \(Self.maximumSteps) steps, got \(steps.count)") }
        for (index, step) in steps.enumerated() {
            if let problem = TransactionLimits.problem(id: "step", step.forward) { return refused(.invalidArgument, "step \(index + 1): \(problem)") }
            if !step.compensation.isEmpty, let problem = TransactionLimits.problem(id: "step", step.compensation) {
                return refused(.invalidArgument, "the compensation of step \(index + 1): \(problem)")
            }
            if let problem = Self.readProblem(step, index: index) { return refused(.invalidArgument, problem) }
        }
        for (index, step) in steps.enumerated() {
            for (part, participants) in [("step \(index + 1)", step.forward), ("the compensation of step \(index + 1)", step.compensation)] {
                guard let missing = participants.first(where: { !isConnected($0.participant) }) else { continue }
                return refused(
                    .unavailable,
                    "worker \(missing.participant), named by \(part), is not registered: a saga starts only when every worker its steps and compensations name is registered (a compensation that cannot reach its worker would keep the saga from finishing); start \(missing.participant) or correct the name")
            }
        }
        guard active.count < settings.maximumActive else { return refused(.overloaded, "\(active.count) sagas are in progress, the most this coordinator holds; try again shortly") }
        let bytes = Self.bytes(of: steps)
        guard activeBytes + bytes <= settings.maximumActiveBytes else {
            return refused(
                .overloaded,
                "sagas in progress hold \(activeBytes) bytes of steps and this one \(bytes), more than the \(settings.maximumActiveBytes) this coordinator holds; try again shortly")
        }
        let begin = SagaBegin(id: id, client: clientName, steps: steps, begunUnixMilliseconds: nowUnixMilliseconds)
        activeBytes += bytes
        active[id] = Active(begin: begin, waiters: [(client, requestID)])
        return [record(id, .begun(begin), nowUnixMilliseconds)] + run(id, nowUnixMilliseconds: nowUnixMilliseconds)
    }

    /// A transaction of a saga ended (its decision is durable).
    public mutating func transactionEnded(_ outcome: TransactionOutcome, now: Duration, nowUnixMilliseconds: Int64) -> [Action] {
        guard let attempt = Self.parse(outcome.id), var saga = active[attempt.saga], saga.running,
            saga.compensating == attempt.compensation, saga.step == attempt.step, saga.attempt == attempt.attempt
        else { return [] }
        saga.running = false
        let id = attempt.saga
        if !saga.compensating {
            if outcome.committed {
                saga.committed.insert(saga.step)
                saga.step += 1
                saga.attempt = 0
                active[id] = saga
                return [record(id, .stepCommitted(step: attempt.step, transaction: outcome.id), nowUnixMilliseconds)] + run(id, nowUnixMilliseconds: nowUnixMilliseconds)
            }
            let reason = outcome.reason ?? ErrorContext(code: .internal, message: "step \(attempt.step + 1) aborted without a reason", originNode: node)
            if reason.retryable, saga.attempt + 1 < settings.forwardAttempts {
                let failed = record(id, .attemptFailed(step: attempt.step, attempt: saga.attempt, compensation: false, reason: reason), nowUnixMilliseconds)
                saga.attempt += 1
                saga.retryAt = now + backoff(saga.attempt)
                active[id] = saga
                return [failed]
            }
            saga.failedStep = saga.step
            saga.reason = reason
            saga.compensating = true
            saga.attempt = 0
            saga.step = previousToCompensate(saga, below: saga.step) ?? -1
            active[id] = saga
            return [record(id, .failed(step: attempt.step, reason: reason), nowUnixMilliseconds)] + run(id, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        if outcome.committed {
            saga.compensated.append(saga.step)
            saga.step = previousToCompensate(saga, below: saga.step) ?? -1
            saga.attempt = 0
            saga.blockedReason = nil
            active[id] = saga
            return [record(id, .compensated(step: attempt.step, transaction: outcome.id), nowUnixMilliseconds)] + run(id, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        // A compensation is retried until it commits; why each attempt failed is logged (tx show, the audit).
        let reason = outcome.reason ?? ErrorContext(code: .internal, message: "the compensation aborted without a reason", originNode: node)
        var actions = [record(id, .attemptFailed(step: attempt.step, attempt: saga.attempt, compensation: true, reason: reason), nowUnixMilliseconds)]
        saga.attempt += 1
        saga.retryAt = now + backoff(saga.attempt)
        if !reason.retryable || saga.attempt >= Self.attemptsBeforeReportingBlocked, saga.blockedReason == nil {
            // Refused for a reason retrying alone does not change (a bound, a bad operation), or
            // failing again and again (its worker unreachable): the waiting clients are told now;
            // the retries go on, for what refuses it may be put right.
            saga.blockedReason = reason
            actions += saga.waiters.map { .reply($0.0, requestID: $0.1, saga.blockedOutcome(id)) }
            saga.waiters = []
        }
        active[id] = saga
        return actions
    }

    /// Retries that are due start, and sagas resumed after a restart whose workers are back.
    public mutating func wakeUp(now: Duration, nowUnixMilliseconds: Int64, isConnected: (String) -> Bool = { _ in false }) -> [Action] {
        var actions: [Action] = []
        for (id, saga) in active.sorted(by: { $0.key < $1.key }) {
            guard let at = saga.retryAt else { continue }
            let workersBack = saga.awaitsParticipants && nextParticipants(of: saga).allSatisfy { isConnected($0.participant) }
            guard at <= now || workersBack else { continue }
            active[id]?.retryAt = nil
            actions += run(id, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        return actions
    }

    /// The participants of the transaction the saga runs next (none when it is about to finish).
    private func nextParticipants(of saga: Active) -> [ParticipantOperations] {
        guard saga.begin.steps.indices.contains(saga.step) else { return [] }
        return saga.compensating ? saga.begin.steps[saga.step].compensation : saga.begin.steps[saga.step].forward
    }

    /// Runs a recovered saga, or — with a `grace` — lets it wait for the workers its next
    /// transaction names to register again (up to `grace`), so that a restart alone does not
    /// spend its step's attempts on "not connected".
    private mutating func resume(_ id: String, _ saga: Active, now: Duration, grace: Duration, nowUnixMilliseconds: Int64) -> [Action] {
        var saga = saga
        guard grace > .zero, !nextParticipants(of: saga).isEmpty else {
            active[id] = saga
            return run(id, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        saga.retryAt = now + grace
        saga.awaitsParticipants = true
        active[id] = saga
        return []
    }

    /// After a restart: unfinished sagas resume where their log stops. `decisions` holds the
    /// decision log's outcome of each transaction (true: committed); an attempt without one aborted.
    /// With a `grace`, each waits for the workers its next transaction names to register again
    /// (``wakeUp(now:nowUnixMilliseconds:isConnected:)``), at most that long.
    public mutating func recovered(
        _ histories: [SagaHistory], decisions: [String: Bool], now: Duration = .zero, grace: Duration = .zero, nowUnixMilliseconds: Int64
    ) -> [Action] {
        var actions: [Action] = []
        for history in histories where history.completed == nil {
            guard let begin = history.begin, active[begin.id] == nil else { continue }
            activeBytes += Self.bytes(of: begin.steps)
            var saga = Active(begin: begin)
            saga.committed = Set(history.committedSteps.keys)
            saga.compensated = history.records.compactMap { if case .compensated(let step, _) = $0.event { step } else { nil } }
            var last: (compensation: Bool, step: Int, attempt: Int, transaction: String)?
            for record in history.records {
                switch record.event {
                case .stepStarted(let step, let attempt, let transaction): last = (false, step, attempt, transaction)
                case .compensationStarted(let step, let attempt, let transaction): last = (true, step, attempt, transaction)
                default: break
                }
            }
            let id = begin.id
            if let failure = history.failure {
                saga.compensating = true
                saga.failedStep = failure.step
                saga.reason = failure.reason
            }
            if let last, last.compensation == saga.compensating, !(last.compensation ? saga.compensated.contains(last.step) : saga.committed.contains(last.step)) {
                // The attempt that was running when the coordinator stopped.
                if decisions[last.transaction] == true {
                    if last.compensation {
                        saga.compensated.append(last.step)
                        actions.append(record(id, .compensated(step: last.step, transaction: last.transaction), nowUnixMilliseconds))
                    } else {
                        saga.committed.insert(last.step)
                        actions.append(record(id, .stepCommitted(step: last.step, transaction: last.transaction), nowUnixMilliseconds))
                    }
                } else {
                    saga.step = last.step
                    saga.attempt = last.attempt + 1
                    actions += resume(id, saga, now: now, grace: grace, nowUnixMilliseconds: nowUnixMilliseconds)
                    continue
                }
            }
            if saga.compensating {
                saga.step = previousToCompensate(saga, below: saga.failedStep ?? begin.steps.count) ?? -1
            } else {
                saga.step = (saga.committed.max() ?? -1) + 1
            }
            saga.attempt = 0
            actions += resume(id, saga, now: now, grace: grace, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        return actions
    }

    /// A client connection ended: its sagas go on (the log has their outcome for `tx show`).
    public mutating func clientLost(_ client: ConnectionID) {
        for (id, saga) in active where saga.waiters.contains(where: { $0.0 == client }) {
            active[id]?.waiters.removeAll { $0.0 == client }
        }
    }

    // MARK: - Running

    /// Starts the saga's current attempt, or finishes it.
    private mutating func run(_ id: String, nowUnixMilliseconds: Int64) -> [Action] {
        guard var saga = active[id] else { return [] }
        if !saga.compensating, saga.step >= saga.begin.steps.count {
            return finish(id, completed: true, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        if saga.compensating, saga.step < 0 {
            return finish(id, completed: false, nowUnixMilliseconds: nowUnixMilliseconds)
        }
        let transaction = Self.transactionID(saga: id, compensation: saga.compensating, step: saga.step, attempt: saga.attempt)
        let step = saga.begin.steps[saga.step]
        saga.running = true
        saga.retryAt = nil
        saga.awaitsParticipants = false
        active[id] = saga
        let started: SagaEvent =
            saga.compensating
            ? .compensationStarted(step: saga.step, attempt: saga.attempt, transaction: transaction)
            : .stepStarted(step: saga.step, attempt: saga.attempt, transaction: transaction)
        return [record(id, started, nowUnixMilliseconds), .runTransaction(id: transaction, participants: saga.compensating ? step.compensation : step.forward)]
    }

    private mutating func finish(_ id: String, completed: Bool, nowUnixMilliseconds: Int64) -> [Action] {
        guard let saga = active.removeValue(forKey: id) else { return [] }
        let outcome = SagaOutcome(id: id, completed: completed, failedStep: saga.failedStep, reason: saga.reason, compensated: saga.compensated)
        activeBytes -= Self.bytes(of: saga.begin.steps)
        ended[id] = EndedSaga(outcome: outcome, client: saga.begin.client, steps: saga.begin.steps)
        return [record(id, .finished(completed: completed), nowUnixMilliseconds)] + saga.waiters.map { .reply($0.0, requestID: $0.1, outcome) }
    }

    /// The last committed step below `step` that has a compensation and is not compensated yet.
    private func previousToCompensate(_ saga: Active, below step: Int) -> Int? {
        var candidate = step - 1
        while candidate >= 0 {
            if saga.committed.contains(candidate), !saga.begin.steps[candidate].compensation.isEmpty, !saga.compensated.contains(candidate) { return candidate }
            candidate -= 1
        }
        return nil
    }

    private func backoff(_ attempt: Int) -> Duration {
        min(settings.maximumBackoff, settings.initialBackoff * (1 << min(attempt - 1, 16)))
    }

    private func record(_ id: String, _ event: SagaEvent, _ at: Int64) -> Action {
        .persist(SagaLogRecord(saga: id, event: event, unixMilliseconds: at))
    }
}

/// A finished saga as the machine remembers it: its outcome, and who asked for which steps (a
/// request that reuses the id for other steps is refused).
struct EndedSaga: Sendable, EstimatedSize {
    var outcome: SagaOutcome
    var client: String
    var steps: [SagaStep]

    var estimatedBytes: Int {
        SagaMachine.bytes(of: steps) + client.utf8.count + outcome.id.utf8.count + (outcome.reason?.message.utf8.count ?? 0) + 8 * outcome.compensated.count + 64
    }
}
