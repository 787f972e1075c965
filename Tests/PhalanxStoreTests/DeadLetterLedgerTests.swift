import PhalanxCore
import Testing

@testable import PhalanxStore

@Suite struct DeadLetterLedgerTests {
    func entry(_ id: String, at: Int64) -> DeadLetter {
        DeadLetter(key: TaskKey(client: "app", taskID: id), spec: [1, 2], code: "WORKER_LOST", reason: "lost 3 workers", attempts: 3, deadUnixMilliseconds: at)
    }

    @Test func deadLettersAreListedOldestFirstSurviveReopeningAndCanBeRemovedByKeyOrAll() async throws {
        let path = temporaryLedgerPath()
        do {
            let ledger = try SQLiteTaskLedger(path: path)
            try await ledger.apply([.deadLettered(entry("b", at: 20)), .deadLettered(entry("a", at: 10)), .deadLettered(entry("c", at: 30))])
        }
        let ledger = try SQLiteTaskLedger(path: path)
        #expect(try await ledger.deadLetters(limit: 10).map(\.key.taskID) == ["a", "b", "c"])
        #expect(try await ledger.deadLetters(limit: 2).count == 2)
        let removed = try await ledger.removeDeadLetters([TaskKey(client: "app", taskID: "b"), TaskKey(client: "app", taskID: "zzz")])
        #expect(removed.map(\.key.taskID) == ["b"] && removed.first?.reason == "lost 3 workers")
        try await ledger.apply([.deadLetterRemoved(TaskKey(client: "app", taskID: "a"))])
        #expect(try await ledger.removeDeadLetters(nil).map(\.key.taskID) == ["c"])
        #expect(try await ledger.deadLetters(limit: 10).isEmpty)
    }
}
