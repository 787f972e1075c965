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
}
