import Testing

@testable import PhalanxCore

/// After a worker went on with a new participant store (`--accept-new-store`), the audit reports
/// what the accepted loss explains apart from the violations: the commits decided before it that
/// the new store lacks, and the bank's totals while the bank was seeded before it. Anything else,
/// and anything after it, is judged as before.
@Suite struct AcceptedLossAuditTests {
    let now: Int64 = 1_000_000

    /// A committed transaction on w1 and w2, decided at `decided`, with `operations` on both.
    func committed(_ id: String, decided: Int64, _ operations: [StoreOperation]) -> TransactionLogEntry {
        let begin = TransactionBegin(
            id: id, client: "client",
            participants: ["w1", "w2"].map { ParticipantOperations(participant: $0, operations: operations) }, begunUnixMilliseconds: decided - 1)
        return TransactionLogEntry(begin: begin, committed: true, decidedUnixMilliseconds: decided, endedUnixMilliseconds: decided + 1)
    }

    /// The bank seeded (a on w1, b on w2, 100 each) at `seeded`, and one put of k at 150 and one at
    /// 300; w2 applied all of it, w1's new store none of it.
    func input(seeded: Int64 = 100, losses: [AcceptedStoreLoss]) -> TransactionAudit.Input {
        let seed = committed("seed", decided: seeded, [.put(key: "bank:acct:x", value: .integer(100)), .put(key: TransactionAudit.bankSeededKey, value: .integer(200))])
        let log = [
            seed, committed("before", decided: 150, [.put(key: "k", value: .integer(1))]),
            committed("after", decided: 300, [.put(key: "k", value: .integer(2))]),
        ]
        let (b, total, k1, k2) = (StoredValue(.integer(100)), StoredValue(.integer(200)), StoredValue(.integer(1)), StoredValue(.integer(2)))
        let w2 = ParticipantSnapshot(
            node: "w2", values: ["bank:acct:b": b, TransactionAudit.bankSeededKey: total, "k": k2], prepared: [],
            applied: [
                AppliedTransaction(
                    id: "seed", committed: true,
                    writes: [KeyWrite(key: "bank:acct:b", before: nil, after: b), KeyWrite(key: TransactionAudit.bankSeededKey, before: nil, after: total)],
                    sequence: 1, appliedUnixMilliseconds: seeded),
                AppliedTransaction(id: "before", committed: true, writes: [KeyWrite(key: "k", before: nil, after: k1)], sequence: 2, appliedUnixMilliseconds: 150),
                AppliedTransaction(id: "after", committed: true, writes: [KeyWrite(key: "k", before: k1, after: k2)], sequence: 3, appliedUnixMilliseconds: 300),
            ])
        let w1 = ParticipantSnapshot(node: "w1", values: [:], prepared: [], applied: [])
        var input = TransactionAudit.Input(log: log, participants: [w1, w2], nowUnixMilliseconds: now)
        input.acceptedLosses = losses
        return input
    }

    func loss(of worker: String, at unixMilliseconds: Int64) -> AcceptedStoreLoss {
        AcceptedStoreLoss(worker: worker, previousStore: "old", previousWrites: 12, newStore: "new", acceptedUnixMilliseconds: unixMilliseconds)
    }

    func found(_ violations: [AuditViolation]) -> [String] {
        violations.map { "\($0.kind.rawValue) \($0.transaction ?? "-") \($0.node ?? "-")" }.sorted()
    }

    @Test func withoutAnAcceptedLossEveryCommitTheStoreLacksAndTheBankTotalAreViolations() {
        let report = TransactionAudit.run(input(losses: []))
        #expect(found(report.violations) == [
            "bank_total_changed - -", "commit_not_applied after w1", "commit_not_applied before w1", "commit_not_applied seed w1",
        ])
        #expect(report.explainedByAcceptedLosses.isEmpty && report.acceptedLosses.isEmpty)
    }

    @Test func anAcceptedLossExplainsTheCommitsDecidedBeforeItAndTheBankTotalButNotWhatCameAfter() {
        let accepted = loss(of: "w1", at: 200)
        let report = TransactionAudit.run(input(losses: [accepted]))
        #expect(found(report.violations) == ["commit_not_applied after w1"])
        #expect(found(report.explainedByAcceptedLosses) == ["bank_total_changed - -", "commit_not_applied before w1", "commit_not_applied seed w1"])
        #expect(report.acceptedLosses == [accepted])
    }

    @Test func aLossOfAnotherWorkerExplainsNoneOfThisWorkersCommits() {
        let report = TransactionAudit.run(input(losses: [loss(of: "w2", at: 200)]))
        #expect(found(report.violations) == ["commit_not_applied after w1", "commit_not_applied before w1", "commit_not_applied seed w1"])
        #expect(found(report.explainedByAcceptedLosses) == ["bank_total_changed - -"], "the bank's balances went with w2's store as far as the audit can tell")
    }

    @Test func aBankSeededAfterTheLossIsJudgedAgainstItsSeed() {
        let report = TransactionAudit.run(input(seeded: 250, losses: [loss(of: "w1", at: 200)]))
        #expect(found(report.violations) == ["bank_total_changed - -", "commit_not_applied after w1", "commit_not_applied seed w1"])
        #expect(found(report.explainedByAcceptedLosses) == ["commit_not_applied before w1"])
    }
}
