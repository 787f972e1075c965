import PhalanxResilience
import Testing

@testable import PhalanxCore

/// Idempotency keys: a resubmission with the key of an earlier task of the same client never runs;
/// it gets that task's result under its own task id.
@Suite struct IdempotencyTests {
    func keyed(_ harness: inout MachineHarness, _ id: String, key: String, payload: String? = nil) -> SubmittedTask<String> {
        var task = harness.task(id)
        task.idempotencyKey = key
        if let payload { task.fingerprint = RequestFingerprint.of(kind: task.kind, payload: Array(payload.utf8)) }
        return task
    }

    /// A key stands for one request: reused with another kind or payload, the batch is refused
    /// (whether the first task is unfinished, finished, earlier in the batch, or from before a restart).
    @Test func aKeyReusedWithAnotherRequestIsRefusedAndTheSameRequestIsADuplicate() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1")
        let first = harness.submit([keyed(&harness, "t1", key: "k", payload: "one")], from: client)
        #expect(first.acknowledged == 1 && first.duplicates == 0)
        let other = harness.submit([keyed(&harness, "t2", key: "k", payload: "two")], from: client, requestID: 2)
        #expect(other.refusal?.code == .invalidArgument, "unfinished original")
        #expect(other.refusal?.message.contains("reuses idempotency key 'k' of task t1, which asked for another kind or payload") == true, "\(other.refusal?.message ?? "")")
        #expect(harness.submit([keyed(&harness, "t3", key: "k", payload: "one")], from: client, requestID: 3).duplicates == 1, "the same request")

        _ = harness.succeed(first.dispatched(to: worker), on: worker)
        #expect(harness.submit([keyed(&harness, "t4", key: "k", payload: "two")], from: client, requestID: 4).refusal?.code == .invalidArgument, "finished original")
        let inBatch = harness.submit([keyed(&harness, "t5", key: "j", payload: "a"), keyed(&harness, "t6", key: "j", payload: "b")], from: client, requestID: 5)
        #expect(inBatch.refusal?.message.contains("of task t5") == true, "earlier in the same batch")
        #expect(harness.submit([keyed(&harness, "t7", key: "k")], from: client, requestID: 6).duplicates == 1, "no fingerprint: compared by key alone")

        var restarted = MachineHarness()
        let again = restarted.connect(.client, "app")
        restarted.machine.rememberFinishedKeys(
            [(TaskKey(client: "app", taskID: "t1"), "k", .seconds(5), RequestFingerprint.of(kind: "echo", payload: Array("one".utf8)))], now: restarted.now)
        #expect(restarted.submit([keyed(&restarted, "t8", key: "k", payload: "two")], from: again).refusal?.code == .invalidArgument, "after a restart")
        #expect(restarted.submit([keyed(&restarted, "t9", key: "k", payload: "one")], from: again, requestID: 2).duplicates == 1)
    }

    @Test func requestFingerprintsTellKindAndPayloadApart() {
        #expect(RequestFingerprint.of(kind: "echo", payload: Array("a".utf8)) == RequestFingerprint.of(kind: "echo", payload: Array("a".utf8)))
        #expect(RequestFingerprint.of(kind: "echo", payload: Array("a".utf8)) != RequestFingerprint.of(kind: "echo", payload: Array("b".utf8)))
        #expect(RequestFingerprint.of(kind: "ab", payload: Array("c".utf8)) != RequestFingerprint.of(kind: "a", payload: Array("bc".utf8)))
    }

    @Test func aResubmissionOfAnUnfinishedTaskRunsNothingAndGetsItsResultUnderItsOwnID() {
        var harness = MachineHarness()
        let first = harness.connect(.client, "app")
        let second = harness.connect(.client, "app")  // another process with the same certificate
        let (worker, _) = harness.worker("w1")
        let running = harness.submit([keyed(&harness, "charge-1", key: "order-7")], from: first).dispatched(to: worker)
        #expect(running.count == 1)

        let again = harness.submit([keyed(&harness, "charge-1-retry", key: "order-7")], from: second, requestID: 2)
        #expect(again.acknowledged == 1 && again.duplicates == 1)
        #expect(again.dispatched.isEmpty)  // never run twice

        let finished = harness.succeed(running, on: worker)
        #expect(finished.delivered(to: first).map(\.taskID) == ["charge-1"])
        let duplicate = finished.delivered(to: second)
        #expect(duplicate.map(\.taskID) == ["charge-1-retry"] && duplicate.first?.original == "charge-1")
        #expect(duplicate.first?.output == "out-charge-1")
    }

    @Test func aResubmissionOfAFinishedTaskGetsItsStoredResultAndTheSameIDIsNotRefused() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1")
        let running = harness.submit([keyed(&harness, "t1", key: "k")], from: client).dispatched(to: worker)
        _ = harness.succeed(running, on: worker)

        // The same command run again (same id, same key), and once more under a new id.
        let same = harness.submit([keyed(&harness, "t1", key: "k"), keyed(&harness, "t2", key: "k")], from: client, requestID: 2)
        #expect(same.refusal == nil && same.acknowledged == 2 && same.duplicates == 2)
        #expect(same.dispatched.isEmpty)
        #expect(same.storedDeliveries == [Duplicate(taskID: "t1", original: "t1"), Duplicate(taskID: "t2", original: "t1")])
    }

    @Test func twoTasksWithOneKeyInOneBatchRunOnce() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1")
        let actions = harness.submit([keyed(&harness, "a", key: "k"), keyed(&harness, "b", key: "k"), harness.task("c")], from: client)
        #expect(actions.acknowledged == 3 && actions.duplicates == 1)
        let running = actions.dispatched(to: worker)
        #expect(running.map(\.spec) == ["a", "c"])
        let delivered = harness.succeed(running, on: worker).delivered(to: client)
        #expect(Set(delivered.map(\.taskID)) == ["a", "b", "c"])
        #expect(delivered.first { $0.taskID == "b" }?.output == "out-a")
    }

    @Test func keysBelongToOneClientAndANewKeyWithABusyIDIsStillRefused() {
        var harness = MachineHarness()
        let app = harness.connect(.client, "app")
        let other = harness.connect(.client, "other")
        _ = harness.submit([keyed(&harness, "t1", key: "k")], from: app)
        let theirs = harness.submit([keyed(&harness, "t1", key: "k")], from: other, requestID: 2)
        #expect(theirs.duplicates == 0 && theirs.acknowledged == 1)  // another certificate name: its own task

        let busy = harness.submit([keyed(&harness, "t1", key: "fresh")], from: app, requestID: 3)
        #expect(busy.refusal?.code == .invalidArgument && busy.refusal?.message.contains("already queued or running") == true)
    }

    @Test func keysOfFinishedTasksAreForgottenPastTheirWindowAndCount() {
        var harness = MachineHarness { settings in
            settings.idempotencyWindow = .seconds(60)
            settings.maximumIdempotencyKeys = 2
        }
        let client = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1", capacity: 10)
        let running = harness.submit((1...3).map { keyed(&harness, "t\($0)", key: "k\($0)") }, from: client).dispatched(to: worker)
        _ = harness.succeed(running, on: worker)
        #expect(harness.machine.idempotency.finishedCount == 2)  // the oldest beyond the count is gone

        let counted = harness.submit([keyed(&harness, "n1", key: "k1"), keyed(&harness, "n3", key: "k3")], from: client, requestID: 2)
        #expect(counted.duplicates == 1 && counted.dispatched.map(\.spec) == ["n1"])

        harness.advance(by: .seconds(61))
        let aged = harness.submit([keyed(&harness, "n3b", key: "k3")], from: client, requestID: 3)
        #expect(aged.duplicates == 0 && aged.dispatched.map(\.spec) == ["n3b"])  // past the window: runs again
    }

    @Test func aRestartedCoordinatorRemembersTheKeysOfTasksThatFinishedBefore() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        harness.machine.rememberFinishedKeys([(TaskKey(client: "app", taskID: "t1"), "k", .seconds(5), nil)], now: harness.now)
        let again = harness.submit([keyed(&harness, "t1-again", key: "k")], from: client)
        #expect(again.duplicates == 1 && again.storedDeliveries == [Duplicate(taskID: "t1-again", original: "t1")])
    }

    @Test func aNewTaskThatReusesAFinishedTasksIDTakesItsPlaceSoTheOldKeyIsForgotten() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1")
        _ = harness.succeed(harness.submit([keyed(&harness, "t1", key: "k")], from: client).dispatched(to: worker), on: worker)
        _ = harness.submit([harness.task("t1")], from: client, requestID: 2)  // no key: its ledger row replaces the old one
        let again = harness.submit([keyed(&harness, "t2", key: "k")], from: client, requestID: 3)
        #expect(again.duplicates == 0)  // the result "k" named is gone: t2 runs
    }

    @Test func anIdempotencyKeyLongerThanTheLimitIsRefusedNamingTheLimit() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let refused = harness.submit([keyed(&harness, "t", key: String(repeating: "k", count: TaskLimits.maximumIdempotencyKeyBytes + 1))], from: client)
        #expect(refused.refusal?.message.contains("idempotency key must be 1-256 bytes (got 257)") == true)
        let atLimit = harness.submit([keyed(&harness, "t", key: String(repeating: "k", count: TaskLimits.maximumIdempotencyKeyBytes))], from: client, requestID: 2)
        #expect(atLimit.refusal == nil)
    }
}

/// Ids and keys are bytes, as in the ledger: canonically equivalent spellings are different ids.
@Suite struct ByteWiseKeyTests {
    @Test func canonicallyEquivalentSpellingsAreDifferentTaskIDsAndKeys() {
        let composed = "R\u{E9}", decomposed = "Re\u{301}"
        #expect(composed == decomposed)  // Swift's String equality says they are the same
        #expect(TaskKey(client: "app", taskID: composed) != TaskKey(client: "app", taskID: decomposed))
        #expect(Set([TaskKey(client: "app", taskID: composed), TaskKey(client: "app", taskID: decomposed)]).count == 2)
        #expect(IdempotencyIndex.Key(client: "app", key: composed) != IdempotencyIndex.Key(client: "app", key: decomposed))
        #expect(TaskKey(client: "ab", taskID: "c") != TaskKey(client: "a", taskID: "bc"))

        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        var first = harness.task("t1")
        first.idempotencyKey = composed
        var second = harness.task("t2")
        second.idempotencyKey = decomposed
        let actions = harness.submit([first, second, harness.task(composed), harness.task(decomposed)], from: client)
        #expect(actions.refusal == nil && actions.duplicates == 0 && actions.acknowledged == 4)
    }
}

/// Resubmissions stand for their originals also when asked for by their own ids.
@Suite struct AliasTests {
    @Test func aResubmissionIsPersistedAsAnAliasAndAnsweredByItsOwnIDWhileTheOriginalRuns() {
        var harness = MachineHarness()
        let first = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1")
        var original = harness.task("pay")
        original.idempotencyKey = "order"
        let running = harness.submit([original], from: first).dispatched(to: worker)
        var retry = harness.task("pay-retry")
        retry.idempotencyKey = "order"
        let again = harness.submit([retry], from: first, requestID: 2)
        let persisted = again.flatMap { action -> [TaskChange<String, String>] in
            if case .persist(let changes) = action { return changes }
            return []
        }
        #expect(persisted.contains { if case .aliased(TaskKey(client: "app", taskID: "pay-retry"), "pay") = $0 { true } else { false } })

        // Another process asks for the resubmission by its own id: it is pending, not unknown.
        let later = harness.connect(.client, "app")
        let attach = harness.machine.attach(from: later, requestID: 3, taskIDs: ["pay-retry"], now: harness.now)
        #expect(attach.contains { if case .lookUp(later, 3, [], ["pay-retry"]) = $0 { true } else { false } })
        // Its id is taken while the original runs.
        #expect(harness.submit(["pay-retry"], from: later, requestID: 4).refusal?.code == .invalidArgument)
        let done = harness.succeed(running, on: worker)
        #expect(done.delivered(to: later).map(\.taskID) == ["pay-retry"] && done.delivered(to: later).first?.original == "pay")
        #expect(harness.machine.aliasOf.isEmpty)  // the alias leaves memory with its original; the ledger keeps it
    }

    @Test func aRestartedCoordinatorRestoresAliasesOfUnfinishedTasksAndIncarnations() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        _ = harness.machine.restore(
            [RestoredTask(key: TaskKey(client: "app", taskID: "pay"), task: harness.task("pay"), attempt: 1, losses: 0)], now: harness.now)
        harness.machine.restoreAliases([(TaskKey(client: "app", taskID: "pay-retry"), "pay")])
        let attach = harness.machine.attach(from: client, requestID: 1, taskIDs: ["pay-retry"], now: harness.now)
        #expect(attach.contains { if case .lookUp(client, 1, [], ["pay-retry"]) = $0 { true } else { false } })

        harness.machine.rememberIncarnations(["w1": 500])
        let (old, refused) = harness.worker("w1", incarnation: 400)
        #expect(refused.closed(old)?.code == .superseded)
    }
}
