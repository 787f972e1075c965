import Testing

@testable import PhalanxCore

@Suite struct DispatchMachineTests {
    typealias Machine = DispatchMachine<String>

    func key(_ id: String, client: String = "c1") -> TaskKey { TaskKey(client: client, taskID: id) }

    @Test func assignsToTheLeastLoadedWorkerServingTheKind() {
        var machine = Machine(maximumQueuedTasks: 100)
        machine.workerRegistered(name: "w1", capacity: 2, kinds: ["echo"])
        machine.workerRegistered(name: "w2", capacity: 2, kinds: ["echo", "sha256"])
        for id in ["a", "b", "c"] { #expect(machine.submit(key(id), kind: "echo", task: id) == .accepted) }
        #expect(machine.submit(key("h"), kind: "sha256", task: "h") == .accepted)
        let assignments = machine.assign()
        #expect(assignments.count == 4)
        #expect(assignments.first { $0.key.taskID == "h" }?.worker == "w2")
        #expect(machine.workers["w1"]?.inFlight == 2 && machine.workers["w2"]?.inFlight == 2)
        #expect(assignments.allSatisfy { $0.attempt == 1 })
    }

    @Test func neverExceedsCapacityAndKeepsTheRestQueued() {
        var machine = Machine(maximumQueuedTasks: 100)
        machine.workerRegistered(name: "w1", capacity: 3, kinds: ["echo"])
        for index in 0..<10 { _ = machine.submit(key("\(index)"), kind: "echo", task: "") }
        #expect(machine.assign().count == 3)
        #expect(machine.assign().isEmpty)
        #expect(machine.queuedCount == 7 && machine.runningCount == 3)
    }

    @Test func aKindNobodyServesDoesNotBlockOthers() {
        var machine = Machine(maximumQueuedTasks: 100)
        machine.workerRegistered(name: "w1", capacity: 5, kinds: ["echo"])
        _ = machine.submit(key("x"), kind: "exotic", task: "")
        _ = machine.submit(key("e"), kind: "echo", task: "")
        #expect(machine.assign().map(\.key.taskID) == ["e"])
        #expect(machine.queuedCount == 1)
    }

    @Test func duplicatesAreIgnoredAndTheQueueIsBounded() {
        var machine = Machine(maximumQueuedTasks: 2)
        #expect(machine.submit(key("a"), kind: "echo", task: "") == .accepted)
        #expect(machine.submit(key("a"), kind: "echo", task: "") == .duplicate)
        #expect(machine.submit(key("a", client: "c2"), kind: "echo", task: "") == .accepted)
        #expect(machine.submit(key("b"), kind: "echo", task: "") == .overloaded(queued: 2))
    }

    @Test func resultsAreFencedByWorkerAndAttempt() {
        var machine = Machine(maximumQueuedTasks: 10)
        machine.workerRegistered(name: "w1", capacity: 1, kinds: ["echo"])
        _ = machine.submit(key("a"), kind: "echo", task: "")
        _ = machine.assign()
        guard case .stale = machine.resultReceived(from: "w2", key: key("a"), attempt: 1) else { Issue.record("wrong worker accepted"); return }
        guard case .stale = machine.resultReceived(from: "w1", key: key("a"), attempt: 2) else { Issue.record("wrong attempt accepted"); return }
        guard case .accepted = machine.resultReceived(from: "w1", key: key("a"), attempt: 1) else { Issue.record("right result refused"); return }
        guard case .stale = machine.resultReceived(from: "w1", key: key("a"), attempt: 1) else { Issue.record("duplicate accepted"); return }
        #expect(machine.workers["w1"]?.inFlight == 0 && machine.workers["w1"]?.finished == 1)
    }

    @Test func aLostWorkersTasksAreRequeuedUnderANewAttemptAndItsLateResultsDropped() {
        var machine = Machine(maximumQueuedTasks: 10, maximumAttempts: 2)
        machine.workerRegistered(name: "w1", capacity: 1, kinds: ["echo"])
        _ = machine.submit(key("a"), kind: "echo", task: "payload")
        _ = machine.assign()
        let (requeued, gaveUp) = machine.workerLost(name: "w1")
        #expect(requeued == [key("a")] && gaveUp.isEmpty)
        machine.workerRegistered(name: "w2", capacity: 1, kinds: ["echo"])
        let second = machine.assign()
        #expect(second.first?.worker == "w2" && second.first?.attempt == 2 && second.first?.task == "payload")
        guard case .stale = machine.resultReceived(from: "w1", key: key("a"), attempt: 1) else { Issue.record("superseded attempt accepted"); return }
        // Out of attempts: the next loss gives up on the task.
        let (_, gaveUpNow) = machine.workerLost(name: "w2")
        #expect(gaveUpNow == [key("a")])
        #expect(machine.queuedCount == 0 && machine.runningCount == 0)
    }

    @Test func requeuedTasksGoFirst() {
        var machine = Machine(maximumQueuedTasks: 10)
        machine.workerRegistered(name: "w1", capacity: 1, kinds: ["echo"])
        _ = machine.submit(key("old"), kind: "echo", task: "")
        _ = machine.assign()
        _ = machine.submit(key("new"), kind: "echo", task: "")
        _ = machine.workerLost(name: "w1")
        machine.workerRegistered(name: "w1", capacity: 1, kinds: ["echo"])
        #expect(machine.assign().first?.key.taskID == "old")
    }
}

extension DispatchMachineTests {
    @Test func aWorkerLostAndRegisteredAgainStartsWithAnEmptySlotAndFencedOldAttempts() {
        var machine = Machine(maximumQueuedTasks: 10)
        machine.workerRegistered(name: "w1", capacity: 2, kinds: ["echo"])
        _ = machine.submit(key("a"), kind: "echo", task: "")
        _ = machine.assign()
        _ = machine.workerLost(name: "w1")
        machine.workerRegistered(name: "w1", capacity: 2, kinds: ["echo"])
        let again = machine.assign()
        #expect(again.first?.attempt == 2)
        guard case .stale = machine.resultReceived(from: "w1", key: key("a"), attempt: 1) else { Issue.record("old attempt accepted"); return }
        guard case .accepted = machine.resultReceived(from: "w1", key: key("a"), attempt: 2) else { Issue.record("new attempt refused"); return }
        #expect(machine.workers["w1"]?.inFlight == 0)
    }
}
