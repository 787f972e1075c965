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
        var outcomes = RecentOutcomes(capacity: 100, maximumBytes: 3 * ended.estimatedBytes)
        for index in 0..<5 { outcomes["t\(index)"] = ended }
        #expect(outcomes.count == 3 && outcomes.bytes == 3 * ended.estimatedBytes)
        #expect(outcomes["t0"] == nil && outcomes["t1"] == nil && outcomes["t2"] != nil && outcomes["t4"] != nil)
        var tiny = RecentOutcomes(capacity: 100, maximumBytes: 1)
        tiny["only"] = ended
        #expect(tiny["only"] != nil, "the newest is kept whatever its size")
        outcomes["t2"] = nil
        outcomes["t5"] = ended
        #expect(outcomes.count == 3 && outcomes["t3"] != nil, "a forgotten one frees its bytes")
    }
}
