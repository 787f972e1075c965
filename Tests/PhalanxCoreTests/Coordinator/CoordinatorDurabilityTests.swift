import PhalanxResilience
import Testing

@testable import PhalanxCore

/// "Durable before visible": what the machine asks to persist, and that it comes before what a
/// client may see. Recovery after a restart and re-attaching by task id.
@Suite struct CoordinatorDurabilityTests {
    func isPersist(_ action: MachineHarness.Action) -> Bool {
        if case .persist = action { return true }
        return false
    }

    func isAcknowledge(_ action: MachineHarness.Action) -> Bool {
        if case .acknowledge = action { return true }
        return false
    }

    func isDeliver(_ action: MachineHarness.Action) -> Bool {
        if case .deliver = action { return true }
        return false
    }

    @Test func acceptedTasksArePersistedBeforeTheAcknowledgementAndTheirDispatchIsRecorded() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1", capacity: 1)
        let client = harness.connect(.client, "app")
        let actions = harness.submit(["a", "b"], from: client)
        #expect(actions.index(where: isPersist) == 0)
        #expect(actions.index(where: isAcknowledge)! > 0)
        let changes = actions.persisted
        guard changes.count == 3, case .accepted(let first, "a") = changes[0], case .accepted(_, "b") = changes[1],
            case .dispatched(let dispatched, 1) = changes[2]
        else {
            Issue.record("unexpected changes \(changes)")
            return
        }
        #expect(first == TaskKey(client: "app", taskID: "a") && dispatched == first)
        #expect(actions.dispatched(to: worker).map(\.spec) == ["a"])
    }

    @Test func aResultIsPersistedBeforeItIsDelivered() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        let assignments = harness.submit(["a"], from: client).dispatched(to: worker)
        let actions = harness.succeed(assignments, on: worker)
        #expect(actions.index(where: isPersist)! < actions.index(where: isDeliver)!)
        guard case .finished(let key, let delivery) = actions.persisted.first else {
            Issue.record("expected a finished change, got \(actions.persisted)")
            return
        }
        #expect(key == TaskKey(client: "app", taskID: "a") && delivery.output == "out-a" && delivery.attempt == 1)
    }

    @Test func failuresDecidedByTheCoordinatorArePersistedToo() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        _ = harness.submit([harness.task("late", kind: "nobody", timeout: .seconds(1))], from: client)
        harness.advance(by: .seconds(2))
        let actions = harness.wakeUp()
        guard case .finished(_, let delivery) = actions.persisted.first else {
            Issue.record("expected a finished change, got \(actions.persisted)")
            return
        }
        #expect(delivery.error?.code == .deadlineExceeded)
        #expect(actions.index(where: isPersist)! < actions.index(where: isDeliver)!)
    }

    @Test func aLostWorkersTasksArePersistedAsLostAndTheirNextDispatchAsTheNextAttempt() {
        var harness = MachineHarness()
        let (first, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        _ = harness.submit(["a"], from: client)
        let (second, _) = harness.worker("w2")
        let actions = harness.machine.disconnected(first, now: harness.now)
        let changes = actions.persisted
        guard changes.count == 2, case .attemptFailed(_, 1, let history) = changes[0], case .dispatched(_, 2) = changes[1] else {
            Issue.record("unexpected changes \(changes)")
            return
        }
        #expect(history.map(\.attempt) == [1] && history.map(\.worker) == ["w1"] && history.first?.wasReported == false)
        #expect(actions.dispatched(to: second).first?.attempt == 2)
    }

    @Test func refusedBatchesPersistNothing() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let actions = harness.submit(["a", "a"], from: client)
        #expect(actions.refusal != nil && actions.persisted.isEmpty)
    }

    func restored(_ ids: [String], attempt: UInt32 = 0, harness: inout MachineHarness) -> [RestoredTask<String, String>] {
        ids.map { RestoredTask(key: TaskKey(client: "app", taskID: $0), task: harness.task($0), attempt: attempt, losses: 0) }
    }

    @Test func restoredTasksRunAgainAsTheirNextAttemptAndTheirResultIsKeptForWhoeverAsks() {
        var harness = MachineHarness()
        let tasks = restored(["a", "b"], attempt: 1, harness: &harness)
        _ = harness.machine.restore(tasks, now: harness.now)
        let (worker, registered) = harness.worker("w1")
        let assignments = registered.dispatched(to: worker)
        #expect(assignments.map(\.spec) == ["a", "b"] && assignments.allSatisfy { $0.attempt == 2 })
        let actions = harness.succeed(assignments, on: worker)
        #expect(actions.persisted.count == 2)  // both results are kept ...
        #expect(actions.delivered(to: ConnectionID(1)).isEmpty && actions.delivered(to: ConnectionID(2)).isEmpty)  // ... nobody owned them
        #expect(harness.machine.heldCount == 0)
    }

    @Test func aClientAttachingToUnfinishedTasksGetsTheirResultsAndIsHeldOpenMeanwhile() {
        var harness = MachineHarness()
        _ = harness.machine.restore(restored(["a", "b"], harness: &harness), now: harness.now)
        let client = harness.connect(.client, "app")
        let attach = harness.machine.attach(from: client, requestID: 7, taskIDs: ["a", "done-long-ago", "a"], now: harness.now)
        #expect(attach.lookUp?.taskIDs == ["done-long-ago"] && attach.lookUp?.pending == ["a"])
        #expect(attach.contains { if case .holdIdleTimeout(client, true) = $0 { true } else { false } })
        let (worker, registered) = harness.worker("w1")
        let results = harness.succeed(registered.dispatched(to: worker), on: worker)
        #expect(results.delivered(to: client).map(\.taskID) == ["a"])  // b was never asked for
        #expect(results.contains { if case .holdIdleTimeout(client, false) = $0 { true } else { false } })
    }

    @Test func attachingAddsAReceiverAndTheSubmitterStillGetsItsResult() {
        var harness = MachineHarness()
        let first = harness.connect(.client, "app")
        _ = harness.submit(["a"], from: first)
        let second = harness.connect(.client, "app")
        let attach = harness.machine.attach(from: second, requestID: 1, taskIDs: ["a"], now: harness.now)
        #expect(!attach.contains { if case .holdIdleTimeout(first, false) = $0 { true } else { false } })
        _ = harness.machine.attach(from: second, requestID: 2, taskIDs: ["a"], now: harness.now)  // asking twice adds nothing
        let (worker, registered) = harness.worker("w1")
        let results = harness.succeed(registered.dispatched(to: worker), on: worker)
        #expect(results.delivered(to: second).map(\.taskID) == ["a"] && results.delivered(to: first).map(\.taskID) == ["a"])
        #expect(results.contains { if case .holdIdleTimeout(first, false) = $0 { true } else { false } })
        #expect(results.contains { if case .holdIdleTimeout(second, false) = $0 { true } else { false } })
    }

    @Test func aReceiverThatLeftIsSkippedAndTheOthersAreServed() {
        var harness = MachineHarness()
        let first = harness.connect(.client, "app")
        _ = harness.submit(["a"], from: first)
        let second = harness.connect(.client, "app")
        _ = harness.machine.attach(from: second, requestID: 1, taskIDs: ["a"], now: harness.now)
        _ = harness.machine.disconnected(second, now: harness.now)
        let (worker, registered) = harness.worker("w1")
        #expect(harness.succeed(registered.dispatched(to: worker), on: worker).delivered(to: first).count == 1)
    }

    @Test func anotherClientNameCannotAttachToTheTask() {
        var harness = MachineHarness()
        let owner = harness.connect(.client, "app")
        _ = harness.submit(["a"], from: owner)
        let stranger = harness.connect(.client, "other")
        let attach = harness.machine.attach(from: stranger, requestID: 1, taskIDs: ["a"], now: harness.now)
        #expect(attach.lookUp?.pending == [] && attach.lookUp?.taskIDs == ["a"])  // looked up as other/a: not found
    }

    @Test func aResultRequestAtTheIdLimitIsServedAndOneMoreIsRefused() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let limit = TaskLimits.maximumTaskIDsPerRequest
        let atLimit = harness.machine.attach(from: client, requestID: 1, taskIDs: (0..<limit).map { "t\($0)" }, now: harness.now)
        #expect(atLimit.lookUp?.taskIDs.count == limit)
        let past = harness.machine.attach(from: client, requestID: 2, taskIDs: (0...limit).map { "t\($0)" }, now: harness.now)
        #expect(past.closed(client)?.code == .invalidArgument)
    }

    @Test func incarnationsNumberTheirTasksApart() {
        let first = MachineHarness.Machine.firstTaskNumber(incarnation: 1)
        let second = MachineHarness.Machine.firstTaskNumber(incarnation: 2)
        #expect(second > first + 1_000_000_000)
    }
}
