import Testing

@testable import PhalanxCore

/// A worker's dispatch window: `capacity + prefetch` tasks, and at most `maximumInFlightBytes` of payload.
@Suite struct CoordinatorPrefetchTests {
    @Test func aWorkerIsSentUpToCapacityPlusPrefetchAndNoMore() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1", WorkerRegistration(capacity: 2, kinds: ["echo"], prefetch: 3))
        let client = harness.connect(.client, "client")
        let submitted = harness.submit(["a", "b", "c", "d", "e", "f"], from: client)
        #expect(submitted.dispatched(to: worker).map(\.spec) == ["a", "b", "c", "d", "e"], "2 slots + 3 prefetched, in order")
        #expect(harness.machine.queuedCount == 1)
        let freed = harness.succeed(Array(submitted.dispatched(to: worker).prefix(1)), on: worker)
        #expect(freed.dispatched(to: worker).map(\.spec) == ["f"], "one result frees one place in the window")
    }

    @Test func theLeastLoadedWorkerIsJudgedByItsWholeWindow() {
        var harness = MachineHarness()
        let (small, _) = harness.worker("w1", WorkerRegistration(capacity: 2, kinds: ["echo"]))
        let (large, _) = harness.worker("w2", WorkerRegistration(capacity: 2, kinds: ["echo"], prefetch: 6))
        let client = harness.connect(.client, "client")
        let submitted = harness.submit((1...10).map { "t\($0)" }, from: client)
        #expect(submitted.dispatched(to: small).count == 2 && submitted.dispatched(to: large).count == 8)
    }

    @Test func payloadBytesInFlightAreBoundedButAnEmptyWorkerAlwaysGetsATask() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1", WorkerRegistration(capacity: 8, kinds: ["echo"], maximumInFlightBytes: 100))
        let client = harness.connect(.client, "client")
        // 40 + 40 = 80 < 100: a third may go (the bound is passed by at most one task); then 120 ≥ 100.
        let tasks = (1...4).map { harness.task("t\($0)", bytes: 40) }
        let submitted = harness.submit(tasks, from: client)
        #expect(submitted.dispatched(to: worker).map(\.spec) == ["t1", "t2", "t3"])
        let freed = harness.succeed(Array(submitted.dispatched(to: worker).prefix(1)), on: worker)
        #expect(freed.dispatched(to: worker).map(\.spec) == ["t4"], "80 bytes in flight again: below the bound")

        // One task larger than the bound still runs when the worker has nothing else.
        _ = harness.succeed(Array(submitted.dispatched(to: worker).dropFirst()) + freed.dispatched(to: worker), on: worker)
        let huge = harness.submit([harness.task("huge", bytes: 1_000), harness.task("next", bytes: 1)], from: client, requestID: 2)
        #expect(huge.dispatched(to: worker).map(\.spec) == ["huge"], "alone, however large; the next waits for it")
        let after = harness.succeed(huge.dispatched(to: worker), on: worker)
        #expect(after.dispatched(to: worker).map(\.spec) == ["next"])
    }

    @Test func aPrefetchOutsideItsRangeIsRefusedNamingIt() {
        var harness = MachineHarness()
        let (worker, refused) = harness.worker("w1", WorkerRegistration(capacity: 2, kinds: ["echo"], prefetch: 100_001))
        let error = refused.closed(worker)
        #expect(error?.code == .invalidArgument && error?.message.contains("prefetch 100001") == true)
        let (accepted, actions) = harness.worker("w2", WorkerRegistration(capacity: 2, kinds: ["echo"], prefetch: 100_000))
        #expect(actions.closed(accepted) == nil, "the largest prefetch is accepted")
    }

    @Test func theStatusShowsCapacityAndPrefetchApart() {
        var harness = MachineHarness()
        let (_, _) = harness.worker("w1", WorkerRegistration(capacity: 2, kinds: ["echo"], prefetch: 5))
        let admin = harness.connect(.admin, "admin")
        guard case .sendStatus(_, let status)? = harness.machine.statusRequested(from: admin).first else {
            Issue.record("no status was sent")
            return
        }
        #expect(status.workers.map(\.capacity) == [2] && status.workers.map(\.prefetch) == [5])
    }
}
