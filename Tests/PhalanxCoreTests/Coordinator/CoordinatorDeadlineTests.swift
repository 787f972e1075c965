import PhalanxResilience
import Testing

@testable import PhalanxCore

/// Queued tasks whose deadline passes finish `DEADLINE_EXCEEDED` without being dispatched.
@Suite struct CoordinatorDeadlineTests {
    @Test func aTaskOfAKindNobodyServesFinishesDeadlineExceededAtItsDeadline() {
        var harness = MachineHarness()
        _ = harness.worker("w1", kinds: ["echo"])
        let client = harness.connect(.client, "client")
        let task = harness.task("orphan", kind: "exotic", timeout: .seconds(2))
        let submitted = harness.submit([task], from: client)
        #expect(submitted.wakeUps.contains(.seconds(2)))

        harness.advance(by: .milliseconds(1_999))
        #expect(harness.wakeUp().delivered(to: client).isEmpty)
        harness.advance(by: .milliseconds(1))
        let expired = harness.wakeUp().delivered(to: client)
        #expect(expired.count == 1)
        let error = expired.first?.error
        #expect(error?.code == .deadlineExceeded && error?.message.contains("was not run") == true)
        #expect(error?.traceID == task.traceID && error?.taskID == "orphan" && error?.originNode == "coordinator")
        #expect(harness.machine.heldCount == 0 && harness.machine.counters.expired == 1)
    }

    @Test func aQueuedTaskExpiresAtItsDeadlineWhenNoWorkerIsConnectedAtAll() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "client")
        _ = harness.submit([harness.task("alone", timeout: .seconds(1))], from: client)
        harness.advance(by: .seconds(1))
        let expired = harness.wakeUp().delivered(to: client)
        #expect(expired.map(\.taskID) == ["alone"] && expired.first?.error?.code == .deadlineExceeded)
    }

    @Test func anExpiredQueuedTaskIsNeverDispatchedEvenIfAWorkerComesLater() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "client")
        _ = harness.submit([harness.task("late", timeout: .seconds(1))], from: client)
        harness.advance(by: .seconds(5))
        let (worker, registered) = harness.worker("w1")
        #expect(registered.dispatched(to: worker).isEmpty)
        #expect(registered.delivered(to: client).first?.error?.code == .deadlineExceeded)
    }

    @Test func aRunningTaskIsLeftToTheWorkerWhichEnforcesItsDeadline() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        let running = harness.submit([harness.task("r", timeout: .seconds(1))], from: client).dispatched(to: worker)
        harness.advance(by: .seconds(2))
        _ = harness.machine.heartbeat(from: worker, now: harness.now)
        #expect(harness.wakeUp().delivered(to: client).isEmpty)
        #expect(harness.succeed(running, on: worker).delivered(to: client).count == 1)
    }

    /// A finished task's deadline entry does not wait for its deadline to be dropped: with an hour's
    /// timeout at 40,000 tasks/s the heap would otherwise hold 144 million entries (2.3 GB).
    @Test func finishedTasksDeadlinesDoNotPileUpUntilTheyPass() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1", capacity: 1_000)
        let client = harness.connect(.client, "client")
        for round in 0..<20 {
            let tasks = (0..<500).map { harness.task("r\(round)-\($0)", timeout: .seconds(3_600)) }
            let running = harness.submit(tasks, from: client, requestID: UInt64(round + 1)).dispatched(to: worker)
            #expect(running.count == 500)
            #expect(harness.succeed(running, on: worker).delivered(to: client).count == 500)
            harness.advance(by: .milliseconds(10))
        }
        // 10,000 tasks finished, none live: what is kept is bounded by the live tasks (none) plus slack.
        #expect(harness.machine.deadlines.count <= 2 * 500 + 1_024, "\(harness.machine.deadlines.count) deadline entries kept")
        // Live tasks keep theirs, and still expire at their deadline.
        let waiting = harness.task("waiting", kind: "exotic", timeout: .seconds(5))
        _ = harness.submit([waiting], from: client, requestID: 100)
        for round in 0..<6 {
            let tasks = (0..<500).map { harness.task("s\(round)-\($0)", timeout: .seconds(3_600)) }
            _ = harness.succeed(harness.submit(tasks, from: client, requestID: UInt64(200 + round)).dispatched(to: worker), on: worker)
        }
        harness.advance(by: .seconds(5))
        #expect(harness.wakeUp().delivered(to: client).map(\.taskID) == ["waiting"])
    }

    @Test func tasksWithoutDeadlinesNeverExpire() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "client")
        let actions = harness.submit(["forever"], kind: "exotic", from: client)
        #expect(actions.wakeUps.isEmpty)
        harness.advance(by: .seconds(86_400))
        #expect(harness.wakeUp().delivered(to: client).isEmpty && harness.machine.queuedCount == 1)
    }
}

@Suite struct DeadlineQueueTests {
    @Test func popsInDeadlineOrder() {
        var queue = DeadlineQueue()
        for (task, seconds) in [(1, 5), (2, 1), (3, 3), (4, 1), (5, 9)] { queue.insert(TaskNumber(task), deadline: .seconds(seconds)) }
        #expect(queue.earliest == .seconds(1))
        #expect(Set(queue.popExpired(at: .seconds(1))) == [2, 4])
        #expect(queue.popExpired(at: .seconds(4)) == [3])
        #expect(queue.popExpired(at: .seconds(100)) == [1, 5])
        #expect(queue.isEmpty)
    }

    @Test func droppingEntriesKeepsTheRestInDeadlineOrder() {
        var queue = DeadlineQueue()
        let deadlines = (0..<1_000).map { ($0 * 7_919) % 1_000 }  // every second from 0 to 999 once, shuffled
        for (task, seconds) in deadlines.enumerated() { queue.insert(TaskNumber(task), deadline: .seconds(seconds)) }
        queue.removeAll { $0 % 3 == 0 }
        #expect(queue.count == 666)
        var popped: [Int] = []
        for second in 0..<1_000 { popped += queue.popExpired(at: .seconds(second)).map { deadlines[Int($0)] } }
        #expect(popped == deadlines.enumerated().filter { $0.offset % 3 != 0 }.map(\.element).sorted())
        #expect(queue.isEmpty)
        queue.removeAll { _ in true }  // an empty heap stays a heap
        queue.insert(1, deadline: .seconds(5))
        #expect(queue.earliest == .seconds(5))
    }
}

@Suite struct HeartbeatMonitorTests {
    @Test func aMemberSilentLongerThanTheWindowExpiresOnce() {
        var monitor = HeartbeatMonitor<String>(window: .seconds(5))
        monitor.heard(from: "w1", at: .zero)
        monitor.heard(from: "w2", at: .seconds(3))
        #expect(monitor.nextExpiry == .seconds(5) + .milliseconds(1))
        #expect(monitor.expired(at: .seconds(5)).isEmpty, "exactly the window is still alive")
        #expect(monitor.expired(at: .seconds(6)) == ["w1"])
        #expect(monitor.expired(at: .seconds(7)).isEmpty, "expired once")
        #expect(monitor.expired(at: .seconds(9)) == ["w2"])
        #expect(monitor.nextExpiry == nil)
    }
}
