import PhalanxResilience
import Testing

@testable import PhalanxCore

/// Results go to the connection that submitted, never by certificate name.
@Suite struct CoordinatorRoutingTests {
    @Test func twoConnectionsWithOneCertificateEachGetExactlyTheirOwnResults() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1", capacity: 100)
        let first = harness.connect(.client, "client")
        let second = harness.connect(.client, "client")
        let a = harness.submit((0..<5).map { "a\($0)" }, from: first)
        let b = harness.submit((0..<3).map { "b\($0)" }, from: second)
        #expect(a.acknowledged == 5 && b.acknowledged == 3)
        let assignments = a.dispatched(to: worker) + b.dispatched(to: worker)
        #expect(assignments.count == 8)

        let results = harness.succeed(assignments, on: worker)
        #expect(results.delivered(to: first).map(\.taskID).sorted() == (0..<5).map { "a\($0)" })
        #expect(results.delivered(to: second).map(\.taskID).sorted() == (0..<3).map { "b\($0)" })
        #expect(results.delivered(to: first).allSatisfy { $0.output == "out-\($0.taskID)" && $0.worker == "w1" })
    }

    @Test func closingOneConnectionLeavesTheOtherServed() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1", capacity: 100)
        let first = harness.connect(.client, "client")
        let second = harness.connect(.client, "client")
        let a = harness.submit(["a"], from: first)
        _ = harness.machine.disconnected(first, now: harness.now)
        let b = harness.submit(["b"], from: second)
        let results = harness.succeed(a.dispatched(to: worker) + b.dispatched(to: worker), on: worker)
        #expect(results.delivered(to: second).map(\.taskID) == ["b"])
        #expect(results.delivered(to: first).isEmpty)
        #expect(harness.machine.counters.undeliverable == 1)
    }

    @Test func theSameTaskIdFromTwoClientNamesIsTwoTasks() {
        var harness = MachineHarness()
        let one = harness.connect(.client, "alice")
        let two = harness.connect(.client, "bob")
        #expect(harness.submit(["t"], from: one).acknowledged == 1)
        #expect(harness.submit(["t"], from: two).acknowledged == 1)
        #expect(harness.machine.heldCount == 2)
    }

    @Test func aClientWithWorkOutstandingHoldsItsIdleTimeoutUntilTheLastResult() {
        var harness = MachineHarness()
        let (worker, _) = harness.worker("w1")
        let client = harness.connect(.client, "client")
        let submitted = harness.submit(["a", "b"], from: client)
        #expect(submitted.contains { if case .holdIdleTimeout(client, true) = $0 { true } else { false } })
        let assignments = submitted.dispatched(to: worker)
        let first = harness.succeed([assignments[0]], on: worker)
        #expect(!first.contains { if case .holdIdleTimeout(_, false) = $0 { true } else { false } })
        let last = harness.succeed([assignments[1]], on: worker)
        #expect(last.contains { if case .holdIdleTimeout(client, false) = $0 { true } else { false } })
    }

    @Test func heartbeatsAreAnsweredOnEveryConnection() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "client")
        let (worker, _) = harness.worker("w1")
        #expect(harness.machine.heartbeat(from: client, now: harness.now).contains { if case .answerHeartbeat(client) = $0 { true } else { false } })
        #expect(harness.machine.heartbeat(from: worker, now: harness.now).contains { if case .answerHeartbeat(worker) = $0 { true } else { false } })
    }
}
