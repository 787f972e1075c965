import PhalanxResilience
import Testing

@testable import PhalanxCore

/// The per-worker circuit breaker in dispatch, and the admin commands.
@Suite struct CoordinatorBreakerTests {
    static func harness() -> MachineHarness {
        MachineHarness { settings in
            settings.retry.maxAttempts = 1  // these tests count each failure once, where it happened
            settings.breaker.minimumNumberOfCalls = 4
            settings.breaker.slidingWindow = .countBased(size: 4)
            settings.breaker.failureRateThreshold = 50
            settings.breaker.waitDurationInOpenState = .seconds(10)
            settings.breaker.permittedNumberOfCallsInHalfOpenState = 2
        }
    }

    @Test func aWorkerThatFailsEveryTaskStopsGettingWorkAndTrafficMovesToTheOthers() {
        var harness = Self.harness()
        let (sick, _) = harness.worker("sick", capacity: 4)
        let client = harness.connect(.client, "client")
        let first = harness.submit(["a", "b", "c", "d"], from: client).dispatched(to: sick)
        #expect(first.count == 4)
        let failed = harness.fail(first, on: sick)
        #expect(failed.logged("circuit breaker changed state"))
        #expect(harness.machine.breakerState(of: "sick") == "open")

        let (healthy, _) = harness.worker("healthy", capacity: 4)
        let next = harness.submit(["e", "f"], from: client, requestID: 2)
        #expect(next.dispatched(to: sick).isEmpty && next.dispatched(to: healthy).count == 2)
    }

    @Test func businessFailuresDoNotTripTheBreaker() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1", capacity: 4)
        let client = harness.connect(.client, "client")
        _ = harness.fail(harness.submit(["a", "b", "c", "d"], from: client).dispatched(to: worker), on: worker, .business)
        #expect(harness.machine.breakerState(of: "w1") == "closed")
    }

    /// A prefetched task whose deadline passed while it waited for a slot on the worker never ran
    /// there: that says no more about the worker than a deadline passed in the coordinator's queue.
    /// (With prefetch, a burst of short-deadline tasks once opened the breaker of the only,
    /// healthy worker.) The same misses from handlers that ran do count.
    @Test func deadlinesPassedBeforeTheHandlerStartedDoNotTripTheBreaker() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1", capacity: 4)
        let client = harness.connect(.client, "client")
        let waited = harness.submit(["a", "b", "c", "d"], from: client).dispatched(to: worker)
        _ = harness.machine.results(
            from: worker,
            waited.map { ReportedResult(task: $0.task, attempt: $0.attempt, failure: (.deadlineExceeded, .system), output: "expired", neverStarted: true) },
            now: harness.now)
        #expect(harness.machine.breakerState(of: "w1") == "closed")
        let ran = harness.submit(["e", "f", "g", "h"], from: client, requestID: 2).dispatched(to: worker)
        #expect(ran.count == 4)
        _ = harness.machine.results(
            from: worker, ran.map { ReportedResult(task: $0.task, attempt: $0.attempt, failure: (.deadlineExceeded, .system), output: "expired") },
            now: harness.now)
        #expect(harness.machine.breakerState(of: "w1") == "open")
    }

    /// Contention on a key (a task effect aborted with CONFLICT) is not the worker's fault.
    @Test func conflictsCancellationsAndSupersededAttemptsDoNotTripTheBreaker() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1", capacity: 4)
        let client = harness.connect(.client, "client")
        let assignments = harness.submit(["a", "b", "c", "d"], from: client).dispatched(to: worker)
        let codes: [ErrorCode] = [.conflict, .conflict, .cancelled, .superseded]
        _ = harness.machine.results(
            from: worker, zip(assignments, codes).map { ReportedResult(task: $0.task, attempt: $0.attempt, failure: ($1, .system), output: "failed") },
            now: harness.now)
        #expect(harness.machine.breakerState(of: "w1") == "closed")
        #expect(CoordinatorMachine<String, String>.blamesTheWorker(code: .unavailable, .system))
        #expect(CoordinatorMachine<String, String>.blamesTheWorker(code: .deadlineExceeded, .business))
        #expect(!CoordinatorMachine<String, String>.blamesTheWorker(code: .businessRejected, .business))
    }

    @Test func anOpenBreakerRecoversThroughHalfOpenProbes() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1", capacity: 4)
        let client = harness.connect(.client, "client")
        _ = harness.fail(harness.submit(["a", "b", "c", "d"], from: client).dispatched(to: worker), on: worker)
        let waiting = harness.submit(["e", "f", "g"], from: client, requestID: 2)
        #expect(waiting.dispatched.isEmpty)
        #expect(waiting.wakeUps.contains { $0 <= .seconds(10) + .milliseconds(1) } || harness.machine.breakerRetryAt != nil)

        harness.advance(by: .seconds(10))
        _ = harness.machine.heartbeat(from: worker, now: harness.now)
        let probes = harness.wakeUp().dispatched(to: worker)
        #expect(probes.count == 2, "half-open lets exactly the permitted probes through")
        #expect(harness.machine.breakerState(of: "w1") == "half_open")
        let recovered = harness.succeed(probes, on: worker)
        #expect(harness.machine.breakerState(of: "w1") == "closed")
        #expect(recovered.dispatched(to: worker).count == 1, "the last queued task goes out once closed")
    }

    @Test func anAdminCanForceABreakerOpenAndCloseIt() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1")
        let admin = harness.connect(.admin, "admin")
        let client = harness.connect(.client, "client")
        let opened = harness.machine.breakerCommand(from: admin, .forceOpen(worker: "w1"), now: harness.now)
        #expect(opened.contains { if case .sendBreakers(admin, let list, nil) = $0 { list == [WorkerBreakerStatus(worker: "w1", state: "forced_open")] } else { false } })
        #expect(harness.submit(["a"], from: client).dispatched.isEmpty)
        let closed = harness.machine.breakerCommand(from: admin, .close(worker: "w1"), now: harness.now)
        #expect(closed.dispatched(to: worker).map(\.spec) == ["a"])

        let unknown = harness.machine.breakerCommand(from: admin, .forceOpen(worker: "nobody"), now: harness.now)
        #expect(unknown.contains { if case .sendBreakers(_, _, let error?) = $0 { error.message.contains("no worker named 'nobody'") } else { false } })
        #expect(harness.machine.breakerCommand(from: client, .list, now: harness.now).isEmpty, "only admins")
    }

    @Test func anAdminCanAskAWorkerToDrain() {
        var harness = Self.harness()
        let (worker, _) = harness.worker("w1")
        let admin = harness.connect(.admin, "admin")
        let actions = harness.machine.drainRequested(from: admin, worker: "w1")
        #expect(actions.contains { if case .requestDrain(worker, "admin") = $0 { true } else { false } })
        let unknown = harness.machine.drainRequested(from: admin, worker: "w9")
        #expect(unknown.contains { if case .sendDrainReply(admin, let error?) = $0 { error.code == .invalidArgument } else { false } })
    }
}
