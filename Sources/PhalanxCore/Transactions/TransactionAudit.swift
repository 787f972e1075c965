/// The audit's checks over a consistent cut of the cluster: the coordinator's decision log, every
/// participant's snapshot, and the task ledger's own findings. Pure: the same input gives the same
/// report, online (gathered over the network) or offline (read from the data directories).
public struct TransactionAudit: Sendable {
    /// Keys of the bank workload: accounts, and the total it was seeded with (kept on every participant).
    public static let bankAccountPrefix = "bank:acct:"
    public static let bankSeededKey = "bank:seeded"

    public struct Input: Sendable {
        public var log: [TransactionLogEntry]
        public var participants: [ParticipantSnapshot]
        /// The compensation log: every saga's records.
        public var sagas: [SagaHistory]
        /// Participants named by the log whose snapshot is missing: checks that need every
        /// participant (the bank's total) are not judged without them.
        public var unreachable: Set<String>
        /// Findings of the task ledger's check.
        public var taskFindings: [AuditViolation]
        public var nowUnixMilliseconds: Int64
        /// A prepared transaction may stay undecided this long (in doubt) before it is reported.
        public var inDoubtThresholdMilliseconds: Int64
        /// A transaction may stay undecided, or decided and unacknowledged, this long on the coordinator.
        public var pendingThresholdMilliseconds: Int64
        /// History older than this (Unix ms) may have been pruned on one side and not yet on the
        /// other (the retention): transactions and records older than it are not judged. nil: judge all.
        public var historyHorizonUnixMilliseconds: Int64?
        /// Participant stores whose loss was accepted (``AcceptedStoreLoss``): what they explain is
        /// reported apart, not as a violation.
        public var acceptedLosses: [AcceptedStoreLoss] = []

        public init(
            log: [TransactionLogEntry], participants: [ParticipantSnapshot], sagas: [SagaHistory] = [], unreachable: Set<String> = [],
            taskFindings: [AuditViolation] = [],
            nowUnixMilliseconds: Int64, inDoubtThresholdMilliseconds: Int64 = 30_000, pendingThresholdMilliseconds: Int64 = 30_000
        ) {
            self.log = log
            self.participants = participants
            self.sagas = sagas
            self.unreachable = unreachable
            self.taskFindings = taskFindings
            self.nowUnixMilliseconds = nowUnixMilliseconds
            self.inDoubtThresholdMilliseconds = inDoubtThresholdMilliseconds
            self.pendingThresholdMilliseconds = pendingThresholdMilliseconds
        }

        /// The horizon for a retention of `retentionMilliseconds` at `now`: a margin inside it
        /// (a tenth, at most ten minutes) covers the pruners' schedules.
        public static func historyHorizon(retentionMilliseconds: Int64, nowUnixMilliseconds: Int64) -> Int64 {
            nowUnixMilliseconds - retentionMilliseconds + min(retentionMilliseconds / 10, 600_000)
        }
    }

    /// What was checked and what was found.
    public struct Report: Sendable, Hashable, Codable {
        public var violations: [AuditViolation]
        public var transactions: Int
        public var committed: Int
        public var aborted: Int
        public var inProgress: Int
        public var participants: [String]
        public var keys: Int
        public var inDoubt: Int
        public var sagas: Int = 0
        public var sagasCompensated: Int = 0
        public var sagasInProgress: Int = 0
        /// The bank workload's totals (nil when there are no bank accounts).
        public var bankTotal: Int64?
        public var bankSeeded: Int64?
        /// The accepted losses of participant stores, oldest first, and the findings they explain
        /// (commits the new store lacks, the bank's totals): the truth about each loss, kept in
        /// view, but not violations (an operator accepted them).
        public var acceptedLosses: [AcceptedStoreLoss] = []
        public var explainedByAcceptedLosses: [AuditViolation] = []
    }

    public static func run(_ input: Input) -> Report {
        var audit = Run(input: input)
        audit.checkLog()
        audit.checkParticipants()
        audit.checkBank()
        audit.checkSagas()
        let log = input.log
        let losses = input.acceptedLosses.sorted { $0.acceptedUnixMilliseconds < $1.acceptedUnixMilliseconds }
        var violations: [AuditViolation] = []
        var explained: [AuditViolation] = []
        // When the bank was last seeded: the latest commit that set its seeded total.
        let seeded = log.filter { entry in
            entry.committed == true && entry.begin.participants.contains { $0.operations.contains { $0.key == bankSeededKey } }
        }.compactMap(\.decidedUnixMilliseconds).max()
        for violation in audit.violations {
            let decided = violation.transaction.flatMap { audit.log[$0]?.decidedUnixMilliseconds }
            if losses.contains(where: { $0.explains(violation, decidedUnixMilliseconds: decided, bankSeededUnixMilliseconds: seeded) }) {
                explained.append(violation)
            } else {
                violations.append(violation)
            }
        }
        var report = Report(
            violations: input.taskFindings + violations,
            transactions: log.count,
            committed: log.filter { $0.committed == true }.count,
            aborted: log.filter { $0.committed == false }.count,
            inProgress: log.filter { $0.endedUnixMilliseconds == nil }.count,
            participants: input.participants.map(\.node).sorted(),
            keys: input.participants.reduce(0) { $0 + $1.values.count },
            inDoubt: input.participants.reduce(0) { $0 + $1.prepared.count },
            bankTotal: audit.bankTotal, bankSeeded: audit.bankSeeded)
        report.acceptedLosses = losses
        report.explainedByAcceptedLosses = explained
        report.sagas = input.sagas.count
        report.sagasCompensated = input.sagas.filter { $0.completed == false }.count
        report.sagasInProgress = input.sagas.filter { $0.completed == nil }.count
        return report
    }

    private struct Run {
        let input: Input
        let log: [String: TransactionLogEntry]
        var violations: [AuditViolation] = []
        var bankTotal: Int64?
        var bankSeeded: Int64?

        init(input: Input) {
            self.input = input
            var log: [String: TransactionLogEntry] = [:]
            for entry in input.log { log[entry.id] = entry }
            self.log = log
        }

        mutating func add(_ kind: AuditViolation.Kind, transaction: String? = nil, node: String? = nil, key: String? = nil, _ detail: String) {
            violations.append(AuditViolation(kind, transaction: transaction, node: node, key: key, detail))
        }

        /// The coordinator's own log: nothing ends undecided, nothing stays pending too long.
        mutating func checkLog() {
            let now = input.nowUnixMilliseconds
            // Where each transaction is still prepared: the participants a decision has not reached.
            var preparedOn: [String: [String]] = [:]
            for snapshot in input.participants {
                for record in snapshot.prepared { preparedOn[record.id, default: []].append(snapshot.node) }
            }
            for entry in input.log.sorted(by: { $0.id < $1.id }) {
                if entry.endedUnixMilliseconds != nil, entry.committed == nil {
                    add(.endedWithoutDecision, transaction: entry.id, "the decision log has END but no COMMIT or ABORT")
                }
                if entry.committed == nil, now - entry.begin.begunUnixMilliseconds > input.pendingThresholdMilliseconds {
                    add(.undecidedTooLong, transaction: entry.id, "undecided for \(now - entry.begin.begunUnixMilliseconds) ms (threshold \(input.pendingThresholdMilliseconds) ms)")
                }
                if let decided = entry.decidedUnixMilliseconds, entry.committed != nil, entry.endedUnixMilliseconds == nil,
                    now - decided > input.pendingThresholdMilliseconds
                {
                    let waiting = (preparedOn[entry.id] ?? []).sorted()
                    let unheard = entry.participantNames.filter { input.unreachable.contains($0) }.sorted()
                    var waitingAt = waiting.isEmpty ? "" : "; still prepared on \(waiting.joined(separator: ", ")) (the decision has not been applied there)"
                    if !unheard.isEmpty { waitingAt += "; not audited: \(unheard.joined(separator: ", "))" }
                    add(.decisionNotAcknowledged, transaction: entry.id,
                        "decided \(now - decided) ms ago and not acknowledged by every participant of \(entry.participantNames.joined(separator: ", "))\(waitingAt)")
                }
            }
        }

        /// Whether something that happened at `unixMilliseconds` is older than the history horizon.
        func beforeHorizon(_ unixMilliseconds: Int64) -> Bool {
            guard let horizon = input.historyHorizonUnixMilliseconds else { return false }
            return unixMilliseconds < horizon
        }

        /// Atomicity on every participant, its history against its values, its bounds.
        mutating func checkParticipants() {
            let snapshots = Dictionary(input.participants.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
            // Each participant's records by transaction, so that every check is one look-up.
            var appliedByID: [String: [String: AppliedTransaction]] = [:]
            var preparedByID: [String: [String: ParticipantMachine.Prepared]] = [:]
            for snapshot in input.participants {
                appliedByID[snapshot.node] = Dictionary(snapshot.applied.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
                preparedByID[snapshot.node] = Dictionary(snapshot.prepared.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            }
            // Every decided transaction against each of its participants.
            for entry in input.log.sorted(by: { $0.id < $1.id })
            where !beforeHorizon(entry.endedUnixMilliseconds ?? entry.decidedUnixMilliseconds ?? entry.begin.begunUnixMilliseconds) {
                for name in entry.participantNames {
                    guard snapshots[name] != nil else { continue }  // not gathered (reported as unreachable)
                    let applied = appliedByID[name]?[entry.id]
                    let prepared = preparedByID[name]?[entry.id]
                    switch entry.committed {
                    case true?:
                        if applied == nil, prepared == nil {
                            add(.commitNotApplied, transaction: entry.id, node: name, "COMMIT was logged but \(name) neither applied nor holds it prepared")
                        }
                        if let applied, !applied.committed {
                            add(.outcomeContradictsDecision, transaction: entry.id, node: name, "COMMIT was logged but \(name) recorded it aborted")
                        }
                    default:
                        if let applied, applied.committed {
                            add(.abortedButApplied, transaction: entry.id, node: name,
                                "\(name) applied it but the decision log has \(entry.committed == false ? "ABORT" : "no decision")")
                        }
                    }
                    if entry.endedUnixMilliseconds != nil, prepared != nil {
                        add(.preparedAfterEnd, transaction: entry.id, node: name, "END was logged (every participant acknowledged) but \(name) still holds it prepared")
                    }
                }
            }
            for snapshot in input.participants.sorted(by: { $0.node < $1.node }) {
                check(snapshot)
            }
        }

        private mutating func check(_ snapshot: ParticipantSnapshot) {
            let node = snapshot.node
            let now = input.nowUnixMilliseconds
            let preparedIDs = Set(snapshot.prepared.map(\.id))
            for applied in snapshot.applied where applied.committed && !beforeHorizon(applied.appliedUnixMilliseconds) {
                guard let entry = log[applied.id] else {
                    add(.appliedWithoutDecision, transaction: applied.id, node: node, "\(node) applied a transaction the decision log does not have")
                    continue
                }
                if !entry.participantNames.contains(node) {
                    add(.appliedOnNonParticipant, transaction: applied.id, node: node,
                        "\(node) applied it but is not one of its participants (\(entry.participantNames.joined(separator: ", ")))")
                }
            }
            for applied in snapshot.applied where preparedIDs.contains(applied.id) {
                add(.preparedAndApplied, transaction: applied.id, node: node, "\(node) holds it prepared and also recorded its outcome")
            }
            var lockedKeys: [String: ParticipantMachine.Prepared] = [:]
            for prepared in snapshot.prepared.sorted(by: { $0.id < $1.id }) {
                if prepared.durable, now - prepared.preparedUnixMilliseconds > input.inDoubtThresholdMilliseconds {
                    add(.inDoubtTooLong, transaction: prepared.id, node: node,
                        "prepared on \(node) for \(now - prepared.preparedUnixMilliseconds) ms without a decision (threshold \(input.inDoubtThresholdMilliseconds) ms)")
                }
                for write in prepared.writes {
                    lockedKeys[write.key] = prepared
                    if write.before != snapshot.values[write.key] {
                        add(.preparedStale, transaction: prepared.id, node: node, key: write.key,
                            "the prepared write set expects \(describe(write.before)) but the key holds \(describe(snapshot.values[write.key]))")
                    }
                    if let after = write.after, after.breaksBound {
                        add(.preparedBreaksBound, transaction: prepared.id, node: node, key: write.key, "the prepared value \(after.value) is below its bound \(after.lowerBound ?? 0)")
                    }
                }
            }
            // The history of committed writes must chain, and end in the value held.
            var last: [String: (after: StoredValue?, transaction: String)] = [:]
            for applied in snapshot.applied.sorted(by: { $0.sequence < $1.sequence }) where applied.committed {
                for write in applied.writes {
                    if let previous = last[write.key], previous.after != write.before {
                        add(.historyBroken, transaction: applied.id, node: node, key: write.key,
                            "it found \(describe(write.before)) but transaction \(previous.transaction) had left \(describe(previous.after))")
                    }
                    last[write.key] = (write.after, applied.id)
                }
            }
            for (key, previous) in last.sorted(by: { $0.key < $1.key }) where lockedKeys[key] == nil {
                if previous.after != snapshot.values[key] {
                    add(.valueDiffersFromHistory, transaction: previous.transaction, node: node, key: key,
                        "holds \(describe(snapshot.values[key])) but its last committed transaction left \(describe(previous.after))")
                }
            }
            for (key, value) in snapshot.values.sorted(by: { $0.key < $1.key }) where value.breaksBound {
                add(.belowLowerBound, node: node, key: key, "holds \(value.value), below its lower bound \(value.lowerBound ?? 0)")
            }
            // A registered resource may hold a reservation only while its transaction is prepared here.
            for report in snapshot.resources ?? [] {
                for id in report.reserved.sorted() where !preparedIDs.contains(id) {
                    let ended = log[id].map { $0.committed.map { $0 ? "committed" : "aborted" } ?? "undecided" } ?? "not in the decision log"
                    add(.resourceReservationLeaked, transaction: id, node: node, key: "@\(report.resource)",
                        "resource \(report.resource) on \(node) holds a reservation for it, but it is not prepared there (\(ended)): its commit or abort never reached the resource")
                }
                for problem in report.problems {
                    add(.resourceInvariantBroken, node: node, key: "@\(report.resource)", "resource \(report.resource) on \(node): \(problem)")
                }
            }
        }

        /// The bank workload's invariant: accounts sum to what was seeded, counting transactions
        /// that committed and are still prepared on some participant at their new values.
        mutating func checkBank() {
            var total: Int64 = 0
            var accounts = 0
            var seeded: [(node: String, value: Int64?)] = []
            for snapshot in input.participants.sorted(by: { $0.node < $1.node }) {
                var values = snapshot.values
                for prepared in snapshot.prepared where log[prepared.id]?.committed == true {
                    for write in prepared.writes { values[write.key] = write.after }
                }
                for (key, value) in values where key.hasPrefix(TransactionAudit.bankAccountPrefix) {
                    accounts += 1
                    total &+= value.value.integer ?? 0
                }
                if let value = values[TransactionAudit.bankSeededKey] { seeded.append((snapshot.node, value.value.integer)) }
            }
            guard accounts > 0 || !seeded.isEmpty, input.unreachable.isEmpty else { return }
            bankTotal = total
            let distinct = Set(seeded.map(\.value))
            guard let first = seeded.first, let expected = first.value, distinct.count == 1 else {
                let list = seeded.map { "\($0.node)=\($0.value.map { "\($0)" } ?? "not an integer")" }.joined(separator: ", ")
                add(.bankSeedMismatch, key: TransactionAudit.bankSeededKey,
                    seeded.isEmpty ? "bank accounts exist but no participant holds the seeded total" : "participants disagree on the seeded total: \(list)")
                return
            }
            bankSeeded = expected
            if total != expected {
                add(.bankTotalChanged, key: TransactionAudit.bankAccountPrefix + "*", "the \(accounts) accounts sum to \(total) but \(expected) was seeded (a difference of \(total - expected))")
            }
        }

        /// The compensation log against the decision log: every step and compensation it records as
        /// done committed; a finished saga is complete or fully compensated; nothing waits too long.
        mutating func checkSagas() {
            let now = input.nowUnixMilliseconds
            for saga in input.sagas.sorted(by: { $0.id < $1.id }) where !beforeHorizon(saga.records.first?.unixMilliseconds ?? 0) {
                let id = saga.id
                for (step, transaction) in saga.committedSteps.sorted(by: { $0.key < $1.key }) where log[transaction]?.committed != true {
                    add(.sagaStepNotCommitted, transaction: transaction, "saga \(id) records step \(step + 1) committed, but the decision log has no COMMIT for it")
                }
                for (step, transaction) in saga.compensatedSteps.sorted(by: { $0.key < $1.key }) where log[transaction]?.committed != true {
                    add(.compensationNotApplied, transaction: transaction, "saga \(id) marks the compensation of step \(step + 1) done, but the decision log has no COMMIT for it")
                }
                guard let begin = saga.begin else {
                    add(.sagaOutcomeInconsistent, transaction: id, "saga \(id) has records but no beginning")
                    continue
                }
                let committed = saga.committedSteps
                let compensated = saga.compensatedSteps
                switch saga.completed {
                case true?:
                    if committed.count != begin.steps.count {
                        add(.sagaOutcomeInconsistent, transaction: id, "saga \(id) finished as completed with \(committed.count) of \(begin.steps.count) steps committed")
                    }
                case false?:
                    let owed = committed.keys.filter { !begin.steps[$0].compensation.isEmpty && compensated[$0] == nil }.sorted()
                    if !owed.isEmpty {
                        add(.sagaOutcomeInconsistent, transaction: id,
                            "saga \(id) finished as compensated but step(s) \(owed.map { "\($0 + 1)" }.joined(separator: ", ")) committed and were never compensated")
                    }
                case nil:
                    if let failure = saga.failure, now - failure.unixMilliseconds > input.pendingThresholdMilliseconds {
                        let why = saga.lastFailedCompensation.map {
                            "; attempt \($0.attempt + 1) of the compensation of step \($0.step + 1) aborted: \($0.reason.code.rawValue) from \($0.reason.originNode ?? "?"): \($0.reason.message)"
                        } ?? ""
                        add(.compensationPendingTooLong, transaction: id,
                            "saga \(id) failed at step \(failure.step + 1) \(now - failure.unixMilliseconds) ms ago and its compensations have not finished (threshold \(input.pendingThresholdMilliseconds) ms)\(why)")
                    }
                }
            }
        }

        private func describe(_ value: StoredValue?) -> String {
            value.map { "\($0.value)" } ?? "nothing"
        }
    }
}
