import PhalanxResilience
import Testing

@testable import PhalanxCore

/// Task trees: children run in their parent's attempt's scope, report back to it, and end with it.
@Suite struct TaskTreeTests {
    typealias Harness = MachineHarness

    /// Root on w1 with `names` children spawned by its first attempt; returns the root assignment and the spawn's actions.
    func root(_ harness: inout Harness, client: ConnectionID, on worker: ConnectionID, children names: [String], policy: ChildPolicy = .failFast)
        -> (TaskAssignment<String>, [Harness.Action])
    {
        let root = harness.submit(["root"], from: client).dispatched(to: worker)[0]
        let actions = harness.machine.spawn(
            from: worker, requestID: 7, parent: root.task, attempt: root.attempt, children: names.map { harness.task($0, kind: "other") }, policy: policy,
            now: harness.now)
        return (root, actions)
    }

    func childResults(_ actions: [Harness.Action], to worker: ConnectionID) -> [ChildResult<String>] {
        actions.flatMap { action -> [ChildResult<String>] in
            if case .deliverToParent(worker, let results) = action { return results }
            return []
        }
    }

    func stops(_ actions: [Harness.Action]) -> [TaskNumber] {
        actions.flatMap { action -> [TaskNumber] in
            if case .cancelAttempts(_, let attempts) = action { return attempts.map(\.task) }
            return []
        }
    }

    @Test func childrenRunOnAnyWorkerAndTheirResultsGoToTheParentsAttemptNotToTheClient() {
        var harness = Harness()
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 1)
        let (w2, _) = harness.worker("w2", capacity: 4, kinds: ["other"])
        let (_, spawned) = root(&harness, client: client, on: w1, children: ["a", "b"])
        #expect(spawned.contains { if case .spawnReply(w1, 7, 2, nil) = $0 { true } else { false } })
        let children = spawned.dispatched(to: w2)
        #expect(children.map(\.spec) == ["a", "b"])  // w1 is full with the root: they run on w2
        #expect(!spawned.contains { if case .persist = $0 { true } else { false } })  // children live in memory only

        let done = harness.succeed(children, on: w2)
        #expect(childResults(done, to: w1).map(\.name) == ["a", "b"])
        #expect(done.delivered(to: client).isEmpty)
    }

    @Test func theFirstFailedChildCancelsItsSiblingsWhereverTheyRun() {
        var harness = Harness()
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 1)
        let (w2, _) = harness.worker("w2", capacity: 2, kinds: ["other"])
        let (_, spawned) = root(&harness, client: client, on: w1, children: ["a", "b", "c"])
        let running = spawned.dispatched(to: w2)  // a and b run; c waits in the queue
        #expect(running.map(\.spec) == ["a", "b"] && harness.machine.queuedCount == 1)
        let failed = harness.fail([running[0]], on: w2, .business)
        let reported = childResults(failed, to: w1)
        #expect(reported.map(\.name) == ["a", "c"])  // c, still queued, ends CANCELLED at once
        #expect(reported.last?.delivery.error?.code == .cancelled)
        #expect(stops(failed) == [running[1].task])  // b is stopped on w2
        #expect(harness.machine.queuedCount == 0)
    }

    @Test func withThePolicyAllAFailureCancelsNothing() {
        var harness = Harness()
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 1)
        let (w2, _) = harness.worker("w2", capacity: 2, kinds: ["other"])
        let (_, spawned) = root(&harness, client: client, on: w1, children: ["a", "b"], policy: .all)
        let running = spawned.dispatched(to: w2)
        #expect(stops(harness.fail([running[0]], on: w2, .business)).isEmpty)
        #expect(childResults(harness.succeed([running[1]], on: w2), to: w1).map(\.name) == ["b"])
    }

    @Test func cancellingTheRootReachesEveryDescendantAtOnce() {
        var harness = Harness()
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 10, kinds: ["echo", "other"])
        let (rootTask, spawned) = root(&harness, client: client, on: w1, children: ["mid"])
        let mid = spawned.dispatched(to: w1)[0]
        let leaves = harness.machine.spawn(
            from: w1, requestID: 8, parent: mid.task, attempt: mid.attempt, children: [harness.task("x"), harness.task("y")], policy: .failFast,
            now: harness.now
        ).dispatched(to: w1)
        #expect(leaves.count == 2)
        let cancel = harness.machine.cancel(from: client, requestID: 9, taskIDs: ["root"], now: harness.now)
        #expect(Set(stops(cancel)) == Set([rootTask.task, mid.task] + leaves.map(\.task)))  // in one step, not level by level
    }

    @Test func aParentThatFinishesOrLosesItsWorkerTakesItsUnfinishedChildrenWithIt() {
        var harness = Harness()
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 1)
        let (w2, _) = harness.worker("w2", capacity: 4, kinds: ["echo", "other"])
        let rootTask = harness.submit(["root"], from: client).dispatched(to: w1)[0]
        let spawned = harness.machine.spawn(
            from: w1, requestID: 7, parent: rootTask.task, attempt: 1, children: [harness.task("a", kind: "other")], policy: .failFast,
            now: harness.now)
        let child = try! #require(spawned.dispatched(to: w2).first)  // only w2 serves "other"
        // w1 dies: the root runs again (attempt 2, on w2) and the child of attempt 1 is stopped.
        let lost = harness.machine.disconnected(w1, now: harness.now)
        #expect(stops(lost) == [child.task])
        let again = lost.dispatched(to: w2)
        #expect(again.map(\.task) == [rootTask.task] && again[0].attempt == 2)
        // The old child's late result reaches nobody.
        #expect(childResults(harness.succeed([child], on: w2), to: w2).isEmpty)

        // Attempt 2 starts a child and finishes without waiting: the child is stopped.
        let second = harness.machine.spawn(
            from: w2, requestID: 10, parent: rootTask.task, attempt: 2, children: [harness.task("a")], policy: .failFast, now: harness.now
        ).dispatched(to: w2)
        let finished = harness.succeed(again, on: w2)
        #expect(stops(finished) == second.map(\.task))
        #expect(finished.delivered(to: client).map(\.taskID) == ["root"])
    }

    @Test func aSpawnFromAnAttemptThatNoLongerRunsOrWithBadNamesIsRefusedWhole() {
        var harness = Harness()
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 2)
        let (rootTask, _) = root(&harness, client: client, on: w1, children: ["a"])
        func reply(_ actions: [Harness.Action]) -> ErrorContext? {
            for case .spawnReply(_, _, _, let error) in actions { return error }
            return nil
        }
        let stale = harness.machine.spawn(
            from: w1, requestID: 1, parent: rootTask.task, attempt: 5, children: [harness.task("b")], policy: .failFast, now: harness.now)
        #expect(reply(stale)?.code == .conflict)
        let twice = harness.machine.spawn(
            from: w1, requestID: 2, parent: rootTask.task, attempt: 1, children: [harness.task("a")], policy: .failFast, now: harness.now)
        #expect(reply(twice)?.message.contains("used twice") == true)
        let slash = harness.machine.spawn(
            from: w1, requestID: 3, parent: rootTask.task, attempt: 1, children: [harness.task("a/b")], policy: .failFast, now: harness.now)
        #expect(reply(slash)?.code == .invalidArgument)
    }

    @Test func aChildsDeadlineIsAtMostItsParents() {
        var harness = Harness()
        let client = harness.connect(.client, "app")
        let (w1, _) = harness.worker("w1", capacity: 1)
        let root = harness.submit([harness.task("root", timeout: .seconds(2))], from: client).dispatched(to: w1)[0]
        _ = harness.machine.spawn(
            from: w1, requestID: 1, parent: root.task, attempt: 1, children: [harness.task("slow", kind: "other", timeout: .seconds(60))],
            policy: .failFast, now: harness.now)
        // The child waits in the queue (no worker serves its kind); it expires with its parent's deadline, not its own.
        harness.advance(by: .seconds(1))
        _ = harness.wakeUp()
        #expect(harness.machine.queuedCount == 1)
        harness.advance(by: .seconds(2))
        let expired = harness.wakeUp()
        #expect(harness.machine.queuedCount == 0)
        #expect(childResults(expired, to: w1).first?.delivery.error?.code == .deadlineExceeded)
    }
}

/// A parent waiting for its children holds no slot: a tree wider than the cluster cannot deadlock.
@Suite struct WaitingParentTests {
    @Test func aTreeDeeperThanTheSlotsStillRunsBecauseWaitingParentsFreeTheirSlots() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1", capacity: 1)
        var parent = harness.submit(["root"], from: client).dispatched(to: worker)[0]
        // Three levels on one slot: each parent starts one child and waits for it.
        for level in 1...3 {
            let child = harness.machine.spawn(
                from: worker, requestID: UInt64(level), parent: parent.task, attempt: parent.attempt, children: [harness.task("c")],
                policy: .failFast, now: harness.now
            ).dispatched(to: worker)
            #expect(child.count == 1, "level \(level): the waiting parent's slot runs its child")
            parent = child[0]
        }
        #expect(harness.machine.workers[worker]!.busy == 1)
        // The leaf finishes; its parent is busy again, so nothing else may start on the slot.
        _ = harness.succeed([parent], on: worker)
        #expect(harness.machine.workers[worker]!.busy == 1 && harness.machine.workers[worker]!.waiting == 2)
        #expect(harness.submit(["other"], from: client, requestID: 9).dispatched(to: worker).isEmpty)
    }
}

/// What a client may cancel by id: its own tasks and resubmissions of them, not children.
@Suite struct CancelByIDTests {
    @Test func aChildCannotBeCancelledByItsIDButAResubmissionCancelsItsOriginal() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        let (worker, _) = harness.worker("w1", capacity: 4)
        let root = harness.submit(["root"], from: client).dispatched(to: worker)[0]
        _ = harness.machine.spawn(
            from: worker, requestID: 1, parent: root.task, attempt: 1, children: [harness.task("c")], policy: .failFast, now: harness.now)
        let child = harness.machine.cancel(from: client, requestID: 2, taskIDs: ["root/1/c"], now: harness.now)
        #expect(child.contains { if case .cancelReply(_, 2, [], ["root/1/c"]) = $0 { true } else { false } })

        var original = harness.task("pay")
        original.idempotencyKey = "k"
        _ = harness.submit([original], from: client, requestID: 3)
        var retry = harness.task("pay-retry")
        retry.idempotencyKey = "k"
        _ = harness.submit([retry], from: client, requestID: 4)
        let cancel = harness.machine.cancel(from: client, requestID: 5, taskIDs: ["pay-retry"], now: harness.now)
        #expect(cancel.contains { if case .cancelReply(_, 5, ["pay-retry"], []) = $0 { true } else { false } })
    }
}
