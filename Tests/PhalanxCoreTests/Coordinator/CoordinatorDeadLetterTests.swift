import PhalanxResilience
import Testing

@testable import PhalanxCore

@Suite struct CoordinatorDeadLetterTests {
    @Test func aTaskThatLosesMaxAttemptsWorkersGoesToTheDeadLetterQueueAndItsClientIsTold() {
        var harness = MachineHarness { $0.maximumAttempts = 2 }
        let client = harness.connect(.client, "app")
        let (first, _) = harness.worker("w1")
        _ = harness.submit(["poison"], from: client)
        let (second, _) = harness.worker("w2")
        #expect(harness.machine.disconnected(first, now: harness.now).dispatched(to: second).count == 1)
        let lost = harness.machine.disconnected(second, now: harness.now)
        let dead = lost.persisted.compactMap { change -> (TaskKey, String, ErrorContext, UInt32)? in
            if case .deadLettered(let key, let spec, let error, let attempts) = change { return (key, spec, error, attempts) }
            return nil
        }
        #expect(dead.count == 1 && dead.first?.0 == TaskKey(client: "app", taskID: "poison") && dead.first?.1 == "poison")
        #expect(dead.first?.2.code == .workerLost && dead.first?.3 == 2)
        let delivered = lost.delivered(to: client).first?.error
        #expect(delivered?.code == .workerLost && delivered?.message.contains("dead-letter queue") == true)
    }

    @Test func aReadmittedTaskIsAcceptedAgainAndPersistedUnderItsOwnKey() {
        var harness = MachineHarness()
        let task = RestoredTask<String, String>(key: TaskKey(client: "app", taskID: "poison"), task: harness.task("poison"), attempt: 0, losses: 0)
        let actions = harness.machine.readmit([task], now: harness.now)
        guard case .accepted(let key, "poison") = actions.persisted.first else {
            Issue.record("expected an acceptance, got \(actions.persisted)")
            return
        }
        #expect(key == TaskKey(client: "app", taskID: "poison"))
        #expect(harness.machine.readmit([task], now: harness.now).persisted.isEmpty, "an unfinished key is not accepted twice")
        let (worker, registered) = harness.worker("w1")
        #expect(registered.dispatched(to: worker).first?.attempt == 1)
    }

    /// A worker that dies takes every task it runs with it: a healthy task that shared it with a
    /// poison task lost it too. On its last chance a task runs alone, so a dead-letter verdict is
    /// the task's own doing, and the healthy one finishes.
    @Test func aHealthyTaskThatSharedAWorkerWithAPoisonTaskRunsAloneOnItsLastChanceAndFinishes() {
        var harness = MachineHarness { $0.maximumAttempts = 2 }
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1")
        #expect(harness.submit(["poison", "healthy"], from: client).dispatched(to: w1).count == 2)
        #expect(harness.machine.disconnected(w1, now: harness.now).dispatched.isEmpty)

        let (w2, registered) = harness.worker("w2")
        let first = registered.dispatched(to: w2)
        #expect(first.count == 1, "a task on its last chance runs alone: \(first.map(\.spec))")
        #expect(harness.submit(["fresh"], from: client, requestID: 2).dispatched.isEmpty, "nothing joins a task that runs alone")

        var healthyResult: TaskDelivery<String>?
        var poisonResult: TaskDelivery<String>?
        var worker = w2
        var next = first[0]
        for name in ["w3", "w4"] {
            if next.spec == "healthy" {
                let done = harness.succeed([next], on: worker)
                healthyResult = done.delivered(to: client).first
                let after = done.dispatched(to: worker)
                #expect(after.map(\.spec) == ["poison"], "then the other one, alone too")
                next = after[0]
            } else {
                let lost = harness.machine.disconnected(worker, now: harness.now)
                poisonResult = lost.delivered(to: client).first
                let (replacement, registered) = harness.worker(name)
                let after = registered.dispatched(to: replacement)
                if healthyResult == nil {
                    #expect(after.map(\.spec) == ["healthy"])
                    (worker, next) = (replacement, after[0])
                } else {
                    #expect(after.map(\.spec) == ["fresh"])
                    break
                }
            }
        }
        #expect(healthyResult?.output == "out-healthy")
        #expect(poisonResult?.error?.code == .workerLost)
        #expect(poisonResult?.error?.message.contains("the last time while it ran alone on") == true, "\(poisonResult?.error?.message ?? "")")
        #expect(harness.machine.metricsSnapshot().deadLettered == 1, "only the poison task is dead-lettered")
    }

    @Test func aTaskOnItsLastChanceReservesABusyWorkerAndRunsAloneOnceItIsIdle() {
        var harness = MachineHarness { $0.maximumAttempts = 2 }
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 2)
        #expect(harness.submit(["suspect"], from: client).dispatched(to: w1).count == 1)
        let (w2, _) = harness.worker("w2", capacity: 2)
        let busy = harness.submit(["n1"], from: client, requestID: 2).dispatched(to: w2)
        #expect(busy.count == 1)

        let lost = harness.machine.disconnected(w1, now: harness.now)
        #expect(lost.dispatched.isEmpty, "w2 is busy: it is reserved, not shared")
        #expect(lost.logged("waits for a worker to run it alone"))
        #expect(harness.submit(["n2"], from: client, requestID: 3).dispatched.isEmpty, "a reserved worker takes no new tasks")
        #expect(harness.machine.queuedCount == 2, "the task set aside still counts as queued")

        let idle = harness.succeed(busy, on: w2).dispatched(to: w2)
        #expect(idle.map(\.spec) == ["suspect"] && idle.first?.attempt == 2)
        let after = harness.succeed(idle, on: w2).dispatched(to: w2)
        #expect(after.map(\.spec) == ["n2"], "once it finished, the worker is shared again")
        #expect(harness.machine.queuedCount == 0)
    }

    @Test func aTaskSetAsideThatIsCancelledReleasesItsReservedWorker() {
        var harness = MachineHarness { $0.maximumAttempts = 2 }
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 2)
        _ = harness.submit(["suspect"], from: client)
        let (w2, _) = harness.worker("w2", capacity: 2)
        let busy = harness.submit(["n1"], from: client, requestID: 2).dispatched(to: w2)
        _ = harness.machine.disconnected(w1, now: harness.now)
        _ = harness.machine.cancel(from: client, requestID: 9, taskIDs: ["suspect"], now: harness.now)
        let shared = harness.submit(["n2"], from: client, requestID: 3).dispatched(to: w2)
        #expect(shared.map(\.spec) == ["n2"], "the reservation ended with the task: \(busy.map(\.spec))")
    }

    /// After a crash of the whole cluster many tasks are on their last chance: at most half the
    /// workers run them alone, and new work goes to the others meanwhile.
    @Test func atMostHalfTheWorkersRunTasksAloneAndNewWorkGoesToTheRest() {
        var harness = MachineHarness { $0.maximumAttempts = 2 }
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 8)
        #expect(harness.submit(["a", "b", "c", "d", "e"], from: client).dispatched(to: w1).count == 5)
        _ = harness.machine.disconnected(w1, now: harness.now)
        var alone: [TaskAssignment<String>] = []
        for name in ["w2", "w3", "w4", "w5"] { alone += harness.worker(name, capacity: 8).1.dispatched }
        #expect(alone.count == 2, "4 workers: 2 run a task alone, \(alone.map(\.spec))")
        let fresh = harness.submit(["fresh"], from: client, requestID: 2).dispatched
        #expect(fresh.map(\.spec) == ["fresh"], "new work is not held behind the 3 still waiting")
        #expect(harness.machine.queuedCount == 3)
    }
}
