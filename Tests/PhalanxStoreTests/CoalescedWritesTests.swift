import PhalanxCore
import Testing

@testable import PhalanxStore

@Suite struct CoalescedWritesTests {
    let a = TaskKey(client: "app", taskID: "a")
    let b = TaskKey(client: "app", taskID: "b")

    @Test func aTaskAcceptedDispatchedAndFinishedInOneRunIsOneInsertWithEverything() {
        let writes = CoalescedWrites([
            .accepted(a, spec: [1], acceptedUnixMilliseconds: 10), .accepted(b, spec: [2], acceptedUnixMilliseconds: 11),
            .dispatched(a, attempt: 1), .finished(a, result: [9], finishedUnixMilliseconds: 20),
        ]).writes
        #expect(writes.map(\.key) == [a, b])
        #expect(writes[0].accepted?.spec == [1] && writes[0].attempt == 1 && writes[0].finished?.result == [9])
        #expect(writes[1].accepted?.spec == [2] && writes[1].attempt == nil && writes[1].finished == nil)
    }

    @Test func updatesOfAnEarlierTaskKeepTheLastAttemptAndLossesAndTheFirstResult() {
        let writes = CoalescedWrites([
            .dispatched(a, attempt: 1), .attemptFailed(a, losses: 1, history: [1]), .dispatched(a, attempt: 2),
            .attemptFailed(a, losses: 1, history: [1, 2]),
            .finished(a, result: [1], finishedUnixMilliseconds: 5), .finished(a, result: [2], finishedUnixMilliseconds: 6),
            .dispatched(a, attempt: 3), .attemptFailed(a, losses: 2, history: [1, 2, 3]),
        ]).writes
        #expect(writes.count == 1)
        #expect(writes[0].accepted == nil && writes[0].attempt == 2 && writes[0].losses == 1 && writes[0].history == [1, 2])
        #expect(writes[0].finished?.result == [1] && writes[0].finished?.unixMilliseconds == 5)
    }

    @Test func aNewAcceptanceOfAFinishedKeyStartsAfresh() {
        let writes = CoalescedWrites([
            .finished(a, result: [1], finishedUnixMilliseconds: 5), .accepted(a, spec: [7], acceptedUnixMilliseconds: 6),
        ]).writes
        #expect(writes.count == 1 && writes[0].accepted?.spec == [7] && writes[0].finished == nil)
    }

    @Test func coalescedWritesLeaveTheLedgerAsTheChangesOneByOneWould() async throws {
        let changes: [LedgerChange] = [
            .accepted(a, spec: [1], acceptedUnixMilliseconds: 1), .dispatched(a, attempt: 1), .attemptFailed(a, losses: 1, history: [7]),
            .accepted(b, spec: [2], acceptedUnixMilliseconds: 2), .dispatched(a, attempt: 2), .dispatched(b, attempt: 1),
            .finished(b, result: [5], finishedUnixMilliseconds: 3), .dispatched(b, attempt: 2),
        ]
        let together = try SQLiteTaskLedger(path: temporaryLedgerPath())
        try await together.apply(changes)
        let oneByOne = try SQLiteTaskLedger(path: temporaryLedgerPath())
        for change in changes { try await oneByOne.apply([change]) }
        #expect(try await together.tasks([a, b]) == oneByOne.tasks([a, b]))
    }

    @Test func onlyWritesThatJustRecordADispatchAreHeldBack() {
        let c = TaskKey(client: "app", taskID: "c")
        let (now, later) = CoalescedWrites([
            .dispatched(a, attempt: 1),  // dispatch only: held back
            .accepted(b, spec: [2], acceptedUnixMilliseconds: 1), .dispatched(b, attempt: 1),  // with its acceptance
            .dispatched(c, attempt: 2), .attemptFailed(c, losses: 1, history: [1]),  // with a lost attempt
        ]).holdingBackDispatches()
        #expect(now.writes.map(\.key) == [b, c])
        #expect(later == [.dispatched(a, attempt: 1)])
        // Held back and written with the task's result, it is one write with both.
        let next = CoalescedWrites(later + [.finished(a, result: [9], finishedUnixMilliseconds: 5)]).holdingBackDispatches()
        #expect(next.later.isEmpty && next.now.writes.count == 1 && next.now.writes[0].attempt == 1 && next.now.writes[0].finished?.result == [9])
    }
}

