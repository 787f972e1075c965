import PhalanxResilience
import Testing

@testable import PhalanxCore

/// Registration, dispatch, fencing, failure detection by heartbeats, and draining.
@Suite struct CoordinatorWorkerTests {
    @Test func dispatchGoesToTheLeastLoadedWorkerServingTheKindAndNeverPastCapacity() {
        var harness = MachineHarness()
        let (w1, _) = harness.worker("w1", capacity: 2, kinds: ["echo"])
        let (w2, _) = harness.worker("w2", capacity: 2, kinds: ["echo", "sha256"])
        let client = harness.connect(.client, "client")
        let echo = harness.submit(["a", "b", "c", "d", "e"], from: client)
        let hash = harness.submit(["h"], kind: "sha256", from: client, requestID: 2)
        #expect(echo.dispatched(to: w1).count == 2 && echo.dispatched(to: w2).count == 2)
        #expect(hash.dispatched.isEmpty, "w2 is full")
        #expect(harness.machine.queuedCount == 2)
        let freed = harness.succeed(echo.dispatched(to: w2), on: w2)
        #expect(Set(freed.dispatched(to: w2).map(\.spec)) == ["e", "h"], "one task per kind in turn")
    }

    @Test func aKindNobodyServesDoesNotBlockOthers() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        _ = harness.submit(["x"], kind: "exotic", from: client)
        let echo = harness.submit(["e"], from: client, requestID: 2)
        #expect(echo.dispatched(to: worker).map(\.spec) == ["e"])
    }

    @Test func aSecondWorkerWithTheSameNameIsRefusedWhileTheFirstIsAlive() {
        var harness = MachineHarness()
        let (first, _) = harness.worker("w1")
        let (second, refused) = harness.worker("w1")
        let error = refused.closed(second)
        #expect(error?.code == .conflict && error?.message.contains("already registered") == true)
        #expect(harness.machine.workers.count == 1 && harness.machine.workers[first] != nil)

        // Once the first is gone, the name is free again.
        _ = harness.machine.disconnected(first, now: harness.now)
        let (third, accepted) = harness.worker("w1")
        #expect(accepted.closed(third) == nil && harness.machine.workers[third] != nil)
    }

    @Test func aFrozenWorkerIsDeclaredDeadByMissedHeartbeatsOnTheVirtualClock() {
        var harness = MachineHarness()  // heartbeat every 1 s, dead after 3 s of silence
        let (w1, registered) = harness.worker("w1")
        #expect(registered.wakeUps == [.seconds(3) + .milliseconds(1)])
        let client = harness.connect(.client, "client")
        let submitted = harness.submit(["a"], from: client)
        #expect(submitted.dispatched(to: w1).count == 1)
        let (w2, _) = harness.worker("w2")

        harness.advance(by: .seconds(2))
        _ = harness.machine.heartbeat(from: w2, now: harness.now)
        #expect(harness.wakeUp().closed(w1) == nil, "2 s of silence is within the window")

        harness.advance(by: .milliseconds(1_500))
        let actions = harness.wakeUp()
        #expect(actions.closed(w1)?.message.contains("declared dead") == true)
        #expect(actions.closed(w2) == nil)
        let redispatched = actions.dispatched(to: w2)
        #expect(redispatched.map(\.spec) == ["a"] && redispatched.first?.attempt == 2)

        // The lost attempt is in the task's history, with why it was given up.
        let delivered = harness.succeed(redispatched, on: w2).delivered(to: client)
        #expect(delivered.map(\.attempt) == [2])
        let history = delivered.first?.history ?? []
        #expect(history.map(\.attempt) == [1] && history.map(\.worker) == ["w1"] && history.allSatisfy { !$0.wasReported })
        guard case .failure(let lost)? = history.first?.outcome else {
            Issue.record("the lost attempt has no failure: \(history)")
            return
        }
        #expect(lost.code == .workerLost && lost.message.contains("w1 was declared dead") && lost.attempt == 1)
    }

    /// The shell is behind (an overloaded coordinator): the worker's heartbeats arrived and wait
    /// in line. It is alive, and must not be declared dead for a silence that is the coordinator's.
    @Test func aWorkerWhoseMessagesWaitToBeHandledIsNotDeclaredDead() {
        var harness = MachineHarness()  // heartbeat every 1 s, dead after 3 s of silence
        let (w1, _) = harness.worker("w1")
        harness.advance(by: .milliseconds(3_500))
        harness.machine.messagesWaiting(from: w1, now: harness.now)
        #expect(harness.wakeUp().closed(w1) == nil, "its messages wait: it was heard")
        harness.advance(by: .milliseconds(3_500))  // nothing waits any more, and nothing came
        #expect(harness.wakeUp().closed(w1)?.message.contains("declared dead") == true)
    }

    @Test func aTaskThreeTimesLongerThanTheHeartbeatWindowOnALiveWorkerRunsOnce() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        let assignment = harness.submit(["long"], from: client).dispatched(to: worker)
        for _ in 0..<9 {  // 9 s: three windows of 3 s, heartbeats every second
            harness.advance(by: .seconds(1))
            _ = harness.machine.heartbeat(from: worker, now: harness.now)
            let woken = harness.wakeUp()
            #expect(woken.closed(worker) == nil && woken.dispatched.isEmpty)
        }
        let finished = harness.succeed(assignment, on: worker)
        #expect(finished.delivered(to: client).map(\.attempt) == [1])
    }

    @Test func aLateResultOfASupersededAttemptIsDroppedAndCounted() {
        var harness = MachineHarness()
        let (w1, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        let first = harness.submit(["a"], from: client).dispatched(to: w1)
        let (w2, _) = harness.worker("w2")
        let lost = harness.machine.disconnected(w1, now: harness.now)
        let second = lost.dispatched(to: w2)
        #expect(second.first?.attempt == 2)

        // The old attempt's result (e.g. from a worker that was frozen) is fenced off, also from
        // the right worker connection with the wrong attempt.
        let stale = harness.succeed([TaskAssignment(task: first[0].task, attempt: 1, spec: "a")], on: w2)
        #expect(stale.delivered(to: client).isEmpty && harness.machine.staleResultCount == 1)
        let current = harness.succeed(second, on: w2)
        #expect(current.delivered(to: client).map(\.attempt) == [2])
        #expect(harness.succeed(second, on: w2).delivered(to: client).isEmpty, "a duplicate result reports nothing")
    }

    @Test func aTaskThatLosesItsWorkerMaxAttemptsTimesFinishesWorkerLostWithItsTrace() {
        var harness = MachineHarness { $0.maximumAttempts = 2 }
        let client = harness.connect(.client, "client")
        let task = harness.task("doomed")
        _ = harness.submit([task], from: client)
        var (worker, _) = harness.worker("w1")
        let lostOnce = harness.machine.disconnected(worker, now: harness.now)
        #expect(lostOnce.delivered(to: client).isEmpty)
        (worker, _) = harness.worker("w2")
        let lostTwice = harness.machine.disconnected(worker, now: harness.now)
        let delivered = lostTwice.delivered(to: client)
        #expect(delivered.count == 1)
        let error = delivered.first?.error
        #expect(error?.code == .workerLost && error?.traceID == task.traceID && error?.originNode == "coordinator")
        #expect(error?.causes.first?.message.contains("w2") == true)
    }

    @Test func aDrainingWorkerGetsNoWorkAndItsHandedBackTasksRunElsewhereWithoutCountingAsLost() {
        var harness = MachineHarness { $0.maximumAttempts = 1 }
        let (w1, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        let running = harness.submit(["a", "b"], from: client).dispatched(to: w1)
        _ = harness.machine.draining(from: w1, now: harness.now)
        #expect(harness.submit(["c"], from: client, requestID: 2).dispatched.isEmpty)

        _ = harness.succeed([running[0]], on: w1)
        let (w2, _) = harness.worker("w2")
        let handedBack = harness.machine.handBack(from: w1, [(running[1].task, running[1].attempt)], now: harness.now)
        let again = handedBack.dispatched(to: w2).filter { $0.spec == "b" }
        #expect(again.count == 1 && again.first?.attempt == 2)
        guard case .attemptFailed(let key, 0, let history)? = handedBack.persisted.first(where: { if case .attemptFailed = $0 { true } else { false } }) else {
            Issue.record("the handed-back attempt was not persisted in the history: \(handedBack.persisted)")
            return
        }
        #expect(key.taskID == "b" && history.map(\.attempt) == [1] && history.first?.worker == "w1" && history.first?.wasReported == false)
        let left = harness.machine.disconnected(w1, now: harness.now)
        #expect(left.logged("worker left") && !left.logged("declared dead"))
        #expect(left.delivered(to: client).isEmpty, "nothing was lost, though max_attempts is 1")

        let delivered = harness.succeed(again, on: w2).delivered(to: client)
        #expect(delivered.first?.attempt == 2 && delivered.first?.history.map(\.worker) == ["w1"])
        guard case .failure(let why)? = delivered.first?.history.first?.outcome else {
            Issue.record("expected the handed-back attempt in the history")
            return
        }
        #expect(why.message.contains("handed the attempt back") && why.code == .unavailable && why.traceID != nil)
    }

    @Test func aCancelledTaskHandedBackByADrainingWorkerFinishesCancelledAndDoesNotRunAgain() {
        var harness = MachineHarness()
        let (w1, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        let running = harness.submit(["a"], from: client).dispatched(to: w1)
        _ = harness.machine.cancel(from: client, requestID: 2, taskIDs: ["a"], now: harness.now)
        _ = harness.machine.draining(from: w1, now: harness.now)
        let (w2, _) = harness.worker("w2")
        let handedBack = harness.machine.handBack(from: w1, [(running[0].task, running[0].attempt)], now: harness.now)
        #expect(handedBack.dispatched(to: w2).isEmpty, "a cancelled task is never run again")
        guard case .failure(let error)? = handedBack.delivered(to: client).first?.outcome else {
            Issue.record("expected CANCELLED, got \(handedBack.delivered(to: client))")
            return
        }
        #expect(error.code == .cancelled && error.message.contains("handed it back"))
        #expect(harness.machine.heldCount == 0)
    }

    @Test func handBacksDoNotUseUpTheAttemptsAllowedForSystemFailures() {
        var harness = MachineHarness { $0.retry = RetryPolicy(maxAttempts: 2, initialBackoff: .milliseconds(100), jitter: .none) }
        let (w1, _) = harness.worker("w1", capacity: 1)
        let client = harness.connect(.client, "client")
        let first = harness.submit(["a"], from: client).dispatched(to: w1)
        let second = harness.machine.handBack(from: w1, [(first[0].task, first[0].attempt)], now: harness.now).dispatched(to: w1)
        #expect(second.first?.attempt == 2)
        let failed = harness.fail(second, on: w1, .system)
        #expect(failed.delivered(to: client).isEmpty, "the first system failure is retried: max_attempts 2 counts system failures, not hand-backs")
        harness.advance(by: .milliseconds(100))
        let third = harness.wakeUp().dispatched(to: w1)
        #expect(third.first?.attempt == 3)
        let final = harness.fail(third, on: w1, .system).delivered(to: client)
        #expect(final.count == 1 && final.first?.history.map(\.attempt) == [1, 2], "the second system failure stands")
    }

    @Test func aTaskHandedBackMoreOftenThanTheHistoryHoldsKeepsTheNewestRecords() {
        var harness = MachineHarness()
        let (w1, _) = harness.worker("w1", capacity: 1)
        let client = harness.connect(.client, "client")
        var running = harness.submit(["a"], from: client).dispatched(to: w1)
        let rounds = TaskLimits.maximumHistoryRecords + 50
        for _ in 0..<rounds {
            guard let assignment = running.first else { break }
            running = harness.machine.handBack(from: w1, [(assignment.task, assignment.attempt)], now: harness.now).dispatched(to: w1)
        }
        #expect(running.first?.attempt == UInt32(rounds + 1))
        let delivered = harness.succeed(running, on: w1).delivered(to: client)
        let attempts = delivered.first?.history.map(\.attempt) ?? []
        #expect(attempts.count == TaskLimits.maximumHistoryRecords && attempts.first == 51 && attempts.last == UInt32(rounds), "\(attempts.count) records")
    }

    @Test func shuttingDownClosesEveryPeerWithUnavailable() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        let actions = harness.machine.shutDown()
        #expect(actions.closed(worker)?.code == .unavailable && actions.closed(client)?.message.contains("shutting down") == true)
    }

    @Test func aBadRegistrationIsRefusedNamingWhatIsExpected() {
        var harness = MachineHarness()
        let id = harness.connect(.worker, "w1")
        let actions = harness.machine.register(from: id, WorkerRegistration(capacity: 0, kinds: ["echo"]), now: harness.now)
        #expect(actions.closed(id)?.message.contains("capacity 1...100000") == true)
    }

    @Test func aKindTooLongOrWithControlCharactersIsRefusedAtRegistrationNamingIt() {
        var harness = MachineHarness()
        let long = harness.connect(.worker, "w1")
        let tooLong = harness.machine.register(from: long, WorkerRegistration(capacity: 4, kinds: ["echo", String(repeating: "k", count: 100)]), now: harness.now)
        #expect(tooLong.closed(long)?.message.contains("refused: a kind is 1-64 bytes (got 100") == true, "\(String(describing: tooLong.closed(long)))")
        let forged = harness.connect(.worker, "w2")
        let escape = harness.machine.register(from: forged, WorkerRegistration(capacity: 4, kinds: ["evil\u{1b}[31mRED\nfake: line"]), now: harness.now)
        let message = escape.closed(forged)?.message ?? ""
        #expect(message.contains("no control characters") && message.contains("evil\\u{1b}[31mRED\\u{a}fake: line"), "\(message)")
        #expect(!message.contains("\u{1b}") && !message.contains("\n"), "the refusal itself carries no control characters")
        let fine = harness.connect(.worker, "w3")
        #expect(harness.machine.register(from: fine, WorkerRegistration(capacity: 4, kinds: [String(repeating: "k", count: 64), "ünïcödé"]), now: harness.now).closed(fine) == nil)
    }
}
