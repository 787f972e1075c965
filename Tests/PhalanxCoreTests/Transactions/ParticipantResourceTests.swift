import Foundation
import Testing

@testable import PhalanxCore
@testable import PhalanxResilience

/// The participant machine with operations on registered resources (TCC): the intent is durable
/// before a prepare hook runs, the vote YES only after the hooks succeeded and that is durable,
/// a decision is applied by the hooks before the outcome is durable, and an abort reaches every
/// resource whose prepare hook may have run.
@Suite struct ParticipantResourceTests {
    let now: Int64 = 1_000_000
    let reserve = ResourceOperation(resource: "stock", action: "reserve", key: "sku-1", argument: Array("3".utf8))

    func machine() -> ParticipantMachine {
        ParticipantMachine(node: "w1", values: ["alice": StoredValue(.integer(100), lowerBound: 0)], prepared: [])
    }

    func record(_ actions: [ParticipantMachine.Action]) -> ParticipantMachine.Prepared? {
        for case .persistPrepared(let record) in actions { return record }
        return nil
    }

    func vote(_ actions: [ParticipantMachine.Action]) -> ParticipantMachine.Vote? {
        for case .vote(_, let vote) in actions { return vote }
        return nil
    }

    func hooksToPrepare(_ actions: [ParticipantMachine.Action]) -> [ResourceOperation]? {
        for case .prepareResources(_, let operations) in actions { return operations }
        return nil
    }

    struct Finish: Equatable {
        var commit: Bool
        var operations: [ResourceOperation]
    }

    struct Outcome: Equatable {
        var committed: Bool
        var acknowledge: Bool
    }

    func hooksToFinish(_ actions: [ParticipantMachine.Action]) -> Finish? {
        for case .finishResources(_, let commit, let operations) in actions { return Finish(commit: commit, operations: operations) }
        return nil
    }

    func outcome(_ actions: [ParticipantMachine.Action]) -> Outcome? {
        for case .persistOutcome(_, let committed, _, let acknowledge) in actions { return Outcome(committed: committed, acknowledge: acknowledge) }
        return nil
    }

    /// Prepares `t1` (a reserve and a debit) up to the vote YES.
    func preparedMachine() throws -> ParticipantMachine {
        var participant = machine()
        let intent = participant.prepare(
            id: "t1", operations: [.resource(reserve), .add(key: "alice", amount: -10)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        #expect(try #require(record(intent)).resourcesPrepared == false)
        #expect(try #require(hooksToPrepare(participant.prepareDurable("t1", nowUnixMilliseconds: now))) == [reserve])
        let marked = participant.resourcesPrepared("t1", refusal: nil)
        #expect(try #require(record(marked)).resourcesPrepared)
        #expect(vote(marked) == nil, "the YES waits until the mark is durable")
        #expect(vote(participant.prepareDurable("t1", nowUnixMilliseconds: now)) == .yes(reads: [:]))
        return participant
    }

    @Test func theHooksRunOnlyAfterTheIntentIsDurableAndTheYesOnlyAfterTheirSuccessIsDurable() throws {
        var participant = machine()
        let intent = participant.prepare(id: "t1", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        #expect(hooksToPrepare(intent) == nil, "no hook before the intent is on disk")
        #expect(vote(intent) == nil)
        #expect(participant.lockHolder(of: "@stock/sku-1") == "t1", "the resource's key is locked apart from the store's keys")
        _ = try preparedMachine()
    }

    @Test func aResourcesKeyLockedByAnotherTransactionIsAConflict() {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        guard case .no(let error)? = vote(participant.prepare(id: "t2", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)) else {
            Issue.record("expected NO")
            return
        }
        #expect(error.code == .conflict)
        #expect(participant.lockHolder(of: "sku-1") == nil, "a store key of the same name is not the resource's key")
    }

    @Test func aRefusingPrepareHookVotesNoAndAbortsEveryResourceBeforeTheOutcome() throws {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        _ = participant.prepareDurable("t1", nowUnixMilliseconds: now)
        let refused = participant.resourcesPrepared("t1", refusal: ErrorContext(code: .businessRejected, message: "out of stock", originNode: "w1"))
        guard case .no(let error)? = vote(refused) else { Issue.record("expected NO, got \(refused)"); return }
        #expect(error.message == "out of stock")
        #expect(try #require(hooksToFinish(refused)).commit == false)
        #expect(outcome(refused) == nil, "the outcome waits for the abort hooks")
        #expect(participant.lockHolder(of: "@stock/sku-1") == "t1", "locked until the abort hooks are done")
        #expect(outcome(participant.resourcesFinished("t1")) == Outcome(committed: false, acknowledge: false))
        #expect(participant.lockHolder(of: "@stock/sku-1") == nil)
        #expect(participant.decide("t1", commit: false) == [.acknowledge(id: "t1")], "the coordinator's ABORT is acknowledged")
    }

    @Test func aCommitRunsTheCommitHooksBeforeTheStoreIsChangedAndTheOutcomeIsDurable() throws {
        var participant = try preparedMachine()
        let commit = participant.decide("t1", commit: true)
        #expect(hooksToFinish(commit) == Finish(commit: true, operations: [reserve]))
        #expect(outcome(commit) == nil)
        #expect(participant.values["alice"]?.value == .integer(100), "nothing applied before the hooks are done")
        #expect(participant.decide("t1", commit: true).isEmpty, "a duplicate waits for the hooks")
        if case .refuseDecision? = participant.decide("t1", commit: false).first {} else { Issue.record("a contradicting decision is refused") }
        #expect(outcome(participant.resourcesFinished("t1")) == Outcome(committed: true, acknowledge: true))
        #expect(participant.values["alice"]?.value == .integer(90))
        #expect(participant.resourcesFinished("t1").isEmpty, "a second report changes nothing")
        #expect(participant.decide("t1", commit: true) == [.acknowledge(id: "t1")])
    }

    @Test func anAbortAfterTheYesRunsTheAbortHooks() throws {
        var participant = try preparedMachine()
        #expect(hooksToFinish(participant.decide("t1", commit: false)) == Finish(commit: false, operations: [reserve]))
        #expect(outcome(participant.resourcesFinished("t1")) == Outcome(committed: false, acknowledge: true))
        #expect(participant.values["alice"]?.value == .integer(100))
    }

    @Test func anAbortBeforeTheIntentIsDurableCallsNoHook() {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        let abort = participant.decide("t1", commit: false)
        #expect(hooksToFinish(abort) == nil, "no prepare hook ran")
        #expect(outcome(abort) == Outcome(committed: false, acknowledge: true))
        #expect(participant.prepareDurable("t1", nowUnixMilliseconds: now).isEmpty, "the intent becoming durable later starts nothing")
    }

    @Test func anAbortWhileThePrepareHooksRunIsAppliedWhenTheyReturn() throws {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        _ = participant.prepareDurable("t1", nowUnixMilliseconds: now)
        #expect(participant.decide("t1", commit: false).isEmpty)
        if case .refuseDecision? = participant.decide("t1", commit: true).first {} else { Issue.record("a COMMIT before the YES is refused") }
        let returned = participant.resourcesPrepared("t1", refusal: nil)
        #expect(vote(returned) == nil, "no YES for an aborted transaction")
        #expect(try #require(hooksToFinish(returned)).commit == false)
        #expect(outcome(participant.resourcesFinished("t1")) == Outcome(committed: false, acknowledge: true))
    }

    @Test func anAbortWhileTheMarkIsBeingMadeDurableRunsTheAbortHooksAndNeverVotesYes() throws {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        _ = participant.prepareDurable("t1", nowUnixMilliseconds: now)
        _ = participant.resourcesPrepared("t1", refusal: nil)
        #expect(try #require(hooksToFinish(participant.decide("t1", commit: false))).commit == false)
        #expect(participant.prepareDurable("t1", nowUnixMilliseconds: now).isEmpty, "the mark becoming durable votes nothing")
    }

    @Test func theVoteDeadlinePassingAfterTheHooksRanAbortsThem() throws {
        var participant = machine()
        _ = participant.prepare(id: "t1", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: now + 10, nowUnixMilliseconds: now)
        _ = participant.prepareDurable("t1", nowUnixMilliseconds: now)
        _ = participant.resourcesPrepared("t1", refusal: nil)
        let late = participant.prepareDurable("t1", nowUnixMilliseconds: now + 11)
        guard case .no(let error)? = vote(late) else { Issue.record("expected NO"); return }
        #expect(error.code == .deadlineExceeded)
        #expect(try #require(hooksToFinish(late)).commit == false)
    }

    @Test func anIntentReadBackAfterARestartIsInDoubtAndAnAbortRunsTheAbortHooks() throws {
        let intent = ParticipantMachine.Prepared(
            id: "t1", writes: [], reads: [:], voteDeadlineUnixMilliseconds: 0, preparedUnixMilliseconds: now, durable: true, resources: [reserve],
            resourcesPrepared: false)
        var participant = ParticipantMachine(node: "w1", values: [:], prepared: [intent])
        #expect(participant.inDoubt == ["t1"])
        #expect(participant.lockHolder(of: "@stock/sku-1") == "t1", "its locks are back")
        #expect(hooksToFinish(participant.decide("t1", commit: false)) == Finish(commit: false, operations: [reserve]))
    }

    @Test func anIntentReadBackAfterARestartRunsItsPrepareHooksAgainOnARepeatedPrepare() throws {
        let intent = ParticipantMachine.Prepared(
            id: "t1", writes: [], reads: [:], voteDeadlineUnixMilliseconds: 0, preparedUnixMilliseconds: now, durable: true, resources: [reserve],
            resourcesPrepared: false)
        var participant = ParticipantMachine(node: "w1", values: [:], prepared: [intent])
        #expect(hooksToPrepare(participant.prepare(id: "t1", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)) == [reserve])
        #expect(participant.prepare(id: "t1", operations: [.resource(reserve)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now).isEmpty, "not twice at once")
    }

    @Test func aCompensationHasNoPrepareHookAndItsCommitCallsCompensate() throws {
        var participant = machine()
        var undo = reserve
        undo.compensating = true
        let intent = participant.prepare(id: "c1", operations: [.resource(undo)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        #expect(try #require(record(intent)).resourcesPrepared)
        #expect(vote(participant.prepareDurable("c1", nowUnixMilliseconds: now)) == .yes(reads: [:]))
        #expect(hooksToFinish(participant.decide("c1", commit: true)) == Finish(commit: true, operations: [undo]))
        var aborted = machine()
        _ = aborted.prepare(id: "c2", operations: [.resource(undo)], voteDeadlineUnixMilliseconds: 0, nowUnixMilliseconds: now)
        _ = aborted.prepareDurable("c2", nowUnixMilliseconds: now)
        #expect(hooksToFinish(aborted.decide("c2", commit: false)) == nil, "an aborted compensation calls no hook")
    }

    @Test func aRecordWrittenBeforeResourcesExistedReadsBackWithNone() throws {
        let json = #"{"id":"t1","writes":[],"reads":{},"voteDeadlineUnixMilliseconds":0,"preparedUnixMilliseconds":5,"durable":true}"#
        let decoded = try JSONDecoder().decode(ParticipantMachine.Prepared.self, from: Data(json.utf8))
        #expect(decoded.resources.isEmpty)
        #expect(decoded.resourcesPrepared)
    }

    @Test func resourceOperationsAreCheckedAgainstTheLimits() {
        let long = ResourceOperation(resource: "stock", action: "reserve", key: "k", argument: Array(repeating: 1, count: TransactionLimits.maximumValueBytes + 1))
        #expect(TransactionLimits.problem(id: "t", [ParticipantOperations(participant: "w1", operations: [.resource(long)])])?.contains("argument") == true)
        let atLimit = ResourceOperation(resource: "stock", action: "reserve", key: "k", argument: Array(repeating: 1, count: TransactionLimits.maximumValueBytes))
        #expect(TransactionLimits.problem(id: "t", [ParticipantOperations(participant: "w1", operations: [.resource(atLimit)])]) == nil)
        let slash = ResourceOperation(resource: "a/b", action: "x", key: "k")
        #expect(TransactionLimits.problem(id: "t", [ParticipantOperations(participant: "w1", operations: [.resource(slash)])]) != nil)
    }
}
