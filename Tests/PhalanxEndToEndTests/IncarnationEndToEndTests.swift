import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// A restarted worker is never confused with its former self: the old process, frozen while
    /// its restart took over, is refused as superseded when it wakes, and stops.
    @Suite(.timeLimit(.minutes(1))) struct IncarnationEndToEndTests {
        @Test func anOldIncarnationThatWakesAfterItsRestartIsRefusedAndStops() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()  // heartbeats every 200 ms, dead after 5 missed
            try cluster.startWorker("w1", capacity: 10, logName: "w1-old")
            let client = try await cluster.client()
            try await cluster.waitForWorkers(1, using: client)
            let requests = (0..<5).map { TaskRequest(taskID: "t\($0)", kind: "sleep", text: "300") }
            try await client.submit(requests)
            try await eventually("w1 runs all five") { try await client.status().tasksRunning == 5 }

            cluster.signal("w1-old", SIGSTOP)
            try await eventually("the frozen w1 is declared dead", within: .seconds(5)) { try await client.status().workers.isEmpty }
            try cluster.startWorker("w1", capacity: 10, logName: "w1-new")  // its restart: a newer incarnation
            for request in requests {
                let outcome = await client.outcome(of: request.taskID)
                #expect(outcome.outputText == "300" && outcome.attempt == 2, "\(outcome.taskID): \(outcome.result)")
            }

            cluster.signal("w1-old", SIGCONT)
            let status = try await cluster.waitForExit("w1-old", within: .seconds(10))
            #expect(status != nil && status != 0, "the superseded process stops with a failure status")
            #expect(cluster.log("w1-old").contains("SUPERSEDED"), "\(cluster.log("w1-old"))")
            #expect(cluster.log("coordinator").contains("refused an old incarnation of a worker"))
            let workers = try await client.status().workers
            #expect(workers.map(\.name) == ["w1"])  // the restart keeps working
            #expect(await client.resultsReceived == 5)
            await client.close()
        }
    }
}
