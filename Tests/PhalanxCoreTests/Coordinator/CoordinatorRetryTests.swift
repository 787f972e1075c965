import PhalanxResilience
import Testing

@testable import PhalanxCore

/// System failures are retried after a backoff, on another worker where there is one; business
/// failures never are; the attempt history travels with the final result.
@Suite struct CoordinatorRetryTests {
    static func harness(attempts: Int = 3) -> MachineHarness {
        MachineHarness { settings in
            settings.retry = RetryPolicy(maxAttempts: attempts, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), jitter: .none)
        }
    }

    @Test func aSystemFailureIsRetriedAfterItsBackoffOnAnotherWorkerAndTheHistoryComesWithTheResult() {
        var harness = Self.harness()
        let (first, _) = harness.worker("w1", capacity: 1)
        let client = harness.connect(.client, "app")
        let assigned = harness.submit(["a"], from: client).dispatched(to: first)
        let (second, _) = harness.worker("w2", capacity: 1)
        let failed = harness.fail(assigned, on: first, .system)
        #expect(failed.delivered(to: client).isEmpty && failed.dispatched.isEmpty)
        #expect(failed.wakeUps.contains(.milliseconds(100)))

        harness.advance(by: .milliseconds(99))
        #expect(harness.wakeUp().dispatched.isEmpty)  // still backing off
        harness.advance(by: .milliseconds(1))
        let retried = harness.wakeUp()
        let again = retried.dispatched(to: second)
        #expect(again.count == 1 && again.first?.attempt == 2, "retried on the other worker")
        #expect(retried.dispatched(to: first).isEmpty)

        let succeeded = harness.succeed(again, on: second)
        let delivered = succeeded.delivered(to: client)
        #expect(delivered.first?.output == "out-a" && delivered.first?.attempt == 2)
        #expect(delivered.first?.history.map(\.worker) == ["w1"] && delivered.first?.history.first?.attempt == 1)
    }

    @Test func aRetriedAttemptIsPersistedWithTheHistoryAndARestoredHistoryComesWithTheResult() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        let assigned = harness.submit(["a"], from: client).dispatched(to: worker)
        let failed = harness.fail(assigned, on: worker, .system)
        guard case .attemptFailed(let key, 0, let history)? = failed.persisted.first else {
            Issue.record("a retried attempt was not persisted: \(failed.persisted)")
            return
        }
        #expect(key.taskID == "a" && history.map(\.attempt) == [1] && history.first?.wasReported == true)

        // After a restart the task comes back with that history, and its result still lists the attempt.
        var restarted = Self.harness()
        let restoredTask = RestoredTask(key: key, task: restarted.task("a"), attempt: 1, losses: 0, history: history)
        _ = restarted.machine.restore([restoredTask], now: restarted.now)
        let (again, registered) = restarted.worker("w1")
        let watcher = restarted.connect(.client, "app")
        _ = restarted.machine.attach(from: watcher, requestID: 1, taskIDs: ["a"], now: restarted.now)
        let delivered = restarted.succeed(registered.dispatched(to: again), on: again).delivered(to: watcher)
        #expect(delivered.first?.attempt == 2 && delivered.first?.history.map(\.attempt) == [1] && delivered.first?.history.first?.worker == "w1")
    }

    @Test func aRestoredTasksSystemFailureIsRetriedThoughItsKindHasHadNoFirstAttemptSinceTheRestart() {
        var restarted = Self.harness()
        let key = TaskKey(client: "app", taskID: "a")
        _ = restarted.machine.restore([RestoredTask<String, String>(key: key, task: restarted.task("a"), attempt: 1, losses: 0)], now: restarted.now)
        let (worker, registered) = restarted.worker("w1")
        let watcher = restarted.connect(.client, "app")
        _ = restarted.machine.attach(from: watcher, requestID: 1, taskIDs: ["a"], now: restarted.now)
        let assigned = registered.dispatched(to: worker)
        #expect(assigned.first?.attempt == 2)
        let failed = restarted.fail(assigned, on: worker, .system)
        #expect(failed.delivered(to: watcher).isEmpty, "the budget's floor holds for a kind with no first attempts yet")
        #expect(restarted.machine.counters.retriesRefusedByBudget == 0 && restarted.machine.counters.retried == 1)
    }

    @Test func anAttemptCutShortByARestartIsInTheHistoryAndPersistedSoASecondRestartKeepsIt() {
        var restarted = Self.harness()
        let key = TaskKey(client: "app", taskID: "a")
        let earlier = FailedAttempt<String>(attempt: 1, worker: "w1", outcome: .reported("boom"))
        // Attempt 2 was dispatched (the ledger says 2) and had no outcome when the coordinator stopped.
        let restored = restarted.machine.restore(
            [RestoredTask<String, String>(key: key, task: restarted.task("a"), attempt: 2, losses: 0, history: [earlier])], now: restarted.now)
        guard case .attemptFailed(key, 0, let history)? = restored.persisted.first else {
            Issue.record("the interrupted attempt was not persisted: \(restored.persisted)")
            return
        }
        #expect(history.map(\.attempt) == [1, 2] && history.last?.worker == "" && history.last?.wasReported == false)

        // Restored again with that history: nothing more is added, and the next attempt is 3.
        var again = Self.harness()
        let second = again.machine.restore(
            [RestoredTask<String, String>(key: key, task: again.task("a"), attempt: 2, losses: 0, history: history)], now: again.now)
        #expect(!second.persisted.contains { if case .attemptFailed = $0 { true } else { false } })
        let (worker, registered) = again.worker("w2")
        let watcher = again.connect(.client, "app")
        _ = again.machine.attach(from: watcher, requestID: 1, taskIDs: ["a"], now: again.now)
        let delivered = again.succeed(registered.dispatched(to: worker), on: worker).delivered(to: watcher)
        #expect(delivered.first?.attempt == 3 && delivered.first?.history.map(\.attempt) == [1, 2])
        guard case .failure(let why)? = delivered.first?.history.last?.outcome else {
            Issue.record("expected the interrupted attempt")
            return
        }
        #expect(why.message.contains("coordinator restarted") && why.attempt == 2)

        // A task that never ran, or waits for a retry of its last attempt, gets no such record.
        var fresh = Self.harness()
        let quiet = fresh.machine.restore([
            RestoredTask<String, String>(key: TaskKey(client: "app", taskID: "new"), task: fresh.task("new"), attempt: 0, losses: 0),
            RestoredTask<String, String>(key: key, task: fresh.task("a"), attempt: 1, losses: 0, history: [earlier]),
        ], now: fresh.now)
        #expect(!quiet.persisted.contains { if case .attemptFailed = $0 { true } else { false } })
    }

    @Test func businessFailuresAreNeverRetried() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        let assigned = harness.submit(["a"], from: client).dispatched(to: worker)
        let delivered = harness.fail(assigned, on: worker, .business).delivered(to: client)
        #expect(delivered.count == 1 && delivered.first?.history.isEmpty == true && delivered.first?.attempt == 1)
    }

    @Test func theLastAllowedAttemptsFailureIsDeliveredWithEveryEarlierOne() {
        var harness = Self.harness(attempts: 3)
        let (worker, _) = harness.worker("w1")  // the only worker: retries come back to it
        let client = harness.connect(.client, "app")
        var assigned = harness.submit(["a"], from: client).dispatched(to: worker)
        var backoffs: [Duration] = []
        for _ in 1..<3 {
            let failed = harness.fail(assigned, on: worker, .system)
            #expect(failed.delivered(to: client).isEmpty)
            let wake = failed.wakeUps.min()!
            backoffs.append(wake - harness.now)
            harness.advance(by: wake - harness.now)
            assigned = harness.wakeUp().dispatched(to: worker)
        }
        #expect(backoffs == [.milliseconds(100), .milliseconds(200)], "exponential backoff")
        #expect(assigned.first?.attempt == 3)
        let final = harness.fail(assigned, on: worker, .system).delivered(to: client)
        #expect(final.first?.attempt == 3 && final.first?.history.map(\.attempt) == [1, 2])
        #expect(harness.machine.heldCount == 0)
    }

    @Test func aTaskMayAskForItsOwnNumberOfAttempts() {
        var harness = Self.harness(attempts: 3)
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        var task = harness.task("once")
        task.maxAttempts = 1
        let assigned = harness.submit([task], from: client).dispatched(to: worker)
        #expect(harness.fail(assigned, on: worker, .system).delivered(to: client).count == 1)
        var invalid = harness.task("greedy")
        invalid.maxAttempts = 101
        #expect(harness.submit([invalid], from: client, requestID: 2).refusal?.code == .invalidArgument)
    }

    @Test func attemptsPerKindOverrideTheDefault() {
        var harness = MachineHarness { settings in
            settings.retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(100), jitter: .none)
            settings.retryAttemptsPerKind = ["fragile": 1]
        }
        let (worker, _) = harness.worker("w1", kinds: ["fragile"])
        let client = harness.connect(.client, "app")
        let assigned = harness.submit(["x"], kind: "fragile", from: client).dispatched(to: worker)
        #expect(harness.fail(assigned, on: worker, .system).delivered(to: client).count == 1)
    }

    @Test func aDeadlineThatPassesDuringTheBackoffEndsTheTaskWithoutAnotherAttempt() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        let assigned = harness.submit([harness.task("a", timeout: .milliseconds(50))], from: client).dispatched(to: worker)
        _ = harness.fail(assigned, on: worker, .system)
        harness.advance(by: .milliseconds(50))
        let expired = harness.wakeUp()
        #expect(expired.delivered(to: client).first?.error?.code == .deadlineExceeded)
        #expect(expired.delivered(to: client).first?.error?.message.contains("backoff") == true)
        harness.advance(by: .milliseconds(100))
        #expect(harness.wakeUp().dispatched.isEmpty && harness.machine.heldCount == 0)
    }

    @Test func aTaskWaitingForItsRetryCanBeCancelled() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        let assigned = harness.submit(["a"], from: client).dispatched(to: worker)
        _ = harness.fail(assigned, on: worker, .system)
        let cancelled = harness.machine.cancel(from: client, requestID: 1, taskIDs: ["a"], now: harness.now)
        #expect(cancelled.delivered(to: client).first?.error?.code == .cancelled)
        harness.advance(by: .seconds(1))
        #expect(harness.wakeUp().dispatched.isEmpty && harness.machine.heldCount == 0)
    }
}

/// The retry budget: while whatever a kind calls is down, retries do not multiply its load.
@Suite struct RetryBudgetTests {
    @Test func duringADownstreamOutageTheDownstreamReceivesAtMostTenPercentMoreThanTheOfferedLoad() {
        var harness = MachineHarness { settings in
            settings.retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(10), jitter: .none)
            settings.retryBudget = RetryBudgetSettings(ratio: 0.1, minimumPerWindow: 10, window: .seconds(10))
            // The worker itself is healthy (its breaker stays closed); what it calls is down.
            settings.breaker.slidingWindow = .countBased(size: 1_000_000)
            settings.breaker.minimumNumberOfCalls = 1_000_000
        }
        let client = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1", capacity: 50)
        var calls = 0  // attempts that reached the (failing) downstream
        var finished = 0
        for second in 0..<5 {
            // 200 tasks a second, each failing for a system reason: the downstream is down.
            var running = harness.submit((0..<200).map { "t\(second)-\($0)" }, from: client, requestID: UInt64(second + 1)).dispatched(to: worker)
            for _ in 0..<200 {
                guard !running.isEmpty else { break }
                calls += running.count
                let actions = harness.fail(running, on: worker)
                finished += actions.delivered(to: client).count
                harness.advance(by: .milliseconds(10))
                running = actions.dispatched(to: worker) + harness.wakeUp().dispatched(to: worker)
            }
            harness.advance(by: .seconds(1))
        }
        let offered = 1_000
        print("retry budget: \(calls) calls for an offered load of \(offered)")
        #expect(finished == offered)
        #expect(calls <= Int(Double(offered) * 1.1) + 10, "calls \(calls) for an offered load of \(offered)")
        #expect(calls > offered)  // some retries did happen, within the budget
        #expect(harness.machine.counters.retriesRefusedByBudget > 0)
        // Refusals are exported (phalanx_retries_refused_total), each one a failure that stood.
        let snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.retriesRefusedByBudget == harness.machine.counters.retriesRefusedByBudget)
        #expect(Int(snapshot.retried) == calls - offered, "every call past the first of a task is a retry")
        // Each task ended refused (after 0 or 1 retries) or out of attempts (after 2 retries).
        #expect(Int(snapshot.retriesRefusedByBudget) <= offered && Int(snapshot.retriesRefusedByBudget) >= offered - Int(snapshot.retried) / 2)
    }

    @Test func aHealthyKindRetriesItsRareFailuresAsUsual() {
        var harness = MachineHarness { settings in
            settings.retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(10), jitter: .none)
        }
        let client = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1", capacity: 100)
        let running = harness.submit((0..<100).map { "t\($0)" }, from: client).dispatched(to: worker)
        _ = harness.succeed(Array(running.dropFirst()), on: worker)
        _ = harness.fail([running[0]], on: worker)  // one failure in a hundred calls
        harness.advance(by: .milliseconds(20))
        #expect(harness.wakeUp().dispatched(to: worker).map(\.attempt) == [2])
    }
}
