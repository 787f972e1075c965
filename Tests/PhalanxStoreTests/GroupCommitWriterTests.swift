import PhalanxCore
import Synchronization
import Testing

@testable import PhalanxStore

/// A real SQLite ledger that counts its transactions (and can be told to fail).
final class CountingLedger: TaskLedger {
    let inner: SQLiteTaskLedger
    let transactions = Mutex(0)
    let failing = Mutex(false)

    init(path: String) throws {
        inner = try SQLiteTaskLedger(path: path)
    }

    func apply(_ changes: [LedgerChange]) async throws(LedgerError) {
        if failing.withLock({ $0 }) { throw LedgerError("disk full (simulated)") }
        transactions.withLock { $0 += 1 }
        try await inner.apply(changes)
    }

    func unfinishedTasks() async throws(LedgerError) -> [StoredTask] { try await inner.unfinishedTasks() }
    func tasks(_ keys: [TaskKey]) async throws(LedgerError) -> [TaskKey: StoredTask] { try await inner.tasks(keys) }
    func pruneFinished(before unixMilliseconds: Int64) async throws(LedgerError) -> Int { try await inner.pruneFinished(before: unixMilliseconds) }
    func beginIncarnation() async throws(LedgerError) -> UInt64 { try await inner.beginIncarnation() }
    func finishedIdempotencyKeys(since unixMilliseconds: Int64, limit: Int) async throws(LedgerError) -> [FinishedIdempotencyKey] {
        try await inner.finishedIdempotencyKeys(since: unixMilliseconds, limit: limit)
    }
    func aliasesOfUnfinishedTasks() async throws(LedgerError) -> [(alias: TaskKey, original: String)] { try await inner.aliasesOfUnfinishedTasks() }
    func workerIncarnations() async throws(LedgerError) -> [String: UInt64] { try await inner.workerIncarnations() }
    func workerParticipantStores() async throws(LedgerError) -> [String: KnownParticipantStore] { try await inner.workerParticipantStores() }
    func acceptedStoreLosses() async throws(LedgerError) -> [AcceptedStoreLoss] { try await inner.acceptedStoreLosses() }
    func deadLetters(limit: Int) async throws(LedgerError) -> [DeadLetter] { try await inner.deadLetters(limit: limit) }
    func deadLetterCount() async throws(LedgerError) -> Int { try await inner.deadLetterCount() }
    func removeDeadLetters(_ keys: [TaskKey]?) async throws(LedgerError) -> [DeadLetter] { try await inner.removeDeadLetters(keys) }
    func unendedTransactions() async throws(LedgerError) -> [TransactionLogEntry] { try await inner.unendedTransactions() }
    func transaction(_ id: String) async throws(LedgerError) -> TransactionLogEntry? { try await inner.transaction(id) }
    func transactionLog() async throws(LedgerError) -> [TransactionLogEntry] { try await inner.transactionLog() }
    func unfinishedSagas() async throws(LedgerError) -> [SagaHistory] { try await inner.unfinishedSagas() }
    func saga(_ id: String) async throws(LedgerError) -> SagaHistory? { try await inner.saga(id) }
    func sagaLog() async throws(LedgerError) -> [SagaHistory] { try await inner.sagaLog() }
    func auditTasks(isTerminalResult: @escaping @Sendable ([UInt8]) -> Bool) async throws(LedgerError) -> TaskLedgerAudit {
        try await inner.auditTasks(isTerminalResult: isTerminalResult)
    }
}

/// What the writer reported as durable, in order.
final class DurableReports: Sendable {
    let reported = Mutex<[GroupCommitWriter.Sequence]>([])
    var last: GroupCommitWriter.Sequence { reported.withLock { $0.last ?? 0 } }
    func record(_ sequence: GroupCommitWriter.Sequence) { reported.withLock { $0.append(sequence) } }
}

@Suite struct GroupCommitWriterTests {
    @Test func manyQueuedChangesShareTransactionsAndAreAllDurableInOrder() async throws {
        let ledger = try CountingLedger(path: temporaryLedgerPath())
        let writer = GroupCommitWriter(ledger: ledger)
        let reports = DurableReports()
        let running = Task { try await writer.run { reports.record($0) } }
        var last: GroupCommitWriter.Sequence = 0
        for index in 0..<2_000 {
            last = writer.enqueue([.accepted(TaskKey(client: "app", taskID: "t\(index)"), spec: [UInt8(index % 256)], acceptedUnixMilliseconds: 0)])
        }
        #expect(last == 2_000)
        writer.finish()
        try await running.value
        let sequences = reports.reported.withLock { $0 }
        #expect(sequences == sequences.sorted())
        #expect(reports.last == 2_000)
        #expect(ledger.transactions.withLock { $0 } < 2_000)  // grouped: fewer transactions than enqueues
        let unfinished = try await ledger.unfinishedTasks()
        #expect(unfinished.count == 2_000 && unfinished.first?.key.taskID == "t0" && unfinished.last?.key.taskID == "t1999")
    }

    @Test func aFailedWriteStopsTheWriterAndReportsNothingPastIt() async throws {
        let ledger = try CountingLedger(path: temporaryLedgerPath())
        let writer = GroupCommitWriter(ledger: ledger)
        let reports = DurableReports()
        let running = Task { try await writer.run { reports.record($0) } }
        writer.enqueue([.accepted(TaskKey(client: "app", taskID: "ok"), spec: [], acceptedUnixMilliseconds: 0)])
        while reports.last < 1 { await Task.yield() }
        ledger.failing.withLock { $0 = true }
        writer.enqueue([.accepted(TaskKey(client: "app", taskID: "lost"), spec: [], acceptedUnixMilliseconds: 0)])
        await #expect(throws: LedgerError.self) { try await running.value }
        #expect(reports.last == 1)
        #expect(try await ledger.unfinishedTasks().map(\.key.taskID) == ["ok"])
    }

    @Test func largeBacklogsAreWrittenInTransactionsOfAboutTheByteCapAndCountedUntilTaken() async throws {
        let ledger = try CountingLedger(path: temporaryLedgerPath())
        let megabyte = [UInt8](repeating: 7, count: 1_000_000)
        let writer = GroupCommitWriter(ledger: ledger, maximumTransactionBytes: 3_000_000)
        for index in 0..<10 {
            writer.enqueue([.accepted(TaskKey(client: "app", taskID: "big\(index)"), spec: megabyte, acceptedUnixMilliseconds: 0)])
        }
        #expect(writer.pendingBytes >= 10_000_000 && writer.pendingBytes < 10_001_000)
        let reports = DurableReports()
        writer.finish()
        try await writer.run { reports.record($0) }
        #expect(writer.pendingBytes == 0)
        #expect(ledger.transactions.withLock { $0 } == 4)  // 3 + 3 + 3 + 1 entries
        #expect(reports.reported.withLock { $0 } == [3, 6, 9, 10])
        #expect(try await ledger.unfinishedTasks().count == 10)
    }

    @Test func aLazyChangeRidesWithTheNextUrgentOneAndDoesNotMoveTheBarrier() async throws {
        let ledger = try CountingLedger(path: temporaryLedgerPath())
        let writer = Self.writer(over: ledger, lazyDelay: .seconds(3_600))
        let reports = DurableReports()
        let running = Task { try await writer.run { reports.record($0) } }
        let lazy = writer.enqueue([.accepted(TaskKey(client: "app", taskID: "lazy"), spec: [], acceptedUnixMilliseconds: 0)], lazy: true)
        #expect(lazy == 1 && writer.barrier == 0 && writer.lastQueued == 1)
        let urgent = writer.enqueue([.accepted(TaskKey(client: "app", taskID: "urgent"), spec: [], acceptedUnixMilliseconds: 0)])
        #expect(urgent == 2 && writer.barrier == 2)
        while reports.last < 2 { await Task.yield() }
        #expect(ledger.transactions.withLock { $0 } == 1)  // the lazy change went with the urgent one
        #expect(try await ledger.unfinishedTasks().map(\.key.taskID) == ["lazy", "urgent"])
        // A lazy change alone waits (an hour here) until finish() writes it.
        writer.enqueue([.accepted(TaskKey(client: "app", taskID: "alone"), spec: [], acceptedUnixMilliseconds: 0)], lazy: true)
        writer.finish()
        try await running.value
        #expect(reports.last == 3 && ledger.transactions.withLock { $0 } == 2)
    }

    @Test func aLazyChangeAloneIsWrittenAfterTheDelay() async throws {
        let ledger = try CountingLedger(path: temporaryLedgerPath())
        let writer = Self.writer(over: ledger, lazyDelay: .milliseconds(5))
        let reports = DurableReports()
        let running = Task { try await writer.run { reports.record($0) } }
        // The writer's thread waits on real time: poll, bounded.
        let giveUp = ContinuousClock.now + .seconds(10)
        while !writer.isIdle, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(1)) }
        #expect(writer.isIdle, "the writer thread did not go to sleep within 10 s")
        // Enqueued while the writer sleeps with nothing to do: it must still be written.
        writer.enqueue([.accepted(TaskKey(client: "app", taskID: "lazy"), spec: [], acceptedUnixMilliseconds: 0)], lazy: true)
        while reports.last < 1, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(1)) }
        #expect(reports.last == 1, "the lazy change alone was not written within 10 s")
        #expect(ledger.transactions.withLock { $0 } == 1)
        writer.finish()
        try await running.value
    }

    /// A lingering change (an accept whose task went straight to a worker) moves the barrier, as
    /// what waits for it must wait, but its transaction waits for company: the next urgent change
    /// (the task's result) shares it. Alone, it is written once its delay has passed, also when
    /// the writer slept on a lazy change's much longer delay, and at the latest by finish().
    @Test func aLingeringChangeWaitsForTheNextUrgentOneWithinItsDelayAndMovesTheBarrier() async throws {
        let ledger = try CountingLedger(path: temporaryLedgerPath())
        let writer = Self.writer(over: ledger, lazyDelay: .seconds(3_600))
        let reports = DurableReports()
        let running = Task { try await writer.run { reports.record($0) } }
        func task(_ id: String) -> [LedgerChange] { [.accepted(TaskKey(client: "app", taskID: id), spec: [], acceptedUnixMilliseconds: 0)] }
        let giveUp = ContinuousClock.now + .seconds(10)

        let lingering = writer.enqueue(task("accepted"), lingeringUpTo: .seconds(3_600))
        #expect(lingering == 1 && writer.barrier == 1, "an acknowledgement waits for it")
        try await Task.sleep(for: .milliseconds(20))
        #expect(reports.last == 0 && ledger.transactions.withLock { $0 } == 0, "not written alone before its delay")
        writer.enqueue(task("result"))
        while reports.last < 2, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(1)) }
        #expect(reports.last == 2 && ledger.transactions.withLock { $0 } == 1, "one transaction for both")

        // Alone, with a short delay, while the writer sleeps on a lazy change's hour.
        writer.enqueue(task("lazy"), lazy: true)
        writer.enqueue(task("alone"), lingeringUpTo: .milliseconds(5))
        while reports.last < 4, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(1)) }
        #expect(reports.last == 4 && ledger.transactions.withLock { $0 } == 2, "written after its delay, with the lazy change")

        writer.enqueue(task("last"), lingeringUpTo: .seconds(3_600))
        writer.finish()
        try await running.value
        #expect(reports.last == 5 && ledger.transactions.withLock { $0 } == 3)
        #expect(try await ledger.unfinishedTasks().map(\.key.taskID) == ["accepted", "result", "lazy", "alone", "last"])
    }

    @Test func aDispatchRecordAloneIsHeldBackForTheTasksResultAndWrittenWhenTheQueueStaysEmpty() async throws {
        let ledger = try SQLiteTaskLedger(path: temporaryLedgerPath())
        let (a, b) = (TaskKey(client: "app", taskID: "a"), TaskKey(client: "app", taskID: "b"))
        try ledger.applyCoalescing([.accepted(a, spec: [1], acceptedUnixMilliseconds: 1), .accepted(b, spec: [2], acceptedUnixMilliseconds: 1)])
        try ledger.applyCoalescing([.dispatched(a, attempt: 1), .dispatched(b, attempt: 1)])
        #expect(try await ledger.tasks([a, b]).values.map(\.attempt) == [0, 0])  // held back
        try ledger.applyCoalescing([.finished(a, result: [9], finishedUnixMilliseconds: 2)])
        let afterResult = try await ledger.tasks([a, b])
        #expect(afterResult[a]?.attempt == 1 && afterResult[a]?.result == [9])  // with its result
        #expect(afterResult[b]?.attempt == 1)  // the earlier call's are written by the next one
        try ledger.applyCoalescing([.dispatched(b, attempt: 2)])
        #expect(try await ledger.tasks([b])[b]?.attempt == 1)
        try ledger.applyCoalescing([])  // what the group commit calls when its queue stays empty
        #expect(try await ledger.tasks([b])[b]?.attempt == 2)

        // Through the group commit: a dispatch record alone is written after the idle delay (the
        // lazy delay of an hour does not hold it), and at the latest when the writer finishes.
        let writer = GroupCommit(
            lazyDelay: .seconds(3_600), size: \.approximateBytes, write: { changes throws(LedgerError) in try ledger.applyCoalescing(changes) },
            idleDelay: .milliseconds(5), whenIdle: { () throws(LedgerError) in try ledger.applyCoalescing([]) })
        let running = Task { try await writer.run { _ in } }
        writer.enqueue([.dispatched(b, attempt: 3)])
        let giveUp = ContinuousClock.now + .seconds(10)
        while try await ledger.tasks([b])[b]?.attempt != 3, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(1)) }
        #expect(try await ledger.tasks([b])[b]?.attempt == 3, "the held-back dispatch record was not written within 10 s of a lull")
        let slow = GroupCommit(
            lazyDelay: .seconds(3_600), size: \.approximateBytes, write: { changes throws(LedgerError) in try ledger.applyCoalescing(changes) },
            idleDelay: .seconds(3_600), whenIdle: { () throws(LedgerError) in try ledger.applyCoalescing([]) })
        slow.enqueue([.dispatched(b, attempt: 4)])
        slow.finish()
        try await slow.run { _ in }
        #expect(try await ledger.tasks([b])[b]?.attempt == 4)  // written before the writer ended, not an hour later
        writer.finish()
        try await running.value
    }

    /// A ledger writer with the given delay for lazy changes.
    static func writer(over ledger: CountingLedger, lazyDelay: Duration) -> GroupCommitWriter {
        GroupCommit(lazyDelay: lazyDelay, size: \.approximateBytes) { changes throws(LedgerError) in try ledger.applyBlocking(changes) }
    }
}
