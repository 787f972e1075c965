import PhalanxResilience
import Testing

@testable import PhalanxCore

/// A worker that announced smaller frames than the coordinator's is sent only tasks its frames
/// carry; a larger task goes to a worker whose frames carry it, or waits for one (until its
/// deadline), and the coordinator says why it waits.
@Suite struct CoordinatorFrameFitTests {
    /// "a-small" sorts first, so it wins every tie of the least-loaded choice.
    private func cluster(smallPayloadBytes: Int = 1_000, largeCapacity: Int = 4) -> (MachineHarness, small: ConnectionID, large: ConnectionID) {
        var harness = MachineHarness()
        let (small, _) = harness.worker("a-small", WorkerRegistration(capacity: 4, kinds: ["echo"], maximumPayloadBytes: smallPayloadBytes))
        let (large, _) = harness.worker("b-large", WorkerRegistration(capacity: largeCapacity, kinds: ["echo"]))
        return (harness, small, large)
    }

    @Test func aPayloadAtTheWorkersLimitGoesToItAndOneByteMoreGoesToAWorkerWithLargerFrames() {
        var (harness, small, large) = cluster()
        let client = harness.connect(.client, "client")
        let atLimit = harness.submit([harness.task("at", bytes: 1_000)], from: client, requestID: 1)
        #expect(atLimit.dispatched(to: small).map(\.spec) == ["at"])
        let over = harness.submit([harness.task("over", bytes: 1_001)], from: client, requestID: 2)
        #expect(over.dispatched(to: large).map(\.spec) == ["over"])
        #expect(over.dispatched(to: small).isEmpty)
    }

    @Test func aLargeTaskWaitsForTheBusyLargeWorkerWhileSmallerOnesBehindItGoToTheSmallWorker() {
        var (harness, small, large) = cluster(largeCapacity: 1)
        let client = harness.connect(.client, "client")
        let first = harness.submit([harness.task("busy", bytes: 5_000)], from: client, requestID: 1).dispatched(to: large)
        #expect(first.map(\.spec) == ["busy"])

        let queued = harness.submit(
            [harness.task("big", bytes: 5_000), harness.task("s1", bytes: 10), harness.task("s2", bytes: 10)], from: client, requestID: 2)
        #expect(queued.dispatched(to: small).map(\.spec) == ["s1", "s2"])
        #expect(queued.dispatched(to: large).isEmpty)
        #expect(queued.delivered(to: client).isEmpty)
        #expect(harness.machine.queuedCount == 1)

        let freed = harness.succeed(first, on: large)
        #expect(freed.dispatched(to: large).map(\.spec) == ["big"])
        #expect(freed.dispatched(to: small).isEmpty)
        #expect(harness.machine.queuedCount == 0)
    }

    @Test func skippedLargeTasksKeepTheirOrderAtTheHeadOfTheQueue() {
        var (harness, small, large) = cluster(largeCapacity: 1)
        let client = harness.connect(.client, "client")
        let first = harness.submit([harness.task("busy", bytes: 5_000)], from: client, requestID: 1).dispatched(to: large)
        _ = harness.submit([harness.task("big1", bytes: 5_000), harness.task("big2", bytes: 5_000)], from: client, requestID: 2)
        let next = harness.succeed(first, on: large).dispatched(to: large)
        #expect(next.map(\.spec) == ["big1"])
        #expect(harness.succeed(next, on: large).dispatched(to: large).map(\.spec) == ["big2"])
        _ = small
    }

    @Test func aSmallWorkerPassesOverAtMostABoundedNumberOfLargeTasksInOnePass() {
        var (harness, small, large) = cluster(largeCapacity: 1)
        let client = harness.connect(.client, "client")
        _ = harness.submit([harness.task("busy", bytes: 5_000)], from: client, requestID: 1)
        let bigs = (0..<Machine.maximumSkips).map { harness.task("big\($0)", bytes: 5_000) }
        let queued = harness.submit(bigs + [harness.task("small", bytes: 10)], from: client, requestID: 2)
        // The small task sits behind more large ones than one pass passes over.
        #expect(queued.dispatched(to: small).isEmpty)
        #expect(harness.machine.queuedCount == Machine.maximumSkips + 1)
        _ = large
    }

    @Test func aTaskNoConnectedWorkerCanBeSentWaitsSaysSoAndRunsWhenALargerWorkerRegisters() {
        var harness = MachineHarness()
        let (w1, _) = harness.worker("w1", WorkerRegistration(capacity: 4, kinds: ["echo"], maximumPayloadBytes: 1_000))
        let (w2, _) = harness.worker("w2", WorkerRegistration(capacity: 4, kinds: ["echo"], maximumPayloadBytes: 2_000))
        let client = harness.connect(.client, "client")
        let actions = harness.submit([harness.task("huge", bytes: 2_001), harness.task("fits", bytes: 2_000)], from: client)
        #expect(actions.dispatched(to: w1).isEmpty)
        #expect(actions.dispatched(to: w2).map(\.spec) == ["fits"])
        #expect(actions.delivered(to: client).isEmpty, "it waits: a worker with larger frames may be restarting or not yet registered")
        #expect(actions.logged("tasks wait for a worker whose frames carry their payload"))
        #expect(harness.machine.queuedCount == 1)

        // The warning comes at most once per interval, however many passes skip the task.
        let again = harness.submit([harness.task("small", bytes: 10)], from: client, requestID: 2)
        #expect(!again.logged("tasks wait for a worker whose frames carry their payload"))
        harness.advance(by: Machine.tooLargeWarningInterval)
        #expect(harness.submit([harness.task("small2", bytes: 10)], from: client, requestID: 3).logged("tasks wait for a worker whose frames carry their payload"))

        let (w3, registered) = harness.worker("w3", WorkerRegistration(capacity: 4, kinds: ["echo"]))
        #expect(registered.dispatched(to: w3).map(\.spec) == ["huge"])
    }

    @Test func aWaitingTaskThatNoWorkerCanBeSentEndsAtItsDeadlineWithTheReason() {
        var harness = MachineHarness()
        _ = harness.worker("w1", WorkerRegistration(capacity: 4, kinds: ["echo"], maximumPayloadBytes: 1_000))
        let client = harness.connect(.client, "client")
        let task = harness.task("huge", bytes: 1_001, timeout: .seconds(2))
        #expect(harness.submit([task], from: client).delivered(to: client).isEmpty)
        harness.advance(by: .seconds(2))
        let expired = harness.wakeUp().delivered(to: client)
        let error = expired.first?.error
        #expect(expired.map(\.taskID) == ["huge"] && error?.code == .deadlineExceeded)
        #expect(error?.message.contains("was not run") == true && error?.message.contains("1001 bytes") == true)
        #expect(error?.message.contains("w1 1000") == true && error?.message.contains("limits.max_frame_bytes") == true)
        #expect(error?.traceID == task.traceID && error?.originNode == "coordinator")
    }

    @Test func aLargeTaskWaitsThroughADrainAndARestartOfTheOnlyLargeWorker() {
        var (harness, small, large) = cluster(largeCapacity: 1)
        let client = harness.connect(.client, "client")
        let running = harness.submit([harness.task("busy", bytes: 5_000)], from: client, requestID: 1).dispatched(to: large)
        _ = harness.machine.draining(from: large, now: harness.now)
        let queued = harness.submit([harness.task("big", bytes: 5_000), harness.task("s", bytes: 10)], from: client, requestID: 2)
        #expect(queued.dispatched(to: small).map(\.spec) == ["s"])
        #expect(queued.delivered(to: client).isEmpty)

        _ = harness.succeed(running, on: large)
        let left = harness.machine.disconnected(large, now: harness.now)
        let meanwhile = left + harness.submit([harness.task("s2", bytes: 10)], from: client, requestID: 3)
        #expect(meanwhile.delivered(to: client).isEmpty, "nothing fails while the large worker restarts")
        #expect(meanwhile.dispatched(to: small).map(\.spec) == ["s2"])

        let (back, registered) = harness.worker("b-large", WorkerRegistration(capacity: 1, kinds: ["echo"]))
        #expect(registered.dispatched(to: back).map(\.spec) == ["big"])
    }

    @Test func aRetryThatAvoidsItsFailedWorkerStillGoesOnlyWhereItFits() {
        var harness = CoordinatorRetryTests.harness()
        let (small, _) = harness.worker("a-small", WorkerRegistration(capacity: 4, kinds: ["echo"], maximumPayloadBytes: 1_000))
        let (large, _) = harness.worker("b-large", WorkerRegistration(capacity: 4, kinds: ["echo"]))
        let client = harness.connect(.client, "client")
        let first = harness.submit([harness.task("big", bytes: 5_000)], from: client).dispatched(to: large)
        #expect(first.count == 1)
        _ = harness.fail(first, on: large)
        harness.advance(by: .seconds(1))
        let retried = harness.wakeUp()
        #expect(retried.dispatched(to: small).isEmpty)
        #expect(retried.dispatched(to: large).map(\.attempt) == [2])
    }

    typealias Machine = MachineHarness.Machine

    /// The status names each worker's largest payload: its own frames' where smaller, else the
    /// coordinator's (what a worker that announced no frame limit gets).
    @Test func theStatusShowsTheLargestPayloadTheCoordinatorSendsEachWorker() {
        var (harness, _, _) = cluster()
        let admin = harness.connect(.admin, "admin")
        guard case .sendStatus(_, let status)? = harness.machine.statusRequested(from: admin).first else {
            Issue.record("no status was sent")
            return
        }
        let largest = harness.machine.settings.maximumPayloadBytes
        #expect(status.workers.map(\.name) == ["a-small", "b-large"])
        #expect(status.workers.map(\.maximumPayloadBytes) == [1_000, largest])
    }
}
