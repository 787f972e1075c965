import Testing

@testable import PhalanxCore
@testable import PhalanxResilience

@Suite struct ParticipantMachineTests {
    let now: Int64 = 1_000_000

    func machine(_ values: [String: StoredValue] = ["alice": StoredValue(.integer(100), lowerBound: 0)]) -> ParticipantMachine {
        ParticipantMachine(node: "w1", values: values, prepared: [])
    }

    func prepared(_ actions: [ParticipantMachine.Action]) -> ParticipantMachine.Prepared? {
        for case .persistPrepared(let record) in actions { return record }
        return nil
    }

    func vote(_ actions: [ParticipantMachine.Action]) -> ParticipantMachine.Vote? {
        for case .vote(_, let vote) in actions { return vote }
        return nil
    }

    @Test func aValidPrepareLocksItsKeysAndVotesYesOnlyOnceDurable() throws {
        var participant = machine()
        let actions = participant.prepare(id: "t1", operations: [.add(key: "alice", amount: -30, lowerBound: 0)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        let record = try #require(prepared(actions))
        #expect(vote(actions) == nil, "no vote before the prepared record is durable")
        #expect(record.writes == [KeyWrite(key: "alice", before: StoredValue(.integer(100), lowerBound: 0), after: StoredValue(.integer(70), lowerBound: 0))])
        #expect(participant.lockHolder(of: "alice") == "t1")
        #expect(participant.inDoubt.isEmpty, "not voted yet")
        #expect(vote(participant.prepareDurable("t1", nowUnixMilliseconds: now)) == .yes(reads: [:]))
        #expect(participant.inDoubt == ["t1"])
        #expect(participant.values["alice"]?.value == .integer(100), "nothing applied before the decision")
    }

    @Test func anAddBelowTheLowerBoundVotesNoAsABusinessRejection() throws {
        var participant = machine()
        let actions = participant.prepare(id: "t1", operations: [.add(key: "alice", amount: -101)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        guard case .no(let error)? = vote(actions) else { Issue.record("expected NO, got \(actions)"); return }
        #expect(error.code == .businessRejected)
        #expect(error.originNode == "w1")
        #expect(error.message.contains("below its lower bound 0"))
        #expect(participant.lockHolder(of: "alice") == nil, "a NO holds no lock")
        #expect(prepared(actions) == nil)
    }

    /// A put without a bound keeps the key's (it dropped it: a bounded balance could be put below 0).
    @Test func aPutWithoutABoundKeepsTheKeysBound() throws {
        var participant = machine()
        let below = participant.prepare(id: "t1", operations: [.put(key: "alice", value: .integer(-5))], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        guard case .no(let error)? = vote(below) else { Issue.record("expected NO, got \(below)"); return }
        #expect(error.code == .businessRejected && error.message.contains("below its lower bound 0"), "\(error)")
        let above = participant.prepare(id: "t2", operations: [.put(key: "alice", value: .integer(7))], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        #expect(try #require(prepared(above)).writes.first?.after == StoredValue(.integer(7), lowerBound: 0))
        var other = machine()
        let bytes = other.prepare(id: "t3", operations: [.put(key: "alice", value: .bytes(Array("=".utf8)))], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        guard case .no(let refusal)? = vote(bytes) else { Issue.record("bytes over a bounded integer: expected NO, got \(bytes)"); return }
        #expect(refusal.message.contains("delete the key first to store bytes"), "\(refusal)")
    }

    @Test func theBoundAtTheLimitIsAllowedAndOneBelowIsNot() {
        var participant = machine()
        #expect(prepared(participant.prepare(id: "at", operations: [.add(key: "alice", amount: -100)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)) != nil)
        var other = machine()
        guard case .no? = vote(other.prepare(id: "past", operations: [.add(key: "alice", amount: -101)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)) else {
            Issue.record("one below the bound must be refused")
            return
        }
    }

    @Test func aPrepareOnALockedKeyFailsFastWithARetryableConflict() {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.add(key: "alice", amount: -1)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        let actions = participant.prepare(id: "t2", operations: [.get(key: "alice")], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        guard case .no(let error)? = vote(actions) else { Issue.record("expected NO"); return }
        #expect(error.code == .conflict)
        #expect(error.retryable)
        #expect(error.message.contains("locked by transaction t1"))
    }

    @Test func commitAppliesTheWriteSetReleasesLocksAndAcknowledgesAfterDurability() {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.add(key: "alice", amount: -30), .put(key: "note", value: .bytes(Array("hi".utf8)))], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        _ = participant.prepareDurable("t1", nowUnixMilliseconds: now)
        let actions = participant.decide("t1", commit: true)
        guard case .persistOutcome(let id, true, let writes, true)? = actions.first else { Issue.record("expected a durable outcome, got \(actions)"); return }
        #expect(id == "t1")
        #expect(writes.count == 2)
        #expect(participant.values["alice"]?.value == .integer(70))
        #expect(participant.values["note"]?.value == .bytes(Array("hi".utf8)))
        #expect(participant.lockHolder(of: "alice") == nil)
        #expect(participant.inDoubt.isEmpty)
        #expect(participant.outcome(of: "t1") == true)
    }

    @Test func abortDropsTheWriteSetAndReleasesLocks() {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.delete(key: "alice")], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        _ = participant.prepareDurable("t1", nowUnixMilliseconds: now)
        #expect(participant.decide("t1", commit: false).count == 1)
        #expect(participant.values["alice"]?.value == .integer(100))
        #expect(participant.lockHolder(of: "alice") == nil)
    }

    @Test func duplicateMessagesAreAnsweredTheSameAndApplyNothingTwice() {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.add(key: "alice", amount: 5)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        #expect(participant.prepare(id: "t1", operations: [.add(key: "alice", amount: 5)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now).isEmpty,
            "a duplicate PREPARE while the first is being made durable waits for it")
        _ = participant.prepareDurable("t1", nowUnixMilliseconds: now)
        #expect(vote(participant.prepare(id: "t1", operations: [], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)) == .yes(reads: [:]))
        _ = participant.decide("t1", commit: true)
        #expect(participant.decide("t1", commit: true) == [.acknowledge(id: "t1")], "a duplicate decision is only acknowledged")
        #expect(participant.values["alice"]?.value == .integer(105), "applied once")
        #expect(vote(participant.prepare(id: "t1", operations: [.add(key: "alice", amount: 5)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)) == .yes(reads: [:]),
            "a PREPARE after the commit does not prepare again")
        #expect(participant.values["alice"]?.value == .integer(105))
    }

    @Test func aDecisionBeforeThePrepareIsSafe() {
        var participant = machine()
        #expect(participant.decide("t9", commit: false) == [.acknowledge(id: "t9")], "presumed abort: an ABORT for a transaction never prepared is acknowledged")
        guard case .refuseDecision? = participant.decide("t9b", commit: true).first else {
            Issue.record("a COMMIT for a transaction never prepared must not be acknowledged")
            return
        }
        _ = participant.decide("t2", commit: false)
        let late = participant.prepare(id: "t2", operations: [.add(key: "alice", amount: 1)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        #expect(prepared(late) == nil, "an ABORT that overtook its PREPARE: the PREPARE locks nothing")
        guard case .no(let refused)? = vote(late) else { Issue.record("a late PREPARE after an ABORT votes NO"); return }
        #expect(refused.retryable, "the id was aborted, not the operations: a new transaction (a task's next effect) may commit")
    }

    @Test func aPrepareDurableAfterTheVoteDeadlineAbortsOnItsOwnBecauseItHasNotVoted() {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.add(key: "alice", amount: -1)], voteDeadlineUnixMilliseconds: now + 10, nowUnixMilliseconds: now)
        let actions = participant.prepareDurable("t1", nowUnixMilliseconds: now + 11)
        guard case .no(let error)? = vote(actions) else { Issue.record("expected NO, got \(actions)"); return }
        #expect(error.code == .deadlineExceeded)
        #expect(actions.contains { if case .persistOutcome(_, false, _, false) = $0 { true } else { false } })
        #expect(participant.lockHolder(of: "alice") == nil)
        #expect(participant.inDoubt.isEmpty)
    }

    @Test func aPrepareArrivingAfterItsDeadlineVotesNo() {
        var participant = machine()
        guard case .no(let error)? = vote(participant.prepare(id: "t1", operations: [.get(key: "alice")], voteDeadlineUnixMilliseconds: now - 1, nowUnixMilliseconds: now)) else {
            Issue.record("expected NO")
            return
        }
        #expect(error.code == .deadlineExceeded)
    }

    @Test func afterARestartPreparedTransactionsKeepTheirLocksAndAreInDoubt() {
        let record = ParticipantMachine.Prepared(
            id: "t1", writes: [KeyWrite(key: "alice", before: StoredValue(.integer(100)), after: StoredValue(.integer(90)))], reads: [:],
            voteDeadlineUnixMilliseconds: 0, preparedUnixMilliseconds: now, durable: true)
        var participant = ParticipantMachine(node: "w1", values: ["alice": StoredValue(.integer(100))], prepared: [record])
        #expect(participant.inDoubt == ["t1"])
        guard case .no(let error)? = vote(participant.prepare(id: "t2", operations: [.add(key: "alice", amount: 1)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)) else {
            Issue.record("the lock must survive the restart")
            return
        }
        #expect(error.code == .conflict)
        _ = participant.decide("t1", commit: true)
        #expect(participant.values["alice"]?.value == .integer(90))
    }

    @Test func getReadsUnderTheLockAndOperationsApplyInOrder() {
        var participant = machine()
        _ = participant.prepare(
            id: "t1", operations: [.add(key: "n", amount: 2), .add(key: "n", amount: 3), .get(key: "n"), .get(key: "alice"), .get(key: "missing")],
            voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        guard case .yes(let reads)? = vote(participant.prepareDurable("t1", nowUnixMilliseconds: now)) else { Issue.record("expected YES"); return }
        #expect(reads["n"] == .some(.integer(5)))
        #expect(reads["alice"] == .some(.integer(100)))
        #expect(reads["missing"] == .some(nil))
        #expect(participant.lockHolder(of: "missing") == "t1")
    }

    @Test func addOnBytesAndOverflowAreInvalidArguments() {
        var participant = machine(["b": StoredValue(.bytes([1])), "max": StoredValue(.integer(.max))])
        guard case .no(let bytes)? = vote(participant.prepare(id: "t1", operations: [.add(key: "b", amount: 1)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)),
            case .no(let overflow)? = vote(participant.prepare(id: "t2", operations: [.add(key: "max", amount: 1)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now))
        else { Issue.record("expected NO votes"); return }
        #expect(bytes.code == .invalidArgument)
        #expect(overflow.code == .invalidArgument)
    }
}
