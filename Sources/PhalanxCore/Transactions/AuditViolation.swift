/// One inconsistency the audit found, named with the transaction, node and key it concerns.
public struct AuditViolation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// What kind of damage it is; stable names for scripts reading `--json`.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case commitNotApplied = "commit_not_applied"
        case abortedButApplied = "aborted_but_applied"
        case appliedWithoutDecision = "applied_without_decision"
        case appliedOnNonParticipant = "applied_on_non_participant"
        case outcomeContradictsDecision = "outcome_contradicts_decision"
        case preparedAfterEnd = "prepared_after_end"
        case preparedAndApplied = "prepared_and_applied"
        case inDoubtTooLong = "in_doubt_too_long"
        case undecidedTooLong = "undecided_too_long"
        case decisionNotAcknowledged = "decision_not_acknowledged"
        case endedWithoutDecision = "ended_without_decision"
        case belowLowerBound = "below_lower_bound"
        case valueDiffersFromHistory = "value_differs_from_history"
        case historyBroken = "history_broken"
        case preparedStale = "prepared_write_set_stale"
        case preparedBreaksBound = "prepared_breaks_bound"
        case bankTotalChanged = "bank_total_changed"
        case bankSeedMismatch = "bank_seed_mismatch"
        case compensationPendingTooLong = "compensation_pending_too_long"
        case compensationNotApplied = "compensation_not_applied"
        case sagaStepNotCommitted = "saga_step_not_committed"
        case sagaOutcomeInconsistent = "saga_outcome_inconsistent"
        case taskWithoutTerminalResult = "task_without_terminal_result"
        case taskResultUnreadable = "task_result_unreadable"
        case taskUnfinishedInDeadLetters = "task_unfinished_in_dead_letters"
        case resourceReservationLeaked = "resource_reservation_leaked"
        case resourceInvariantBroken = "resource_invariant_broken"
    }

    public var kind: Kind
    public var transaction: String?
    public var node: String?
    public var key: String?
    public var detail: String

    public init(_ kind: Kind, transaction: String? = nil, node: String? = nil, key: String? = nil, _ detail: String) {
        self.kind = kind
        self.transaction = transaction
        self.node = node
        self.key = key
        self.detail = detail
    }

    public var description: String {
        var where_: [String] = []
        if let transaction { where_.append("transaction \(transaction)") }
        if let node { where_.append("node \(node)") }
        if let key { where_.append("key \(key)") }
        return "\(kind.rawValue)\(where_.isEmpty ? "" : " [\(where_.joined(separator: ", "))]"): \(detail)"
    }
}
