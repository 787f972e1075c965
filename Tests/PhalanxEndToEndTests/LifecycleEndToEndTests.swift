import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// SIGTERM and `phalanx drain` stop nodes gracefully: no accepted task is lost, peers are told why.
    @Suite(.timeLimit(.minutes(1))) struct LifecycleEndToEndTests {
        @Test func aWorkerGivenSigtermFinishesItsTasksExitsZeroAndTheQueueRunsElsewhere() async throws {
            let cluster = try ClusterProcesses(settings: ["worker.drain_grace_ms=5000"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"], capacity: 4)

            let requests = (0..<12).map { TaskRequest(taskID: "t-\($0)", kind: "sleep", text: "600") }
            try await client.submit(requests)
            try await eventually("w1 runs four tasks") { try await client.status().tasksRunning == 4 }
            // The coordinator counts a task running once it sent it; give the frame time to reach w1 and
            // the tasks (600 ms each) time to start there, so that the SIGTERM finds them running.
            try await Task.sleep(for: .milliseconds(250))
            cluster.signal("w1", SIGTERM)
            let status = try await cluster.waitForExit("w1", within: .seconds(5))
            #expect(status == 0, "w1 log: \(cluster.log("w1"))")
            #expect(cluster.log("w1").contains("draining") && cluster.log("w1").contains("worker drained and stopped"))

            try cluster.startWorker("w2", capacity: 8)
            let outcomes = await requests.asyncMap { await client.outcome(of: $0.taskID) }
            #expect(outcomes.allSatisfy { $0.outputText == "600" && $0.attempt == 1 }, "\(outcomes.map(\.result))")
            #expect(outcomes.filter { $0.worker == "w1" }.count == 4, "w1 finished what it ran; nothing else went to it")
            #expect(await client.resultsReceived == 12)
            await client.close()
        }

        @Test func aDrainRequestedByAnAdminHandsBackTasksThatOutlastTheGrace() async throws {
            let cluster = try ClusterProcesses(settings: ["worker.drain_grace_ms=300"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"], capacity: 4)
            let requests = (0..<4).map { TaskRequest(taskID: "long-\($0)", kind: "sleep", text: "1500") }
            try await client.submit(requests)
            try await eventually("w1 runs them") { try await client.status().tasksRunning == 4 }

            let refused = try ClusterProcesses.runToCompletion(["drain", "w1"] + cluster.clientArguments + ["--name", "client"])
            #expect(refused.status == 1 && refused.stderr.contains("PERMISSION_DENIED"), "a client certificate may not drain: \(refused)")
            let unknown = try ClusterProcesses.runToCompletion(["drain", "w9"] + cluster.clientArguments)
            #expect(unknown.status == 1 && unknown.stderr.contains("w9"), "\(unknown)")
            let asked = try ClusterProcesses.runToCompletion(["drain", "w1"] + cluster.clientArguments)
            #expect(asked.status == 0 && asked.stdout.contains("asked w1 to drain"), "\(asked)")
            #expect(try await cluster.waitForExit("w1", within: .seconds(5)) == 0, "w1 log: \(cluster.log("w1"))")
            #expect(cluster.log("coordinator").contains("a draining worker handed tasks back"))
            // Handed back, not failed: w1 logs the drain, not four cancelled tasks.
            #expect(cluster.log("w1").contains("drained") && cluster.log("w1").contains("handed_back"), "\(cluster.log("w1"))")
            #expect(!cluster.log("w1").contains("task failed"), "\(cluster.log("w1"))")

            try cluster.startWorker("w2", capacity: 4)
            let outcomes = await requests.asyncMap { await client.outcome(of: $0.taskID) }
            #expect(outcomes.allSatisfy { $0.outputText == "1500" && $0.worker == "w2" }, "\(outcomes.map(\.result))")
            #expect(outcomes.allSatisfy { $0.attempt == 2 && $0.history.map(\.worker) == ["w1"] && $0.history.first?.lost == true }, "\(outcomes.map(\.history))")
            #expect(outcomes.allSatisfy { $0.history.first?.error.message.contains("handed the attempt back") == true })
            #expect(await client.resultsReceived == 4)
            await client.close()
        }

        @Test func aCoordinatorGivenSigtermTellsItsPeersItIsShuttingDownAndExitsZero() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            try await client.submit([TaskRequest(taskID: "pending", kind: "sleep", text: "5000")])

            cluster.signal("coordinator", SIGTERM)
            #expect(try await cluster.waitForExit("coordinator", within: .seconds(5)) == 0, "\(cluster.log("coordinator"))")
            #expect(cluster.log("coordinator").contains("coordinator shutting down"))
            let outcome = await client.outcome(of: "pending")
            guard case .failure(let error) = outcome.result else {
                Issue.record("expected UNAVAILABLE, got \(outcome.result)")
                return
            }
            #expect(error.code == .unavailable && error.message.contains("shutting down") && error.originNode == "coordinator")
            await client.close()
        }
    }
}
