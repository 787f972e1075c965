import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// Task trees across real worker processes: a root, its children and grandchildren over three
    /// workers; cancelling the root stops every descendant, and a failing leaf fails its ancestors
    /// with its cause after cancelling its siblings.
    @Suite(.timeLimit(.minutes(1))) struct TaskTreeEndToEndTests {
        @Test func cancellingTheRootOfAThreeLevelTreeStopsEveryDescendantOnEveryWorker() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2", "w3"], capacity: 4)
            var latencies: [Duration] = []
            for trial in 0..<100 {
                let root = "root-\(trial)"
                try await client.submit([TaskRequest(taskID: root, kind: "tree", text: "2 2 60000")])  // 1 + 2 + 4 tasks
                try await eventually("the whole tree runs", within: .seconds(10)) { try await client.status().tasksRunning == 7 }
                if trial == 0 {
                    let busy = try await client.status().workers.filter { $0.inFlight > 0 }
                    #expect(busy.count == 3, "the tree spreads over the three workers: \(busy.map(\.name))")
                }
                let started = ContinuousClock.now
                #expect(try await client.cancel([root]).cancelled == [root])
                while try await client.status().tasksRunning > 0 {}
                latencies.append(ContinuousClock.now - started)
                let outcome = await client.outcome(of: root)
                guard case .failure(let error) = outcome.result else {
                    Issue.record("the cancelled root succeeded: \(outcome.result)")
                    return
                }
                #expect(error.code == .cancelled)
            }
            latencies.sort()
            let p50 = latencies[latencies.count / 2], p99 = latencies[latencies.count * 99 / 100]
            print("tree cancel, 100 trials: p50 \(p50), p99 \(p99) from the cancel request until no descendant runs")
            #expect(p99 < .milliseconds(500), "p99 \(p99)")  // the goal is 50 ms; this bound only catches a stall
            let status = try await client.status()
            #expect(status.tasksRunning == 0 && status.tasksQueued == 0)
            await client.close()
        }

        @Test func aTreeWithMoreWaitingParentsThanSlotsFinishesInsteadOfDeadlocking() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"], capacity: 2)
            // 7 inner nodes wait for children on 2 slots: waiting parents hold none.
            let outcome = try await client.run([TaskRequest(taskID: "wide", kind: "tree", text: "3 2 10")])[0]
            #expect(outcome.outputText == "8", "\(outcome.result)")
            await client.close()
        }

        @Test func aFailingLeafCancelsItsSiblingsAndTheRootErrorCarriesTheLeafsCause() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2", "w3"], capacity: 4)
            let started = ContinuousClock.now
            let outcome = try await client.run([TaskRequest(taskID: "root", kind: "tree", text: "2 2 60000 fail")])[0]
            #expect(ContinuousClock.now - started < .seconds(30), "the 60 s siblings were cancelled, not waited for")
            guard case .failure(let error) = outcome.result else {
                Issue.record("expected the root to fail, got \(outcome.result)")
                return
            }
            #expect(error.code == .businessRejected && error.taskID == "root")
            let middle = try #require(error.causes.first)
            let leaf = try #require(middle.causes.first)
            #expect(middle.taskID == "root/1/c1" && leaf.taskID == "root/1/c1/1/c1")
            #expect(leaf.message == "the leaf asked to fail" && leaf.traceID == error.traceID)
            try await eventually("every sibling stopped") { try await client.status().tasksRunning == 0 }
            await client.close()
        }
    }
}
