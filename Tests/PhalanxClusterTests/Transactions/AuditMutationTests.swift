import Foundation
import PhalanxCluster
import PhalanxCore
import PhalanxStore
import PhalanxWire
import Testing

/// The audit names every kind of damage planted behind the cluster's back, one at a time, in real
/// files (the offline audit over the task ledger and three participant stores).
@Suite struct AuditMutationTests {
    /// One kind of damage: what it does to the files, and the violation the audit must name.
    struct Damage: Sendable, CustomTestStringConvertible {
        let name: String
        let expected: AuditViolation.Kind
        var transaction: String?
        var node: String?
        var key: String?
        let plant: @Sendable (BankScenario) async throws -> Void

        var testDescription: String { name }
    }

    static func sql(_ node: String, _ statement: String) -> @Sendable (BankScenario) async throws -> Void {
        { scenario in try scenario.stores[node]!.executeForTesting(statement) }
    }

    static func log(_ statement: String) -> @Sendable (BankScenario) async throws -> Void {
        { scenario in try scenario.ledger.executeForTesting(statement) }
    }

    static let damages: [Damage] = [
        Damage(name: "a committed value changed", expected: .valueDiffersFromHistory, transaction: "t-inflight", node: "w1", key: "bank:acct:2",
               plant: sql("w1", "UPDATE value SET value_json = '\(BankScenario.json(StoredValue(.integer(95), lowerBound: 0)))' WHERE key = 'bank:acct:2'")),
        Damage(name: "a locked value changed", expected: .preparedStale, transaction: "t-undecided", node: "w1", key: "bank:acct:0",
               plant: sql("w1", "UPDATE value SET value_json = '\(BankScenario.json(StoredValue(.integer(95), lowerBound: 0)))' WHERE key = 'bank:acct:0'")),
        Damage(name: "a value deleted", expected: .valueDiffersFromHistory, transaction: "saga:sg#c0.0", node: "w3", key: "x", plant: sql("w3", "DELETE FROM value WHERE key = 'x'")),
        Damage(name: "a prepared record deleted", expected: .commitNotApplied, transaction: "t-inflight", node: "w2",
               plant: sql("w2", "DELETE FROM prepared WHERE id = 't-inflight'")),
        Damage(name: "an applied record deleted", expected: .commitNotApplied, transaction: "t-commit", node: "w2",
               plant: sql("w2", "DELETE FROM applied WHERE id = 't-commit'")),
        Damage(name: "a forged COMMIT over an abort", expected: .outcomeContradictsDecision, transaction: "t-abort", node: "w1",
               plant: log("UPDATE tx_log SET committed = 1 WHERE id = 't-abort'")),
        Damage(name: "a forged ABORT over a commit", expected: .abortedButApplied, transaction: "t-commit", node: "w1",
               plant: log("UPDATE tx_log SET committed = 0 WHERE id = 't-commit'")),
        Damage(name: "an aborted transaction recorded as applied", expected: .abortedButApplied, transaction: "t-abort", node: "w2",
               plant: sql("w2", "UPDATE applied SET committed = 1 WHERE id = 't-abort'")),
        Damage(name: "a participant's outcome flipped to abort", expected: .outcomeContradictsDecision, transaction: "t-commit", node: "w1",
               plant: sql("w1", "UPDATE applied SET committed = 0 WHERE id = 't-commit'")),
        Damage(name: "a decision record deleted", expected: .appliedWithoutDecision, transaction: "t-commit", node: "w1",
               plant: log("DELETE FROM tx_log WHERE id = 't-commit'")),
        Damage(name: "an effect applied twice", expected: .historyBroken, transaction: "t-commit-again", node: "w1", key: "bank:acct:0",
               plant: sql("w1", "INSERT INTO applied (id, committed, writes_json, applied_ms) SELECT 't-commit-again', 1, writes_json, applied_ms FROM applied WHERE id = 't-commit'")),
        Damage(name: "an effect on a node outside the transaction", expected: .appliedOnNonParticipant, transaction: "t-commit", node: "w3",
               plant: sql("w3", "INSERT INTO applied (id, committed, writes_json, applied_ms) VALUES ('t-commit', 1, '[]', 0)")),
        Damage(name: "END logged while a participant is still prepared", expected: .preparedAfterEnd, transaction: "t-inflight", node: "w2",
               plant: log("UPDATE tx_log SET ended_ms = decided_ms WHERE id = 't-inflight'")),
        Damage(name: "END logged without a decision", expected: .endedWithoutDecision, transaction: "t-undecided",
               plant: log("UPDATE tx_log SET ended_ms = begun_ms WHERE id = 't-undecided'")),
        Damage(name: "a balance below its bound", expected: .belowLowerBound, node: "w1", key: "bank:acct:2",
               plant: sql("w1", "UPDATE value SET value_json = '\(BankScenario.json(StoredValue(.integer(-5), lowerBound: 0)))' WHERE key = 'bank:acct:2'")),
        Damage(name: "one participant's seeded total changed", expected: .bankSeedMismatch, key: "bank:seeded",
               plant: sql("w2", "UPDATE value SET value_json = '\(BankScenario.json(StoredValue(.integer(999))))' WHERE key = 'bank:seeded'")),
        Damage(name: "money created on every seeded total", expected: .bankTotalChanged, plant: { scenario in
            for node in ["w1", "w2"] {
                try scenario.stores[node]!.executeForTesting("UPDATE value SET value_json = '\(BankScenario.json(StoredValue(.integer(301))))' WHERE key = 'bank:seeded'")
            }
        }),
        Damage(name: "a prepared record as old as an hour", expected: .inDoubtTooLong, transaction: "t-undecided", node: "w1", plant: { scenario in
            var record = try #require(try await scenario.stores["w1"]!.snapshot(node: "w1").prepared.first { $0.id == "t-undecided" })
            record.preparedUnixMilliseconds -= 3_600_000
            try await scenario.stores["w1"]!.apply([.prepared(record)])
        }),
        Damage(name: "a transaction undecided for an hour", expected: .undecidedTooLong, transaction: "t-undecided",
               plant: log("UPDATE tx_log SET begun_ms = begun_ms - 3600000 WHERE id = 't-undecided'")),
        Damage(name: "a decision unacknowledged for an hour", expected: .decisionNotAcknowledged, transaction: "t-inflight",
               plant: log("UPDATE tx_log SET decided_ms = decided_ms - 3600000 WHERE id = 't-inflight'")),
        Damage(name: "a prepared record beside its outcome", expected: .preparedAndApplied, transaction: "t-commit", node: "w1", plant: { scenario in
            let record = ParticipantMachine.Prepared(id: "t-commit", writes: [], reads: [:], voteDeadlineUnixMilliseconds: 0, preparedUnixMilliseconds: scenario.now, durable: true)
            try await scenario.stores["w1"]!.apply([.prepared(record)])
        }),
        Damage(name: "a locked key changed under its prepared write set", expected: .preparedStale, transaction: "t-inflight", node: "w2", key: "bank:acct:1",
               plant: sql("w2", "UPDATE value SET value_json = '\(BankScenario.json(StoredValue(.integer(50), lowerBound: 0)))' WHERE key = 'bank:acct:1'")),
        Damage(name: "a prepared write set below the bound", expected: .preparedBreaksBound, node: "w3", key: "x", plant: { scenario in
            let record = ParticipantMachine.Prepared(
                id: "t-forged", writes: [KeyWrite(key: "x", before: StoredValue(.integer(7)), after: StoredValue(.integer(-1), lowerBound: 0))], reads: [:],
                voteDeadlineUnixMilliseconds: 0, preparedUnixMilliseconds: scenario.now, durable: true)
            try await scenario.stores["w3"]!.apply([.prepared(record)])
        }),
        Damage(name: "a history whose before-image does not chain", expected: .historyBroken, transaction: "t-commit", node: "w2", key: "bank:acct:1",
               plant: { scenario in
                   let store = scenario.stores["w2"]!
                   var writes = try await store.history().first { $0.id == "t-commit" }!.writes
                   writes[0].before = StoredValue(.integer(555), lowerBound: 0)
                   try store.executeForTesting("UPDATE applied SET writes_json = \(BankScenario.blob(StoredRecords.encode(writes))) WHERE id = 't-commit'")
               }),
        Damage(name: "a finished task's result removed", expected: .taskWithoutTerminalResult, key: "c/t1",
               plant: log("UPDATE task SET result = NULL WHERE task_id = 't1'")),
        Damage(name: "a finished task's result garbled", expected: .taskResultUnreadable, key: "c/t1",
               plant: log("UPDATE task SET result = X'FFFF01' WHERE task_id = 't1'")),
        Damage(name: "an unfinished task in the dead-letter queue", expected: .taskUnfinishedInDeadLetters, key: "c/t2",
               plant: log("INSERT INTO dead_letter (client, task_id, spec, code, reason, attempts, dead_ms) VALUES ('c', 't2', X'', 'WORKER_LOST', 'forged', 3, 0)")),
        Damage(name: "a compensation marked done that never committed", expected: .compensationNotApplied, transaction: "saga:sg#c0.0",
               plant: log("UPDATE tx_log SET committed = 0 WHERE id = 'saga:sg#c0.0'")),
        Damage(name: "a saga step marked committed that never did", expected: .sagaStepNotCommitted, transaction: "saga:sg#s0.0",
               plant: log("DELETE FROM tx_log WHERE id = 'saga:sg#s0.0'")),
        Damage(name: "a compensated saga with a step never compensated", expected: .sagaOutcomeInconsistent, transaction: "sg",
               plant: log("DELETE FROM saga_log WHERE seq = (SELECT seq FROM saga_log WHERE saga = 'sg' ORDER BY seq DESC LIMIT 1 OFFSET 1)")),
        Damage(name: "a compensation pending for an hour", expected: .compensationPendingTooLong, transaction: "sg", plant: { scenario in
            try scenario.ledger.executeForTesting("DELETE FROM saga_log WHERE saga = 'sg' AND finished = 1")
            try scenario.ledger.executeForTesting("UPDATE saga_log SET at_ms = at_ms - 3600000, record_json = replace(record_json, '\"unixMilliseconds\":\(scenario.now)', '\"unixMilliseconds\":\(scenario.now - 3_600_000)') WHERE saga = 'sg'")
        }),
    ]

    @Test func theUndamagedScenarioIsClean() async throws {
        let summary = try await BankScenario.make().audit()
        #expect(summary.report.violations == [], "\(summary.report.violations)")
        #expect(summary.report.bankTotal == 300)
        #expect(summary.report.bankSeeded == 300)
        #expect(summary.report.sagas == 1 && summary.report.sagasCompensated == 1)
        #expect(summary.report.inDoubt == 2, "t-inflight on w2 and t-undecided on w1")
        #expect(summary.tasksAccepted == 2)
        #expect(summary.tasksFinished == 1)
    }

    @Test(arguments: damages) func theAuditNamesThePlantedDamage(_ damage: Damage) async throws {
        let scenario = try await BankScenario.make()
        try await damage.plant(scenario)
        let found = try await scenario.audit().report.violations
        let named = found.filter { $0.kind == damage.expected }
        #expect(!named.isEmpty, "\(damage.name): expected \(damage.expected.rawValue), found \(found)")
        if let transaction = damage.transaction { #expect(named.contains { $0.transaction == transaction }, "\(damage.name): \(named)") }
        if let node = damage.node { #expect(named.contains { $0.node == node }, "\(damage.name): \(named)") }
        if let key = damage.key { #expect(named.contains { $0.key == key }, "\(damage.name): \(named)") }
    }

    @Test func anUnacknowledgedDecisionNamesTheParticipantStillPreparedForIt() async throws {
        let scenario = try await BankScenario.make()
        try scenario.ledger.executeForTesting("UPDATE tx_log SET decided_ms = decided_ms - 3600000 WHERE id = 't-inflight'")
        let found = try await scenario.audit().report.violations.filter { $0.kind == .decisionNotAcknowledged }
        let detail = found.first { $0.transaction == "t-inflight" }?.detail ?? ""
        #expect(detail.contains("still prepared on w2 (the decision has not been applied there)") && !detail.contains("on w1"), "\(found)")
    }

    @Test func atLeastTwentyKindsOfDamageAreCovered() {
        #expect(Set(Self.damages.map(\.expected)).count >= 20)
        #expect(Self.damages.count >= 20)
    }
}

/// Pruning past the retention happens on each side on its own schedule: the audit does not judge
/// history older than the retention, and judges everything newer.
@Suite struct AuditRetentionTests {
    @Test func historyPrunedOnOneSideIsNotAViolationPastTheRetentionButIsWithin() async throws {
        let scenario = try await BankScenario.make()
        // The coordinator prunes every ended transaction; the participants keep their history.
        _ = try await scenario.ledger.pruneFinished(before: scenario.now + 1)
        // A worker prunes its history; the ledger above already lost the decisions.
        #expect(try await scenario.stores["w2"]!.pruneHistory(before: scenario.now + 1) > 0)
        let later = scenario.now + 20_000
        func audit(retention: Int64?) async throws -> [AuditViolation] {
            try await OfflineAudit.run(
                coordinatorDirectory: scenario.coordinatorDirectory, workersDirectory: scenario.workersDirectory, nowUnixMilliseconds: later,
                retentionMilliseconds: retention
            ).report.violations
        }
        let judgedAll = try await audit(retention: nil)
        #expect(judgedAll.contains { $0.kind == .appliedWithoutDecision && $0.node == "w1" }, "without a retention the pruned decisions are missed: \(judgedAll)")
        let pastRetention = try await audit(retention: 10_000)
        #expect(pastRetention == [], "everything pruned is older than the 10 s retention: \(pastRetention)")
        let withinRetention = try await audit(retention: 60_000)
        #expect(withinRetention.contains { $0.kind == .appliedWithoutDecision }, "within a 60 s retention the gap is a violation: \(withinRetention)")
    }

    @Test func anEmptyStoreFileIsReportedAndLeftAsItIs() async throws {
        let scenario = try await BankScenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.root) }
        let empty = URL(fileURLWithPath: scenario.workersDirectory).appendingPathComponent("w4/participant.sqlite")
        try FileManager.default.createDirectory(at: empty.deletingLastPathComponent(), withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: empty.path, contents: Data()))
        let error = await #expect(throws: OfflineAudit.Unreadable.self) {
            try await OfflineAudit.run(coordinatorDirectory: scenario.coordinatorDirectory, workersDirectory: scenario.workersDirectory)
        }
        #expect(error?.description.contains("worker w4: the participant store") == true && error?.description.contains("empty file (0 bytes)") == true, "\(String(describing: error))")
        #expect(try FileManager.default.attributesOfItem(atPath: empty.path)[.size] as? NSNumber == 0, "the audit wrote nothing into it")
    }
}
