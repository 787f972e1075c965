import Testing

@testable import PhalanxCore
@testable import PhalanxResilience

@Suite struct TransactionMachineTests {
    let client = ConnectionID(7)
    let unix: Int64 = 5_000_000
    let transfer = [
        ParticipantOperations(participant: "w1", operations: [.add(key: "alice", amount: -10, lowerBound: 0)]),
        ParticipantOperations(participant: "w2", operations: [.add(key: "bob", amount: 10)]),
    ]

    func begun(_ machine: inout TransactionMachine, id: String = "t1", connected: Set<String> = ["w1", "w2"]) -> [TransactionMachine.Action] {
        machine.begin(id, requestID: 1, from: client, clientName: "client", participants: transfer, isConnected: { connected.contains($0) }, now: .zero, nowUnixMilliseconds: unix)
    }

    func replies(_ actions: [TransactionMachine.Action]) -> [TransactionOutcome] {
        actions.compactMap { if case .reply(_, _, let outcome) = $0 { outcome } else { nil } }
    }

    func decisions(_ actions: [TransactionMachine.Action]) -> [(String, Bool)] {
        actions.compactMap { if case .sendDecision(let participant, _, let commit) = $0 { (participant, commit) } else { nil } }
    }

    @Test func onlyAnEndMayBeWrittenLazily() {
        let begin = TransactionBegin(id: "t", client: "c", participants: [], begunUnixMilliseconds: 1)
        #expect(TransactionLogChange.ended(id: "t", endedUnixMilliseconds: 2).mayBeWrittenLazily)
        #expect(!TransactionLogChange.begun(begin).mayBeWrittenLazily)
        #expect(!TransactionLogChange.decided(id: "t", committed: true, reason: nil, decidedUnixMilliseconds: 2).mayBeWrittenLazily)
    }

    @Test func beginSendsPrepareToEveryParticipantAndLogsNothingBeforeTheDecision() {
        var machine = TransactionMachine(node: "coordinator")
        let actions = begun(&machine)
        #expect(actions == [
            .sendPrepare(participant: "w1", id: "t1", operations: transfer[0].operations, voteDeadlineUnixMilliseconds: unix + 5_000),
            .sendPrepare(participant: "w2", id: "t1", operations: transfer[1].operations, voteDeadlineUnixMilliseconds: unix + 5_000),
        ], "presumed abort: nothing is logged before the decision")
        #expect(machine.nextWakeUp == .seconds(5))
        #expect(machine.activeEntries.map(\.id) == ["t1"], "an audit's cut sees it in progress")
    }

    /// The wake-up is never later than what is due first; after the transaction that set it
    /// ended it may come early, and a wake-up with nothing due sets it exactly again.
    @Test func theWakeUpIsNeverLateComesEarlyAtMostOnceAndIsNilWhenNothingIsPending() {
        var machine = TransactionMachine(node: "coordinator")
        let resend = machine.settings.resendInterval
        #expect(machine.nextWakeUp == nil)
        _ = begun(&machine, id: "t1")
        _ = machine.begin("t2", requestID: 2, from: client, clientName: "client", participants: transfer, isConnected: { _ in true }, now: .seconds(1), nowUnixMilliseconds: unix + 1_000)
        #expect(machine.nextWakeUp == .seconds(5), "t1's vote deadline comes first")
        _ = machine.voted("t1", from: "w1", .yes(reads: [:]), now: .seconds(2), nowUnixMilliseconds: unix + 2_000)
        _ = machine.voted("t1", from: "w2", .yes(reads: [:]), now: .seconds(2), nowUnixMilliseconds: unix + 2_000)
        #expect(machine.nextWakeUp == .seconds(2) + resend, "the resend of t1's decision comes first now")
        _ = machine.acknowledged("t1", from: "w1", nowUnixMilliseconds: unix + 2_000)
        _ = machine.acknowledged("t1", from: "w2", nowUnixMilliseconds: unix + 2_000)
        #expect(machine.nextWakeUp! <= .seconds(6), "never later than t2's vote deadline")
        #expect(machine.wakeUp(now: machine.nextWakeUp!, nowUnixMilliseconds: unix + 3_000, isConnected: { _ in true }).isEmpty, "an early wake-up does nothing")
        #expect(machine.nextWakeUp == .seconds(6), "and sets the time exactly")
        let expired = machine.wakeUp(now: .seconds(6), nowUnixMilliseconds: unix + 6_000, isConnected: { _ in true })
        #expect(decisions(expired).map(\.1) == [false, false], "t2 aborts at its deadline")
        #expect(machine.nextWakeUp == .seconds(6) + resend, "its ABORT is resent until acknowledged")
        _ = machine.acknowledged("t2", from: "w1", nowUnixMilliseconds: unix + 6_000)
        _ = machine.acknowledged("t2", from: "w2", nowUnixMilliseconds: unix + 6_000)
        #expect(machine.nextWakeUp == nil, "nothing pending")
    }

    @Test func allYesLogsCommitThenRepliesAndSendsTheDecisionInThatOrder() {
        var machine = TransactionMachine(node: "coordinator")
        _ = begun(&machine)
        #expect(machine.voted("t1", from: "w1", .yes(reads: [:]), now: .milliseconds(1), nowUnixMilliseconds: unix + 1).isEmpty)
        let actions = machine.voted("t1", from: "w2", .yes(reads: ["bob": .integer(10)]), now: .milliseconds(2), nowUnixMilliseconds: unix + 2)
        guard case .persist(.begun(let begin)) = actions.first, begin.participants == transfer else { Issue.record("BEGIN is logged first: \(actions)"); return }
        guard case .persist(.decided("t1", true, nil, unix + 2)) = actions.dropFirst().first else { Issue.record("then COMMIT: \(actions)"); return }
        #expect(replies(actions).map(\.committed) == [true])
        #expect(replies(actions).first?.reads["w2"]?["bob"] == .some(.integer(10)))
        #expect(decisions(actions).map(\.0) == ["w1", "w2"])
        #expect(decisions(actions).allSatisfy { $0.1 })
    }

    @Test func oneNoAbortsWithItsReasonAndTheParticipantThatVotedNo() {
        var machine = TransactionMachine(node: "coordinator")
        _ = begun(&machine)
        let no = ErrorContext(code: .businessRejected, message: "alice would go below 0", originNode: "w1")
        let actions = machine.voted("t1", from: "w1", .no(no), now: .milliseconds(1), nowUnixMilliseconds: unix + 1)
        guard case .persist(.decided("t1", false, let reason?, _)) = actions.dropFirst().first else { Issue.record("ABORT is logged: \(actions)"); return }
        #expect(reason.originNode == "w1")
        #expect(replies(actions).first?.reason?.code == .businessRejected)
        #expect(decisions(actions).allSatisfy { !$0.1 })
        #expect(machine.voted("t1", from: "w2", .yes(reads: [:]), now: .milliseconds(2), nowUnixMilliseconds: unix + 2).isEmpty, "a late vote changes nothing")
    }

    @Test func endIsLoggedOnlyWhenEveryParticipantAcknowledged() {
        var machine = TransactionMachine(node: "coordinator")
        _ = begun(&machine)
        _ = machine.voted("t1", from: "w1", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.voted("t1", from: "w2", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        #expect(machine.acknowledged("t1", from: "w1", nowUnixMilliseconds: unix).isEmpty)
        #expect(machine.acknowledged("t1", from: "w1", nowUnixMilliseconds: unix).isEmpty, "a duplicate acknowledgement counts once")
        #expect(machine.acknowledged("t1", from: "w2", nowUnixMilliseconds: unix + 3) == [.persist(.ended(id: "t1", endedUnixMilliseconds: unix + 3))])
        #expect(machine.activeCount == 0)
        #expect(machine.acknowledged("t1", from: "w2", nowUnixMilliseconds: unix + 4).isEmpty)
    }

    @Test func aParticipantWhoseStoreWasReplacedNoLongerHoldsUpDecisionsButOnlyThoseAreReleased() {
        var machine = TransactionMachine(node: "coordinator")
        _ = begun(&machine)
        _ = machine.voted("t1", from: "w1", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.voted("t1", from: "w2", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        let first = machine.participantStoreReplaced("w2", now: .zero, nowUnixMilliseconds: unix + 1)
        #expect(first.released == ["t1"] && first.actions.isEmpty, "w1 has not acknowledged yet: \(first.actions)")
        #expect(machine.acknowledged("t1", from: "w1", nowUnixMilliseconds: unix + 2) == [.persist(.ended(id: "t1", endedUnixMilliseconds: unix + 2))])
        #expect(machine.activeCount == 0)
        #expect(machine.participantStoreReplaced("w2", now: .zero, nowUnixMilliseconds: unix + 3).released.isEmpty)
    }

    /// A YES voted from a store that was then replaced went with that store's prepared write set:
    /// the undecided transaction aborts at once (helper-39 saw it commit once the other participant
    /// voted, credit one side only, and wait forever for an acknowledgement the new store could not give).
    @Test func anUndecidedTransactionOfAParticipantWhoseStoreWasReplacedAborts() {
        var machine = TransactionMachine(node: "coordinator")
        _ = begun(&machine)
        _ = machine.voted("t1", from: "w1", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        let replaced = machine.participantStoreReplaced("w1", now: .milliseconds(5), nowUnixMilliseconds: unix + 5)
        #expect(replaced.released.isEmpty)
        #expect(replaced.actions.contains(.persist(.decided(id: "t1", committed: false, reason: replies(replaced.actions).first?.reason, decidedUnixMilliseconds: unix + 5))))
        #expect(decisions(replaced.actions).allSatisfy { !$0.1 } && !decisions(replaced.actions).isEmpty)
        let outcome = replies(replaced.actions).first
        #expect(outcome?.committed == false && outcome?.reason?.code == .unavailable, "\(String(describing: outcome))")
        #expect(outcome?.reason?.message.contains("the participant store of w1 was replaced") == true, "\(String(describing: outcome))")
        // The other participant's late YES changes nothing.
        let late = machine.voted("t1", from: "w2", .yes(reads: [:]), now: .milliseconds(6), nowUnixMilliseconds: unix + 6)
        #expect(decisions(late).allSatisfy { !$0.1 }, "\(late)")
    }

    @Test func aMissingVoteAbortsAtTheDeadlineNamingWhoDidNotVote() {
        var machine = TransactionMachine(node: "coordinator", settings: .init(voteTimeout: .seconds(2)))
        _ = begun(&machine)
        _ = machine.voted("t1", from: "w1", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        #expect(machine.wakeUp(now: .milliseconds(1_999), nowUnixMilliseconds: unix, isConnected: { _ in true }).isEmpty, "before the deadline")
        let actions = machine.wakeUp(now: .seconds(2), nowUnixMilliseconds: unix, isConnected: { _ in true })
        #expect(replies(actions).first?.reason?.code == .deadlineExceeded)
        #expect(replies(actions).first?.reason?.message.contains("w2 did not vote") == true)
        #expect(replies(actions).first?.reason?.retryable == true, "a slow participant is a system failure: sagas and task effects try again")
    }

    @Test func aParticipantLostBeforeVotingAbortsButOneLostAfterTheDecisionIsToldWhenItReturns() {
        var machine = TransactionMachine(node: "coordinator")
        _ = begun(&machine, id: "t1")
        let lost = machine.participantLost("w2", now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(lost).first?.reason?.code == .unavailable)
        _ = begun(&machine, id: "t2")
        _ = machine.voted("t2", from: "w1", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.voted("t2", from: "w2", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(machine.participantLost("w2", now: .zero, nowUnixMilliseconds: unix)).isEmpty, "a decided transaction is not changed")
        let back = machine.participantConnected("w2", now: .zero)
        #expect(back.contains(.sendDecision(participant: "w2", id: "t2", commit: true)))
        #expect(back.contains(.sendDecision(participant: "w2", id: "t1", commit: false)), "the abort of t1 too, not yet acknowledged by w2")
    }

    @Test func decisionsAreResentUntilAcknowledgedOnlyToConnectedParticipants() {
        var machine = TransactionMachine(node: "coordinator", settings: .init(resendInterval: .seconds(1)))
        _ = begun(&machine)
        _ = machine.voted("t1", from: "w1", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.voted("t1", from: "w2", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.acknowledged("t1", from: "w1", nowUnixMilliseconds: unix)
        #expect(machine.wakeUp(now: .milliseconds(999), nowUnixMilliseconds: unix, isConnected: { _ in true }).isEmpty)
        #expect(decisions(machine.wakeUp(now: .seconds(1), nowUnixMilliseconds: unix, isConnected: { _ in true })).map(\.0) == ["w2"])
        #expect(machine.wakeUp(now: .seconds(2), nowUnixMilliseconds: unix, isConnected: { _ in false }).isEmpty)
    }

    @Test func aParticipantThatIsNotConnectedAbortsAtOnceAndNothingIsPrepared() {
        var machine = TransactionMachine(node: "coordinator")
        let actions = begun(&machine, connected: ["w1"])
        #expect(!actions.contains { if case .sendPrepare = $0 { true } else { false } })
        #expect(replies(actions).first?.reason?.message.contains("w2 is not connected") == true)
        #expect(actions.filter { if case .persist = $0 { true } else { false } }.count == 3, "BEGIN, ABORT and END are logged for the history")
        #expect(machine.activeCount == 0)
    }

    @Test func inDoubtInquiriesGetTheDecisionOrPresumedAbort() {
        var machine = TransactionMachine(node: "coordinator")
        _ = begun(&machine, id: "t1")
        #expect(machine.inquired(["t1"], from: "w1").isEmpty, "undecided: the decision will come")
        _ = machine.voted("t1", from: "w1", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        _ = machine.voted("t1", from: "w2", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        #expect(machine.inquired(["t1", "never-seen"], from: "w1") == [
            .sendDecision(participant: "w1", id: "t1", commit: true), .sendDecision(participant: "w1", id: "never-seen", commit: false),
        ])
        _ = machine.acknowledged("t1", from: "w1", nowUnixMilliseconds: unix)
        _ = machine.acknowledged("t1", from: "w2", nowUnixMilliseconds: unix)
        #expect(machine.inquired(["t1"], from: "w1") == [.sendDecision(participant: "w1", id: "t1", commit: true)], "an ended one is remembered")
    }

    @Test func recoveryAbortsUndecidedTransactionsAndResendsDecidedOnes() {
        var machine = TransactionMachine(node: "coordinator")
        let undecided = TransactionLogEntry(begin: TransactionBegin(id: "u", client: "c", participants: transfer, begunUnixMilliseconds: unix))
        let decided = TransactionLogEntry(
            begin: TransactionBegin(id: "d", client: "c", participants: transfer, begunUnixMilliseconds: unix), committed: true, decidedUnixMilliseconds: unix)
        var ended = decided
        ended.begin.id = "e"
        ended.endedUnixMilliseconds = unix
        let actions = machine.recovered([undecided, decided, ended], now: .zero, nowUnixMilliseconds: unix + 9)
        #expect(actions.contains { if case .persist(.decided("u", false, _, unix + 9)) = $0 { true } else { false } })
        #expect(decisions(actions).filter { $0.1 }.map(\.0) == ["w1", "w2"], "COMMIT of d to both")
        #expect(decisions(actions).filter { !$0.1 }.map(\.0) == ["w1", "w2"], "ABORT of u to both")
        #expect(machine.activeCount == 2, "the ended one is not resumed")
    }

    @Test func aDuplicateRequestWaitsForTheSameOutcomeAndAReusedIdIsRefused() {
        var machine = TransactionMachine(node: "coordinator")
        _ = begun(&machine)
        #expect(machine.begin("t1", requestID: 2, from: ConnectionID(8), clientName: "client", participants: transfer, isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix).isEmpty)
        let other = machine.begin("t1", requestID: 3, from: ConnectionID(9), clientName: "client", participants: [transfer[0]], isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(other).first?.reason?.code == .invalidArgument, "a usage error, not a CONFLICT to retry")
        #expect(replies(other).first?.refused == true, "refused before anything ran, not aborted")
        _ = machine.voted("t1", from: "w1", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        let actions = machine.voted("t1", from: "w2", .yes(reads: [:]), now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(actions).count == 2, "both waiters get the outcome")
        let late = machine.begin("t1", requestID: 4, from: ConnectionID(10), clientName: "client", participants: transfer, isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(late).map(\.committed) == [true], "a repeat after the decision (not yet ended) is answered at once")
        _ = machine.acknowledged("t1", from: "w1", nowUnixMilliseconds: unix)
        _ = machine.acknowledged("t1", from: "w2", nowUnixMilliseconds: unix)
        let repeated = machine.begin("t1", requestID: 5, from: client, clientName: "client", participants: transfer, isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(repeated).map(\.committed) == [true], "after END, the same request gets the same outcome")
        let reused = machine.begin("t1", requestID: 6, from: client, clientName: "client", participants: [transfer[1]], isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(reused).first?.reason?.code == .invalidArgument, "after END, other operations under the id are refused")
        #expect(replies(reused).first?.refused == true && replies(repeated).first?.refused == false, "the refusal says nothing ran; the repeat is the outcome")
    }

    @Test func aRepeatOfAnAbortedTransactionSaysItIsTheEarlierOutcomeAndToUseANewId() {
        var machine = TransactionMachine(node: "coordinator")
        _ = begun(&machine)
        let conflict = ErrorContext(code: .conflict, message: "key a on w1 is locked by transaction x; retry the transaction", originNode: "w1")
        let aborted = machine.voted("t1", from: "w1", .no(conflict), now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(aborted).first?.reason?.message == conflict.message, "the first answer is the refusal itself")
        _ = machine.acknowledged("t1", from: "w1", nowUnixMilliseconds: unix)
        _ = machine.acknowledged("t1", from: "w2", nowUnixMilliseconds: unix)
        let repeated = machine.begin("t1", requestID: 9, from: client, clientName: "client", participants: transfer, isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        let reason = replies(repeated).first?.reason
        #expect(reason?.code == .conflict && reason?.originNode == "w1")
        #expect(reason?.message.contains("aborted earlier and is not run again under its id") == true && reason?.message.contains("use a new id") == true, "\(String(describing: reason))")
    }

    @Test func aKeyReadTwiceInOneTransactionIsRefusedRatherThanOneReadLost() {
        let twice = [ParticipantOperations(participant: "w1", operations: [.get(key: "k"), .put(key: "k", value: .integer(5)), .get(key: "k")])]
        #expect(TransactionLimits.problem(id: "t", twice)?.contains("key 'k' on w1 is read twice") == true)
        let once = [ParticipantOperations(participant: "w1", operations: [.get(key: "k"), .put(key: "k", value: .integer(5))])]
        #expect(TransactionLimits.problem(id: "t", once) == nil)
    }

    @Test func idsWithControlCharactersOrPastTheirBytesAreRefused() {
        var machine = TransactionMachine(node: "coordinator")
        let newline = machine.begin("t\nFORGED", requestID: 1, from: client, clientName: "c", participants: transfer, isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(newline).first?.reason?.code == .invalidArgument && replies(newline).first?.reason?.message.contains("control characters") == true)
        #expect(TransactionLimits.idProblem(String(repeating: "i", count: TransactionLimits.maximumIDBytes)) == nil)
        #expect(TransactionLimits.idProblem(String(repeating: "i", count: TransactionLimits.maximumIDBytes + 1))?.contains("1 to 128 bytes (got 129)") == true)
        #expect(SagaMachine.idProblem("s\t1")?.contains("control characters") == true)
        for spaced in [" t1", "t1 ", " ", "t1\u{00A0}", "\u{3000}t1", "\u{FEFF}t1", "t1\u{2003}"] {
            #expect(TransactionLimits.idProblem(spaced)?.contains("must not start or end with a space") == true, "'\(spaced)'")
        }
        #expect(TransactionLimits.idProblem("t 1") == nil && TransactionLimits.idProblem("t\u{00A0}1") == nil, "a space inside is the user's choice")
        // Byte for byte the same as Unicode's category Cc, over every scalar up to U+00FF and a few beyond.
        for value in Array(0...0x2FF) + [0x2028, 0x202E, 0xFEFF, 0x1F600] {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let text = "a\(Character(scalar))b"
            #expect(TransactionLimits.hasControlCharacter(text) == (scalar.properties.generalCategory == .control), "U+\(String(value, radix: 16))")
        }
        for key in ["nul\u{0}key", "line\nbreak", "tab\t"] {
            let problem = TransactionLimits.problem(id: "t", [ParticipantOperations(participant: "w1", operations: [.put(key: key, value: .integer(1))])])
            #expect(problem?.contains("contains a control character") == true, "\(key.debugDescription): \(String(describing: problem))")
        }
    }

    @Test func invalidTransactionsAreRefusedBeforeAnythingIsPrepared() {
        var machine = TransactionMachine(node: "coordinator")
        let empty = machine.begin("t1", requestID: 1, from: client, clientName: "c", participants: [], isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(empty).first?.reason?.code == .invalidArgument)
        let twice = machine.begin("t2", requestID: 1, from: client, clientName: "c", participants: [transfer[0], transfer[0]], isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(twice).first?.reason?.message.contains("named twice") == true)
        let longKey = String(repeating: "k", count: TransactionLimits.maximumKeyBytes + 1)
        let tooLong = machine.begin("t3", requestID: 1, from: client, clientName: "c", participants: [ParticipantOperations(participant: "w1", operations: [.get(key: longKey)])], isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(tooLong).first?.reason?.code == .invalidArgument)
        let atLimit = machine.begin("t4", requestID: 1, from: client, clientName: "c", participants: [ParticipantOperations(participant: "w1", operations: [.get(key: String(longKey.dropLast()))])], isConnected: { _ in true }, now: .zero, nowUnixMilliseconds: unix)
        #expect(replies(atLimit).isEmpty, "a key at the limit is accepted")
        #expect(machine.activeCount == 1)
    }

    @Test func tooManyTransactionsInProgressAreRefusedWithOverloaded() {
        var machine = TransactionMachine(node: "coordinator", settings: .init(maximumActive: 1))
        _ = begun(&machine, id: "t1")
        #expect(replies(begun(&machine, id: "t2")).first?.reason?.code == .overloaded)
    }
}
