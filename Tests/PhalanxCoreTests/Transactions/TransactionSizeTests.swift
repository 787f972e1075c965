import Testing

@testable import PhalanxCore
@testable import PhalanxResilience

/// The bounds in bytes on transactions: what a participant's vote and the client's reply may
/// carry of values read, what the coordinator holds for transactions in progress, and what it
/// remembers of ended ones.
@Suite struct TransactionSizeTests {
    let now: Int64 = 1_000_000
    let client = ConnectionID(3)
    let value = StoreValue.bytes([UInt8](repeating: 0x61, count: 1_000))

    /// The bytes the reads of `keys`, each holding `value`, take on `participant`.
    func readBytes(_ keys: [String], on participant: String = "w1") -> Int {
        TransactionLimits.readBytes(Dictionary(uniqueKeysWithValues: keys.map { ($0, Optional(value)) }), participant: participant)
    }

    func participantVote(budget: Int, keys: [String]) -> ParticipantMachine.Vote? {
        var machine = ParticipantMachine(node: "w1", values: Dictionary(uniqueKeysWithValues: keys.map { ($0, StoredValue(value)) }), prepared: [])
        var actions = machine.prepare(
            id: "t1", operations: keys.map { .get(key: $0) }, voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now, maximumReadBytes: budget)
        if case .persistPrepared? = actions.first { actions = machine.prepareDurable("t1", nowUnixMilliseconds: now) }
        for case .vote(_, let vote) in actions { return vote }
        return nil
    }

    @Test func aParticipantVotesYesWithReadsAtItsBudgetAndNoOneBytePast() {
        let keys = (0..<10).map { "k\($0)" }
        let bytes = readBytes(keys)
        guard case .yes(let reads)? = participantVote(budget: bytes, keys: keys) else { Issue.record("at the budget: YES"); return }
        #expect(reads.count == 10)
        guard case .no(let error)? = participantVote(budget: bytes - 1, keys: keys) else { Issue.record("one byte past: NO"); return }
        #expect(error.code == .invalidArgument && error.message.contains("\(bytes) bytes") && error.message.contains("read fewer"), "\(error)")
        #expect(error.originNode == "w1")
    }

    @Test func theBudgetOfAFrameLeavesRoomForTheRestOfTheMessage() {
        #expect(TransactionLimits.readBudget(forFrameBytes: FrameLimits.minimumBytes) == FrameLimits.minimumBytes - 4_096)
        #expect(readBytes(["k"]) > 1_000 + "k".utf8.count + "w1".utf8.count, "each read counts its framing too")
    }

    /// Reads that fit each vote but not the reply together abort the transaction before it commits.
    @Test func readsThatFitEveryVoteButNotTheClientsReplyTogetherAbort() {
        let operations = [
            ParticipantOperations(participant: "w1", operations: [.get(key: "a")]),
            ParticipantOperations(participant: "w2", operations: [.get(key: "b")]),
        ]
        let together = readBytes(["a"], on: "w1") + readBytes(["b"], on: "w2")
        for (budget, commits) in [(together, true), (together - 1, false)] {
            var machine = TransactionMachine(node: "coordinator")
            _ = machine.begin(
                "t1", requestID: 1, from: client, clientName: "client", participants: operations, isConnected: { _ in true }, now: .zero,
                nowUnixMilliseconds: now, maximumReadBytes: budget)
            _ = machine.voted("t1", from: "w1", .yes(reads: ["a": value]), now: .zero, nowUnixMilliseconds: now)
            let actions = machine.voted("t1", from: "w2", .yes(reads: ["b": value]), now: .zero, nowUnixMilliseconds: now)
            let outcome = actions.compactMap { if case .reply(_, _, let outcome) = $0 { outcome } else { nil } }.first
            #expect(outcome?.committed == commits, "budget \(budget), reads \(together)")
            if !commits {
                #expect(outcome?.reason?.code == .invalidArgument && outcome?.reason?.message.contains("all participants together") == true)
                #expect(outcome?.reads.isEmpty == true)
                #expect(actions.contains { if case .sendDecision(_, _, false) = $0 { true } else { false } }, "every participant is told to abort")
            }
        }
    }

    @Test func transactionsInProgressAreBoundedInBytesAndFreeTheirBytesWhenTheyEnd() {
        let big = [ParticipantOperations(participant: "w1", operations: [.put(key: "k", value: value)])]
        let bytes = big[0].estimatedBytes
        var machine = TransactionMachine(node: "coordinator", settings: .init(maximumActiveBytes: 2 * bytes))
        func begin(_ id: String) -> [TransactionMachine.Action] {
            machine.begin(id, requestID: 1, from: client, clientName: "client", participants: big, isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: now)
        }
        #expect(begin("t1").count == 1 && begin("t2").count == 1, "two fit exactly")
        #expect(machine.activeBytes == 2 * bytes)
        guard case .reply(_, _, let refused)? = begin("t3").first else { Issue.record("the third is refused"); return }
        #expect(refused.reason?.code == .overloaded && refused.reason?.message.contains("bytes of operations") == true, "\(String(describing: refused.reason))")
        _ = machine.voted("t1", from: "w1", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: now)
        _ = machine.acknowledged("t1", from: "w1", nowUnixMilliseconds: now)
        #expect(machine.activeBytes == bytes, "an ended transaction frees its bytes")
        #expect(begin("t3").count == 1, "and another fits")
    }

    @Test func endedOutcomesAreForgottenOldestFirstOnceTheyTakeTooManyBytes() {
        let ended = EndedTransaction(
            outcome: TransactionOutcome(id: "t", committed: true, reads: ["w1": ["k": value]]), client: "client",
            participants: [ParticipantOperations(participant: "w1", operations: [.get(key: "k")])])
        var outcomes = RecentlyEnded<EndedTransaction>(capacity: 100, maximumBytes: 3 * ended.estimatedBytes)
        for index in 0..<5 { outcomes["t\(index)"] = ended }
        #expect(outcomes.count == 3 && outcomes.bytes == 3 * ended.estimatedBytes)
        #expect(outcomes["t0"] == nil && outcomes["t1"] == nil && outcomes["t2"] != nil && outcomes["t4"] != nil)
        var tiny = RecentlyEnded<EndedTransaction>(capacity: 100, maximumBytes: 1)
        tiny["only"] = ended
        #expect(tiny["only"] != nil, "the newest is kept whatever its size")
        outcomes["t2"] = nil
        outcomes["t5"] = ended
        #expect(outcomes.count == 3 && outcomes["t3"] != nil, "a forgotten one frees its bytes")
    }
}

/// The same bounds in bytes for sagas: the steps of those in progress, and the finished ones remembered.
@Suite struct SagaSizeTests {
    let client = ConnectionID(3)
    let steps = [SagaStep(forward: [ParticipantOperations(participant: "w1", operations: [.put(key: "k", value: .bytes(Array(repeating: 1, count: 1_000)))])])]

    @Test func sagasInProgressAreBoundedInBytesAndFreeTheirBytesWhenTheyFinish() {
        let bytes = SagaMachine.bytes(of: steps)
        var machine = SagaMachine(node: "coordinator", settings: .init(maximumActiveBytes: 2 * bytes))
        func start(_ id: String) -> [SagaMachine.Action] {
            machine.start(id, requestID: 1, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: 0)
        }
        func refusal(_ actions: [SagaMachine.Action]) -> ErrorContext? {
            actions.compactMap { if case .reply(_, _, let outcome) = $0 { outcome.reason } else { nil } }.first
        }
        #expect(refusal(start("a")) == nil && refusal(start("b")) == nil, "two fit exactly")
        #expect(machine.activeBytes == 2 * bytes)
        let third = refusal(start("c"))
        #expect(third?.code == .overloaded && third?.message.contains("bytes of steps") == true, "\(String(describing: third))")
        _ = machine.transactionEnded(TransactionOutcome(id: "saga:a#s0.0", committed: true), now: .zero, nowUnixMilliseconds: 0)
        #expect(machine.activeBytes == bytes, "a finished saga frees its bytes")
        #expect(refusal(start("c")) == nil)
    }

    @Test func finishedSagasAreForgottenOldestFirstPastTheirByteBound() {
        let remembered = EndedSaga(outcome: SagaOutcome(id: "s0", completed: true), client: "c", steps: steps)
        var machine = SagaMachine(node: "coordinator", settings: .init(maximumRememberedBytes: 2 * remembered.estimatedBytes))
        for index in 0..<3 {
            _ = machine.start("s\(index)", requestID: 1, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: 0)
            _ = machine.transactionEnded(TransactionOutcome(id: "saga:s\(index)#s0.0", committed: true), now: .zero, nowUnixMilliseconds: 0)
        }
        // The newest two answer a repeat at once; the oldest was forgotten (the shell asks the
        // compensation log before it starts an id the machine does not know: knows(_:)).
        let repeatNewest = machine.start("s2", requestID: 2, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: 0)
        #expect(repeatNewest.contains { if case .reply(_, _, let outcome) = $0 { outcome.completed } else { false } })
        let repeatOldest = machine.start("s0", requestID: 2, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: 0)
        #expect(repeatOldest.contains { if case .runTransaction(let id, _) = $0 { id == "saga:s0#s0.0" } else { false } })
    }

    @Test func aSagaTheLogHoldsIsAnsweredFromItAndNoStepRunsAgain() {
        var machine = SagaMachine(node: "coordinator")
        let begin = SagaBegin(id: "old", client: "c", steps: steps, begunUnixMilliseconds: 1)
        let history = SagaHistory(records: [
            SagaLogRecord(saga: "old", event: .begun(begin), unixMilliseconds: 1),
            SagaLogRecord(saga: "old", event: .stepStarted(step: 0, attempt: 0, transaction: "saga:old#s0.0"), unixMilliseconds: 2),
            SagaLogRecord(saga: "old", event: .stepCommitted(step: 0, transaction: "saga:old#s0.0"), unixMilliseconds: 3),
            SagaLogRecord(saga: "old", event: .finished(completed: true), unixMilliseconds: 4),
        ])
        #expect(!machine.knows("old"))
        let answered = machine.answer(fromLog: history, requestID: 5, from: client, clientName: "c", steps: steps, nowUnixMilliseconds: 9)
        #expect(answered == [.reply(client, requestID: 5, SagaOutcome(id: "old", completed: true))], "\(answered)")
        #expect(machine.knows("old"), "remembered for the next repeat")
        let other = machine.answer(fromLog: history, requestID: 6, from: client, clientName: "someone-else", steps: steps, nowUnixMilliseconds: 9)
        guard case .reply(_, _, let refused)? = other.first else { Issue.record("\(other)"); return }
        #expect(refused.reason?.code == .invalidArgument, "a reused id is a usage error, not a CONFLICT to retry")
    }
}
