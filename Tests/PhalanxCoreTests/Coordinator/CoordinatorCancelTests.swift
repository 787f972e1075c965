import PhalanxResilience
import Testing

@testable import PhalanxCore

@Suite struct CoordinatorCancelTests {
    @Test func aQueuedTaskIsCancelledWithoutRunningAndItsResultIsPersistedAndDelivered() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        _ = harness.submit(["a", "b"], from: client)
        let actions = harness.machine.cancel(from: client, requestID: 9, taskIDs: ["a", "never"], now: harness.now)
        let delivered = actions.delivered(to: client)
        #expect(delivered.map(\.taskID) == ["a"] && delivered.first?.error?.code == .cancelled && delivered.first?.worker == nil)
        guard case .finished(_, let persisted) = actions.persisted.first else {
            Issue.record("the cancellation was not persisted: \(actions.persisted)")
            return
        }
        #expect(persisted.error?.code == .cancelled)
        #expect(actions.contains { if case .cancelReply(client, 9, ["a"], ["never"]) = $0 { true } else { false } })
        let (worker, registered) = harness.worker("w1")
        #expect(registered.dispatched(to: worker).map(\.spec) == ["b"])  // a never runs
    }

    @Test func aRunningTasksWorkerIsToldToStopTheAttemptAndItsReportedResultEndsTheTask() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        let assignments = harness.submit(["a"], from: client).dispatched(to: worker)
        let actions = harness.machine.cancel(from: client, requestID: 1, taskIDs: ["a"], now: harness.now)
        #expect(actions.contains { action in
            if case .cancelAttempts(worker, let attempts) = action { return attempts.map(\.task) == assignments.map(\.task) && attempts.first?.attempt == 1 }
            return false
        })
        #expect(actions.delivered(to: client).isEmpty)  // the worker reports the outcome
        let again = harness.machine.cancel(from: client, requestID: 2, taskIDs: ["a"], now: harness.now)
        #expect(!again.contains { if case .cancelAttempts = $0 { true } else { false } })  // asked once
        let result = harness.fail(assignments, on: worker, .business)
        #expect(result.delivered(to: client).count == 1 && harness.machine.heldCount == 0)
    }

    @Test func aCancelledRunningTaskWhoseWorkerIsLostEndsCancelledInsteadOfRunningAgain() {
        var harness = MachineHarness()
        let (first, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        _ = harness.submit(["a"], from: client)
        _ = harness.machine.cancel(from: client, requestID: 1, taskIDs: ["a"], now: harness.now)
        let (second, _) = harness.worker("w2")
        let lost = harness.machine.disconnected(first, now: harness.now)
        #expect(lost.dispatched(to: second).isEmpty)
        #expect(lost.delivered(to: client).first?.error?.code == .cancelled)
    }

    @Test func anotherClientNameCannotCancelTheTask() {
        var harness = MachineHarness()
        let owner = harness.connect(.client, "app")
        _ = harness.submit(["a"], from: owner)
        let stranger = harness.connect(.client, "other")
        let actions = harness.machine.cancel(from: stranger, requestID: 1, taskIDs: ["a"], now: harness.now)
        #expect(actions.contains { if case .cancelReply(stranger, 1, [], ["a"]) = $0 { true } else { false } })
        #expect(harness.machine.heldCount == 1)
    }

    @Test func aCancelOfARunningTaskIsPersistedAndARestartFinishesItInsteadOfRunningItAgain() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        _ = harness.submit(["a"], from: client).dispatched(to: worker)
        let cancel = harness.machine.cancel(from: client, requestID: 1, taskIDs: ["a"], now: harness.now)
        #expect(cancel.persisted.contains { if case .cancelRequested(let key) = $0 { key.taskID == "a" } else { false } })

        var restarted = MachineHarness()
        let task = RestoredTask<String, String>(key: TaskKey(client: "app", taskID: "a"), task: restarted.task("a"), attempt: 1, losses: 0, cancelRequested: true)
        let restored = restarted.machine.restore([task], now: restarted.now)
        guard case .finished(_, let delivery) = restored.persisted.first else {
            Issue.record("expected the task finished, got \(restored.persisted)")
            return
        }
        #expect(delivery.error?.code == .cancelled)
        let (again, registered) = restarted.worker("w1")
        #expect(registered.dispatched(to: again).isEmpty && restarted.machine.heldCount == 0)
    }
}
