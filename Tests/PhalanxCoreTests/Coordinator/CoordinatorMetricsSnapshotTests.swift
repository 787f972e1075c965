import PhalanxResilience
import Testing

@testable import PhalanxCore

/// The numbers behind the coordinator's metrics, read from the machine: failures by code and
/// class, retries, refusals by reason, queue depth by priority, workers declared dead by why,
/// dead letters.
@Suite struct CoordinatorMetricsSnapshotTests {
    static let business = FailureKind(code: .businessRejected, failureClass: .business)
    static let system = FailureKind(code: .internal, failureClass: .system)

    static func harness(attempts: Int = 1, _ configure: @escaping (inout CoordinatorSettings) -> Void = { _ in }) -> MachineHarness {
        MachineHarness { settings in
            settings.retry = RetryPolicy(maxAttempts: attempts, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), jitter: .none)
            configure(&settings)
        }
    }

    @Test func aBusinessAndASystemFailureAreCountedByCodeAndClass() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        let assigned = harness.submit(["a", "b", "c"], from: client).dispatched(to: worker)
        #expect(assigned.count == 3)
        _ = harness.fail([assigned[0]], on: worker, .business)
        _ = harness.fail([assigned[1]], on: worker, .system)
        _ = harness.succeed([assigned[2]], on: worker)
        let snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.failures == [Self.business: 1, Self.system: 1])
        #expect(snapshot.accepted == 3 && snapshot.succeeded == 1 && snapshot.retried == 0)
        #expect(snapshot.running == 0 && snapshot.queued == PriorityCounts())

        // A second business failure moves only its own series.
        let again = harness.submit(["d"], from: client, requestID: 2).dispatched(to: worker)
        _ = harness.fail(again, on: worker, .business)
        #expect(harness.machine.metricsSnapshot().failures == [Self.business: 2, Self.system: 1])
    }

    @Test func aRetryIsCountedAsRetriedAndOnlyTheFinalFailureAsFailed() {
        var harness = Self.harness(attempts: 3)
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        var assigned = harness.submit(["a"], from: client).dispatched(to: worker)
        for retry in 1...2 {
            let failed = harness.fail(assigned, on: worker, .system)
            var snapshot = harness.machine.metricsSnapshot()
            #expect(snapshot.retried == UInt64(retry) && snapshot.failures.isEmpty, "retry \(retry)")
            #expect(snapshot.retrying == 1 && snapshot.running == 0 && snapshot.queued.normal == 0, "waiting out its backoff is not queued")
            harness.advance(by: failed.wakeUps.min()! - harness.now)
            assigned = harness.wakeUp().dispatched(to: worker)
            snapshot = harness.machine.metricsSnapshot()
            #expect(assigned.count == 1 && snapshot.retrying == 0 && snapshot.running == 1)
        }
        _ = harness.fail(assigned, on: worker, .system)  // the third and last attempt
        let snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.retried == 2, "the last attempt's failure is not a retry")
        #expect(snapshot.failures == [Self.system: 1])
        #expect(snapshot.retrying == 0)
    }

    @Test func aBusinessFailureIsNeverCountedAsRetried() {
        var harness = Self.harness(attempts: 3)
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        _ = harness.fail(harness.submit(["a"], from: client).dispatched(to: worker), on: worker, .business)
        let snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.retried == 0 && snapshot.failures == [Self.business: 1])
    }

    @Test func refusedDuplicateIDsCountTheirTasksAsInvalid() {
        var harness = Self.harness()
        let client = harness.connect(.client, "app")
        #expect(harness.submit(["a"], from: client).acknowledged == 1)
        #expect(harness.submit(["a"], from: client, requestID: 2).refusal?.code == .invalidArgument)
        #expect(harness.machine.metricsSnapshot().rejections == [.invalid: 1])
        // Twice in one batch: the whole batch (both tasks) is refused and counted.
        #expect(harness.submit(["b", "b"], from: client, requestID: 3).refusal?.code == .invalidArgument)
        let snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.rejections == [.invalid: 3])
        #expect(snapshot.accepted == 1)
    }

    @Test func aBatchPastMaxQueuedTasksCountsItsTasksAsOverloaded() {
        var harness = Self.harness { $0.maximumQueuedTasks = 3 }
        let client = harness.connect(.client, "app")
        #expect(harness.submit(["a", "b"], from: client).acknowledged == 2)
        #expect(harness.submit(["c"], from: client, requestID: 2).acknowledged == 1, "exactly at the bound fits")
        #expect(harness.machine.metricsSnapshot().rejections.isEmpty)
        let past = harness.submit(["d", "e"], from: client, requestID: 3)
        #expect(past.refusal?.code == .overloaded)
        #expect(harness.machine.metricsSnapshot().rejections == [.overloaded: 2])
        #expect(harness.submit(["f"], from: client, requestID: 4).refusal?.code == .overloaded)
        #expect(harness.machine.metricsSnapshot().rejections == [.overloaded: 3])
    }

    @Test func aBatchPastMaxQueuedBytesCountsAsOverloaded() {
        var harness = Self.harness { $0.maximumQueuedBytes = 100 }
        let client = harness.connect(.client, "app")
        #expect(harness.submit([harness.task("a", bytes: 100)], from: client).acknowledged == 1)
        #expect(harness.submit([harness.task("b", bytes: 1)], from: client, requestID: 2).refusal?.code == .overloaded)
        #expect(harness.machine.metricsSnapshot().rejections == [.overloaded: 1])
    }

    @Test func aBatchThatFindsTheTokenBucketEmptyCountsAsRateLimited() {
        var harness = Self.harness {
            $0.admissionTasksPerSecond = 10
            $0.admissionBurst = 10
        }
        let client = harness.connect(.client, "app")
        #expect(harness.submit((0..<10).map { "a\($0)" }, from: client).acknowledged == 10, "the whole burst fits")
        #expect(harness.machine.metricsSnapshot().rejections.isEmpty)
        let over = harness.submit(["b0", "b1", "b2"], from: client, requestID: 2)
        #expect(over.refusal?.code == .overloaded && over.refusal?.retryAfter != nil)
        #expect(harness.machine.metricsSnapshot().rejections == [.rateLimited: 3])
        // A batch larger than the burst is malformed, not rate limited.
        #expect(harness.submit((0..<11).map { "c\($0)" }, from: client, requestID: 3).refusal?.code == .invalidArgument)
        #expect(harness.machine.metricsSnapshot().rejections == [.rateLimited: 3, .invalid: 11])
    }

    @Test func rejectionLabelsAreTheDocumentedOnes() {
        #expect(AdmissionRejection.allCases.map(\.rawValue) == ["invalid", "overloaded", "rate_limited"])
    }

    /// Asserts the per-priority counts and that they add up to the machine's queued count.
    private func expectQueued(
        _ harness: MachineHarness, high: Int, normal: Int, low: Int, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let queued = harness.machine.metricsSnapshot().queued
        #expect(queued.high == high && queued.normal == normal && queued.low == low, "\(comment): \(queued)", sourceLocation: sourceLocation)
        #expect(queued.high + queued.normal + queued.low == harness.machine.queuedCount, "\(comment)", sourceLocation: sourceLocation)
    }

    @Test func queuedByPriorityGoesUpOnSubmitAndDownOnDispatchCancelAndExpiryAndMatchesQueuedCount() {
        var harness = Self.harness()
        let client = harness.connect(.client, "app")
        var tasks: [SubmittedTask<String>] = []
        for (id, priority) in [("h0", TaskPriority.high), ("h1", .high), ("n0", .normal), ("l0", .low), ("l1", .low)] {
            var task = harness.task(id)
            task.priority = priority
            tasks.append(task)
        }
        var expiring = harness.task("x0", kind: "nobody-serves-this", timeout: .seconds(5))
        expiring.priority = .low
        tasks.append(expiring)
        #expect(harness.submit(tasks, from: client).acknowledged == 6)
        expectQueued(harness, high: 2, normal: 1, low: 3, "after submit")

        let (worker, registered) = harness.worker("w1", capacity: 2)
        let running = registered.dispatched(to: worker)
        #expect(running.map(\.spec) == ["h0", "h1"])
        expectQueued(harness, high: 0, normal: 1, low: 3, "after dispatching both high ones")
        #expect(harness.machine.metricsSnapshot().running == 2)

        _ = harness.machine.cancel(from: client, requestID: 2, taskIDs: ["l0"], now: harness.now)
        expectQueued(harness, high: 0, normal: 1, low: 2, "after cancelling a queued low one")

        harness.advance(by: .seconds(5) - .milliseconds(1))
        _ = harness.machine.heartbeat(from: worker, now: harness.now)
        #expect(harness.wakeUp().delivered(to: client).isEmpty, "just before its deadline it has not expired")
        expectQueued(harness, high: 0, normal: 1, low: 2, "just before the deadline")
        harness.advance(by: .milliseconds(1))
        _ = harness.machine.heartbeat(from: worker, now: harness.now)
        let expired = harness.wakeUp()
        #expect(expired.delivered(to: client).map(\.taskID) == ["x0"], "at its deadline it expires")
        expectQueued(harness, high: 0, normal: 1, low: 1, "after the queued low one expired")

        // The worker is lost: its two running high tasks go back to the queue.
        _ = harness.machine.disconnected(worker, now: harness.now)
        expectQueued(harness, high: 2, normal: 1, low: 1, "after the running ones were requeued")

        let (other, taken) = harness.worker("w2", capacity: 10)
        #expect(taken.dispatched(to: other).count == 4)
        expectQueued(harness, high: 0, normal: 0, low: 0, "after everything was dispatched")
        #expect(harness.machine.queuedCount == 0)
    }

    @Test func aWorkerSilentPastTheHeartbeatWindowCountsAsDeclaredDeadForSilence() {
        var harness = Self.harness()  // heartbeats every 1 s, 3 misses: a 3 s window
        let (worker, _) = harness.worker("w1")
        harness.advance(by: .seconds(3))
        #expect(harness.wakeUp().closed(worker) == nil, "silent for exactly the window: still alive")
        #expect(harness.machine.metricsSnapshot().declaredDeadForSilence == 0)
        harness.advance(by: .milliseconds(1))
        #expect(harness.wakeUp().closed(worker)?.code == .unavailable)
        var snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.declaredDeadForSilence == 1 && snapshot.declaredDeadDisconnected == 0)
        #expect(snapshot.workers.isEmpty)
        // The shell then closes the connection: that is not a second death.
        _ = harness.machine.disconnected(worker, now: harness.now)
        snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.declaredDeadForSilence == 1 && snapshot.declaredDeadDisconnected == 0)
    }

    @Test func aWorkerThatDisconnectsMidTaskCountsAsDeclaredDeadDisconnected() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "app")
        #expect(harness.submit(["a"], from: client).dispatched(to: worker).count == 1)
        #expect(harness.machine.metricsSnapshot().workers.map(\.running) == [1])
        _ = harness.machine.disconnected(worker, now: harness.now)
        let snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.declaredDeadDisconnected == 1 && snapshot.declaredDeadForSilence == 0)
        #expect(snapshot.queued.normal == 1, "its task went back to the queue")
    }

    @Test func aDrainedWorkerThatLeavesIsNotDeclaredDead() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1")
        _ = harness.machine.draining(from: worker, now: harness.now)
        #expect(harness.machine.metricsSnapshot().workers.map(\.draining) == [true])
        _ = harness.machine.disconnected(worker, now: harness.now)
        let snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.declaredDeadDisconnected == 0 && snapshot.declaredDeadForSilence == 0)
    }

    @Test func aTaskThatLosesTooManyWorkersIsCountedDeadLettered() {
        var harness = Self.harness { $0.maximumAttempts = 2 }
        let client = harness.connect(.client, "app")
        let (first, _) = harness.worker("w1")
        _ = harness.submit(["poison"], from: client)
        let (second, _) = harness.worker("w2")
        #expect(harness.machine.disconnected(first, now: harness.now).dispatched(to: second).count == 1)
        var snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.deadLettered == 0, "one loss of 2 allowed: requeued, not dead-lettered")
        #expect(snapshot.declaredDeadDisconnected == 1)
        _ = harness.machine.disconnected(second, now: harness.now)
        snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.deadLettered == 1)
        #expect(snapshot.declaredDeadDisconnected == 2)
        #expect(snapshot.failures.keys.map(\.code) == [.workerLost] && snapshot.failures.values.reduce(0, +) == 1)
    }

    @Test func workersAppearSortedByNameWithTheirLoadAndBreakerAndClientsAreCountedByRole() {
        var harness = Self.harness()
        let (second, _) = harness.worker("w2", capacity: 3)
        _ = harness.worker("w1", capacity: 5)
        let client = harness.connect(.client, "app")
        _ = harness.connect(.admin, "admin")
        _ = harness.submit(["a"], from: client)
        _ = harness.machine.draining(from: second, now: harness.now)
        let snapshot = harness.machine.metricsSnapshot()
        #expect(snapshot.workers.map(\.name) == ["w1", "w2"])
        #expect(snapshot.workers.map(\.capacity) == [5, 3] && snapshot.workers.map(\.running).reduce(0, +) == 1)
        #expect(snapshot.workers.map(\.breaker) == ["closed", "closed"] && snapshot.workers.map(\.draining) == [false, true])
        #expect(snapshot.clients == 1 && snapshot.admins == 1)
    }
}
