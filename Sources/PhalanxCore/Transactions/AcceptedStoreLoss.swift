/// A worker went on with another participant store (`phalanx worker --accept-new-store`): what the
/// previous one held and the new one lacks is lost, and an operator said so. The coordinator
/// records it, and the audit names what it explains instead of reporting it as a violation
/// forever (``TransactionAudit/Report/explainedByAcceptedLosses``).
public struct AcceptedStoreLoss: Sendable, Hashable, Codable {
    public var worker: String
    /// The store the coordinator knew before, and how many changes it had made durable.
    public var previousStore: String
    public var previousWrites: Int64
    /// The store the worker went on with.
    public var newStore: String
    public var acceptedUnixMilliseconds: Int64

    public init(worker: String, previousStore: String, previousWrites: Int64, newStore: String, acceptedUnixMilliseconds: Int64) {
        self.worker = worker
        self.previousStore = previousStore
        self.previousWrites = previousWrites
        self.newStore = newStore
        self.acceptedUnixMilliseconds = acceptedUnixMilliseconds
    }

    /// Whether this loss explains `violation`: a commit of a transaction decided before the loss
    /// was accepted that the worker's new store lacks, or the bank's totals when the bank was
    /// seeded before the loss (`bankSeededUnixMilliseconds`, nil: not known, the seed is older than
    /// the decision log): the balances the lost store held are gone with it, and seeding the bank
    /// again judges them from a new start.
    func explains(_ violation: AuditViolation, decidedUnixMilliseconds: Int64?, bankSeededUnixMilliseconds: Int64?) -> Bool {
        switch violation.kind {
        case .commitNotApplied:
            guard violation.node == worker, let decided = decidedUnixMilliseconds else { return false }
            return decided <= acceptedUnixMilliseconds
        case .bankTotalChanged, .bankSeedMismatch:
            return bankSeededUnixMilliseconds.map { $0 < acceptedUnixMilliseconds } ?? true
        default:
            return false
        }
    }
}
