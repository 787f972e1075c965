import Foundation
import PhalanxCore
import Testing

@testable import PhalanxStore

/// A fresh folder for one test's ledger files.
func temporaryLedgerPath(_ name: String = "ledger.sqlite") -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-store-\(UUID().uuidString)")
    return folder.appendingPathComponent(name).path
}

@Suite struct SQLiteTaskLedgerTests {
    let a = TaskKey(client: "app", taskID: "a")
    let b = TaskKey(client: "app", taskID: "b")
    let other = TaskKey(client: "other", taskID: "a")

    @Test func theWriterConnectionFsyncsEveryCommitInWALMode() throws {
        let ledger = try SQLiteTaskLedger(path: temporaryLedgerPath())
        #expect(try ledger.writerSynchronousMode() == 2)  // FULL, read through the writer
        let mode = try String(contentsOfFile: ledger.path + "-wal", encoding: .isoLatin1)
        _ = mode  // the WAL file exists: the database is in WAL mode
    }

    @Test func workersIncarnationsAndParticipantStoresSurviveReopeningInEitherOrder() async throws {
        let path = temporaryLedgerPath()
        let a = KnownParticipantStore(id: "store-a", writes: 3)
        let b = KnownParticipantStore(id: "store-b", writes: 7)
        let c = KnownParticipantStore(id: "store-c", writes: 0)
        do {
            let ledger = try SQLiteTaskLedger(path: path)
            try await ledger.apply([
                .workerIncarnation(name: "w1", incarnation: 7), .workerParticipantStore(name: "w1", store: a),
                .workerParticipantStore(name: "w2", store: b), .workerIncarnation(name: "w2", incarnation: 9),
            ])
            try await ledger.apply([.workerParticipantStore(name: "w1", store: c), .workerIncarnation(name: "w1", incarnation: 5)])
        }
        let reopened = try SQLiteTaskLedger(path: path)
        #expect(try await reopened.workerParticipantStores() == ["w1": c, "w2": b])
        #expect(try await reopened.workerIncarnations() == ["w1": 7, "w2": 9], "a store record does not lower an incarnation")
    }

    @Test func acceptedLossesOfParticipantStoresSurviveReopeningInOrderAndArePrunedWithTheRetention() async throws {
        let path = temporaryLedgerPath()
        let first = AcceptedStoreLoss(worker: "w1", previousStore: "store-a", previousWrites: 3, newStore: "store-b", acceptedUnixMilliseconds: 1_000)
        let second = AcceptedStoreLoss(worker: "w1", previousStore: "store-b", previousWrites: 9, newStore: "store-c", acceptedUnixMilliseconds: 5_000)
        do {
            let ledger = try SQLiteTaskLedger(path: path)
            #expect(try await ledger.acceptedStoreLosses() == [])
            try await ledger.apply([.participantStoreLossAccepted(first), .workerParticipantStore(name: "w1", store: KnownParticipantStore(id: "store-b", writes: 0))])
            try await ledger.apply([.participantStoreLossAccepted(second)])
        }
        let reopened = try SQLiteTaskLedger(path: path)
        #expect(try await reopened.acceptedStoreLosses() == [first, second])
        _ = try await reopened.pruneFinished(before: 2_000)
        #expect(try await reopened.acceptedStoreLosses() == [second], "a loss older than the retention explains nothing the audit still judges")
    }

    @Test func acceptedTasksSurviveReopeningAndFinishedOnesKeepTheirResult() async throws {
        let path = temporaryLedgerPath()
        do {
            let ledger = try SQLiteTaskLedger(path: path)
            try await ledger.apply([
                .accepted(a, spec: [1, 2, 3], acceptedUnixMilliseconds: 100),
                .accepted(b, spec: [4], acceptedUnixMilliseconds: 101),
                .accepted(other, spec: [5], acceptedUnixMilliseconds: 102),
                .dispatched(a, attempt: 1),
            ])
            try await ledger.apply([.finished(a, result: [9, 9], finishedUnixMilliseconds: 200)])
        }
        let reopened = try SQLiteTaskLedger(path: path)
        let unfinished = try await reopened.unfinishedTasks()
        #expect(unfinished.map(\.key) == [b, other])
        #expect(unfinished.first?.spec == [4])
        let found = try await reopened.tasks([a, b, TaskKey(client: "app", taskID: "missing")])
        #expect(found.count == 2)
        #expect(found[a]?.result == [9, 9] && found[a]?.finishedUnixMilliseconds == 200 && found[a]?.attempt == 1)
        #expect(found[b]?.isFinished == false)
    }

    @Test func attemptsLossesAndFailedAttemptsAreKeptForUnfinishedTasksOnly() async throws {
        let path = temporaryLedgerPath()
        let ledger = try SQLiteTaskLedger(path: path)
        try await ledger.apply([
            .accepted(a, spec: [], acceptedUnixMilliseconds: 1), .dispatched(a, attempt: 1), .attemptFailed(a, losses: 1, history: [1]),
            .dispatched(a, attempt: 2),
        ])
        try await ledger.apply([.attemptFailed(a, losses: 1, history: [1, 2])])  // a retry: an update of the row
        let reopened = try SQLiteTaskLedger(path: path)
        let unfinished = try await reopened.unfinishedTasks().first
        #expect(unfinished.map { ($0.attempt, $0.losses) } ?? (0, 0) == (2, 1) && unfinished?.history == [1, 2])
        try await ledger.apply([.finished(a, result: [1], finishedUnixMilliseconds: 5), .dispatched(a, attempt: 3), .finished(a, result: [2], finishedUnixMilliseconds: 6)])
        let stored = try await ledger.tasks([a])[a]
        #expect(stored?.attempt == 2 && stored?.result == [1] && stored?.finishedUnixMilliseconds == 5)  // the first result stands
        #expect(stored?.history == nil)  // the result holds the history now
        // The column itself was cleared (read back by making the row look unfinished behind the ledger's back).
        try ledger.executeForTesting("UPDATE task SET finished_ms = NULL WHERE task_id = '\(a.taskID)'")
        #expect(try await ledger.unfinishedTasks().first?.history == nil, "a finished row keeps no copy of the history")
        try ledger.executeForTesting("UPDATE task SET finished_ms = 5 WHERE task_id = '\(a.taskID)'")
        try await ledger.apply([.accepted(a, spec: [3], acceptedUnixMilliseconds: 7)])
        #expect(try await ledger.unfinishedTasks().first?.history == nil)  // accepted again: a new task, no failed attempts
    }

    @Test func acceptingAFinishedTasksKeyAgainStartsItAfresh() async throws {
        let ledger = try SQLiteTaskLedger(path: temporaryLedgerPath())
        try await ledger.apply([.accepted(a, spec: [1], acceptedUnixMilliseconds: 1), .finished(a, result: [1], finishedUnixMilliseconds: 2)])
        try await ledger.apply([.accepted(a, spec: [2], acceptedUnixMilliseconds: 3)])
        let unfinished = try await ledger.unfinishedTasks()
        #expect(unfinished.count == 1 && unfinished[0].spec == [2] && unfinished[0].result == nil)
    }

    @Test func unfinishedTasksComeBackInTheOrderTheyWereAccepted() async throws {
        let ledger = try SQLiteTaskLedger(path: temporaryLedgerPath())
        let keys = (0..<50).map { TaskKey(client: "app", taskID: "t\(49 - $0)") }  // not in key order
        for chunk in stride(from: 0, to: 50, by: 7) {
            try await ledger.apply(keys[chunk..<min(50, chunk + 7)].map { .accepted($0, spec: [], acceptedUnixMilliseconds: 0) })
        }
        #expect(try await ledger.unfinishedTasks().map(\.key) == keys)
    }

    @Test func pruningRemovesOnlyTasksFinishedBeforeTheCutoff() async throws {
        let ledger = try SQLiteTaskLedger(path: temporaryLedgerPath())
        try await ledger.apply([
            .accepted(a, spec: [], acceptedUnixMilliseconds: 0), .finished(a, result: [], finishedUnixMilliseconds: 999),
            .accepted(b, spec: [], acceptedUnixMilliseconds: 0), .finished(b, result: [], finishedUnixMilliseconds: 1_000),
            .accepted(other, spec: [], acceptedUnixMilliseconds: 0),
        ])
        #expect(try await ledger.pruneFinished(before: 1_000) == 1)
        let left = try await ledger.tasks([a, b, other])
        #expect(left[a] == nil && left[b] != nil && left[other] != nil)
    }

    @Test func eachOpeningBeginsANewIncarnation() async throws {
        let path = temporaryLedgerPath()
        #expect(try await SQLiteTaskLedger(path: path).beginIncarnation() == 1)
        #expect(try await SQLiteTaskLedger(path: path).beginIncarnation() == 2)
    }

    @Test func anUnusableFolderIsAnErrorNamingThePathAndTheKey() throws {
        #expect {
            try SQLiteTaskLedger(path: "/proc/phalanx-cannot-be-here/ledger.sqlite")
        } throws: { error in
            let message = "\(error)"
            return message.contains("/proc/phalanx-cannot-be-here/ledger.sqlite") && message.contains("coordinator.data_dir")
        }
    }

    @Test func aCancelRequestIsKeptForAnUnfinishedTask() async throws {
        let path = temporaryLedgerPath()
        do {
            let ledger = try SQLiteTaskLedger(path: path)
            try await ledger.apply([.accepted(a, spec: [], acceptedUnixMilliseconds: 1), .accepted(b, spec: [], acceptedUnixMilliseconds: 2)])
            try await ledger.apply([.dispatched(a, attempt: 1), .cancelRequested(a)])
        }
        let unfinished = try await SQLiteTaskLedger(path: path).unfinishedTasks()
        #expect(unfinished.map(\.cancelRequested) == [true, false])
    }

    @Test func theKeysOfFinishedTasksComeBackNewestFirstWithinTheWindowAndLimit() async throws {
        let path = temporaryLedgerPath()
        do {
            let ledger = try SQLiteTaskLedger(path: path)
            try await ledger.apply([
                .accepted(a, spec: [1], acceptedUnixMilliseconds: 1, idempotencyKey: "ka"),
                .accepted(b, spec: [2], acceptedUnixMilliseconds: 1, idempotencyKey: "kb"),
                .accepted(other, spec: [3], acceptedUnixMilliseconds: 1, idempotencyKey: "ko"),
                .accepted(TaskKey(client: "app", taskID: "plain"), spec: [4], acceptedUnixMilliseconds: 1),
            ])
            try await ledger.apply([
                .finished(a, result: [9], finishedUnixMilliseconds: 100), .finished(b, result: [9], finishedUnixMilliseconds: 300),
                .finished(TaskKey(client: "app", taskID: "plain"), result: [9], finishedUnixMilliseconds: 400),
            ])  // `other` is unfinished: its key comes back with its spec, not here
        }
        let reopened = try SQLiteTaskLedger(path: path)
        let all = try await reopened.finishedIdempotencyKeys(since: 0, limit: 10)
        #expect(all == [
            FinishedIdempotencyKey(task: b, key: "kb", finishedUnixMilliseconds: 300),
            FinishedIdempotencyKey(task: a, key: "ka", finishedUnixMilliseconds: 100),
        ])
        #expect(try await reopened.finishedIdempotencyKeys(since: 200, limit: 10).map(\.key) == ["kb"])
        #expect(try await reopened.finishedIdempotencyKeys(since: 0, limit: 1).map(\.key) == ["kb"])
    }
}

/// A participant store and a decision log that earlier versions filled with JSON records open and
/// read as before, next to records written now.
@Suite struct StoredRecordFormatTests {
    @Test func aParticipantStoreWithJSONRowsFromAnEarlierVersionStillLoads() async throws {
        let store = try ParticipantStore(path: temporaryLedgerPath("participant.sqlite"))
        let write = KeyWrite(key: "k", before: nil, after: StoredValue(.integer(5), lowerBound: 0))
        let old = ParticipantMachine.Prepared(id: "t-old", writes: [write], reads: [:], voteDeadlineUnixMilliseconds: 0, preparedUnixMilliseconds: 1, durable: true)
        let encoder = JSONEncoder()
        func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self).replacingOccurrences(of: "'", with: "''") }
        try store.executeForTesting("INSERT INTO value (key, value_json) VALUES ('old', '\(text(try encoder.encode(StoredValue(.integer(7)))))')")
        try store.executeForTesting("INSERT INTO prepared (id, record_json, prepared_ms) VALUES ('t-old', '\(text(try encoder.encode(old)))', 1)")
        try store.executeForTesting("INSERT INTO applied (id, committed, writes_json, applied_ms) VALUES ('t-done', 1, '\(text(try encoder.encode([write])))', 1)")
        let new = ParticipantMachine.Prepared(id: "t-new", writes: [], reads: ["k": nil], voteDeadlineUnixMilliseconds: 9, preparedUnixMilliseconds: 2, durable: false)
        try await store.apply([.prepared(new), .outcome(id: "t-done-2", committed: true, writes: [KeyWrite(key: "k", before: StoredValue(.integer(5)), after: StoredValue(.integer(6)))], unixMilliseconds: 3)])

        let loaded = try await store.load()
        #expect(loaded.values["old"] == StoredValue(.integer(7)))
        #expect(loaded.values["k"] == StoredValue(.integer(6)))
        var durableNew = new
        durableNew.durable = true  // what the store keeps is on disk
        #expect(loaded.prepared == [old, durableNew])
        #expect(try await store.history().map(\.writes) == [[write], [KeyWrite(key: "k", before: StoredValue(.integer(5)), after: StoredValue(.integer(6)))]])
    }

    @Test func aDecisionLogWithAJSONBeginFromAnEarlierVersionStillReads() async throws {
        let ledger = try SQLiteTaskLedger(path: temporaryLedgerPath())
        let begin = TransactionBegin(
            id: "t-old", client: "c", participants: [ParticipantOperations(participant: "w1", operations: [.add(key: "a", amount: 1)])], begunUnixMilliseconds: 10)
        let json = String(decoding: try JSONEncoder().encode(begin), as: UTF8.self)
        try ledger.executeForTesting("INSERT INTO tx_log (id, begin_json, begun_ms) VALUES ('t-old', '\(json)', 10)")
        var newer = begin
        newer.id = "t-new"
        try await ledger.apply([LedgerChange.encodedTransaction(.begun(newer)), .transaction(.decided(id: "t-new", committed: true, reason: nil, decidedUnixMilliseconds: 11))])
        #expect(try await ledger.transaction("t-old")?.begin == begin)
        #expect(try await ledger.transaction("t-new")?.begin == newer)
        #expect(try await ledger.transaction("t-new")?.committed == true)
        #expect(try await ledger.unendedTransactions().map(\.begin.id) == ["t-old", "t-new"])
    }

    /// A BEGIN written with its decision is one row with both; a reused id keeps its BEGIN and
    /// its first decision, and a row from an earlier version without a decision gets this one.
    @Test func aBeginWrittenWithItsDecisionKeepsTheFirstBeginAndDecisionOfAnId() async throws {
        let ledger = try SQLiteTaskLedger(path: temporaryLedgerPath())
        func begin(_ id: String, _ key: String, at: Int64) -> TransactionBegin {
            TransactionBegin(id: id, client: "c", participants: [ParticipantOperations(participant: "w1", operations: [.add(key: key, amount: 1)])], begunUnixMilliseconds: at)
        }
        func logged(_ begin: TransactionBegin, committed: Bool, at: Int64) -> [LedgerChange] {
            [LedgerChange.encodedTransaction(.begun(begin)), .transaction(.decided(id: begin.id, committed: committed, reason: nil, decidedUnixMilliseconds: at))]
        }
        try await ledger.apply(logged(begin("t1", "a", at: 10), committed: true, at: 11))
        var first = try #require(try await ledger.transaction("t1"))
        #expect(first.begin == begin("t1", "a", at: 10) && first.committed == true && first.decidedUnixMilliseconds == 11)
        try await ledger.apply(logged(begin("t1", "b", at: 20), committed: false, at: 21))
        first = try #require(try await ledger.transaction("t1"))
        #expect(first.begin == begin("t1", "a", at: 10), "a reused id keeps its BEGIN")
        #expect(first.committed == true && first.decidedUnixMilliseconds == 11, "and its first decision")
        // A row an earlier version wrote (BEGIN before PREPARE) has no decision yet.
        try await ledger.apply([LedgerChange.encodedTransaction(.begun(begin("t2", "a", at: 30)))])
        #expect(try await ledger.transaction("t2")?.committed == nil)
        try await ledger.apply(logged(begin("t2", "c", at: 40), committed: false, at: 41))
        let second = try #require(try await ledger.transaction("t2"))
        #expect(second.begin == begin("t2", "a", at: 30) && second.committed == false && second.decidedUnixMilliseconds == 41)
        try await ledger.apply([.transaction(.ended(id: "t1", endedUnixMilliseconds: 50))])
        #expect(try await ledger.unendedTransactions().map(\.begin.id) == ["t2"])
    }
}
